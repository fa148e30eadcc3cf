//! The webhook paths and what answers them: each path hands the API server's
//! `AdmissionReview` to a [`Review`] and returns its decision, bounded in time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::future::BoxFuture;
use kube::core::admission::{
    AdmissionRequest, AdmissionResponse, AdmissionReview, META_API_VERSION_V1, META_KIND, Operation,
};
use kube::core::response::StatusSummary;
use kube::core::{DynamicObject, TypeMeta};
use serde_json::error::Category;

use crate::metrics;

/// Decides one admission request: build the answer with `AdmissionResponse::from(&request)`
/// and `.deny(reason)`. The uid is set from the request whatever the answer says, and a
/// denial without an HTTP code becomes `403 Forbidden`.
pub type Review = Arc<
    dyn Fn(AdmissionRequest<DynamicObject>) -> BoxFuture<'static, AdmissionResponse> + Send + Sync,
>;

/// How long a [`Review`] may take by default. Below the webhooks' `timeoutSeconds` (5), so
/// that the API server hears our denial rather than its own timeout.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(3);

/// The denial when a review takes longer than its deadline.
pub const TOO_SLOW: &str = "the operator could not decide in time";

/// The denial when a review fails (panics) before deciding.
pub const REVIEW_FAILED: &str = "the operator could not decide: the review failed";

/// Bodies above this are refused: an AdmissionReview carries at most the object and its old
/// version, each bounded by the API server's request size (3 MiB).
const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// The webhook paths and their reviews.
#[derive(Clone)]
pub struct Webhooks {
    routes: BTreeMap<String, Review>,
    deadline: Duration,
}

impl Default for Webhooks {
    fn default() -> Self {
        Self::new()
    }
}

impl Webhooks {
    /// No paths yet; reviews get [`DEFAULT_DEADLINE`].
    pub fn new() -> Self {
        Webhooks {
            routes: BTreeMap::new(),
            deadline: DEFAULT_DEADLINE,
        }
    }

    /// Answers POSTs to `path` (e.g. `/validate/roleassignments`) with `review`. Panics when
    /// `path` does not start with `/` or is taken already: both are programming errors.
    pub fn route(mut self, path: &str, review: Review) -> Self {
        assert!(
            path.starts_with('/'),
            "webhook path {path:?} must start with /"
        );
        let taken = self.routes.insert(path.to_string(), review).is_some();
        assert!(!taken, "webhook path {path} is routed twice");
        self
    }

    /// Changes how long each review may take before it is answered with [`TOO_SLOW`].
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The routed paths, in order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.routes.keys().map(String::as_str)
    }

    /// Every path as an axum route.
    pub fn into_router(self) -> Router {
        let mut router = Router::new();
        for (path, review) in self.routes {
            let hook = Arc::new(Hook {
                path: path.clone(),
                review,
                deadline: self.deadline,
            });
            router = router.route(&path, post(admit).with_state(hook));
        }
        router.layer(DefaultBodyLimit::max(BODY_LIMIT))
    }
}

/// One path and its review.
struct Hook {
    path: String,
    review: Review,
    deadline: Duration,
}

async fn admit(State(hook): State<Arc<Hook>>, body: Bytes) -> Response {
    let request = match parse(&body) {
        Ok(request) => request,
        Err(reason) => return (StatusCode::BAD_REQUEST, format!("{reason}\n")).into_response(),
    };
    let response = hook.decide(request).await;
    axum::Json(response.into_review()).into_response()
}

/// The request in an `admission.k8s.io/v1` AdmissionReview. The reason is a fixed phrase:
/// serde's messages can quote the body, and bodies may hold secrets.
fn parse(body: &[u8]) -> Result<AdmissionRequest<DynamicObject>, &'static str> {
    let review: AdmissionReview<DynamicObject> =
        serde_json::from_slice(body).map_err(|e| match e.classify() {
            Category::Data => "the body is not an AdmissionReview",
            Category::Io | Category::Syntax | Category::Eof => "the body is not JSON",
        })?;
    if review.types.kind != META_KIND || review.types.api_version != META_API_VERSION_V1 {
        return Err("only admission.k8s.io/v1 AdmissionReviews are served");
    }
    review
        .try_into()
        .map_err(|_| "the AdmissionReview has no request")
}

impl Hook {
    /// Runs the review on a task of its own, so that a panic or a hang becomes a denial
    /// instead of a dropped connection or an API server timeout.
    async fn decide(&self, request: AdmissionRequest<DynamicObject>) -> AdmissionResponse {
        let facts = Facts::of(&request);
        let fallback = AdmissionResponse::from(&request);
        let mut task = tokio::spawn((self.review)(request));
        let mut response = match tokio::time::timeout(self.deadline, &mut task).await {
            Ok(Ok(response)) => response,
            Ok(Err(_)) => fallback.deny(REVIEW_FAILED),
            Err(_) => {
                task.abort();
                fallback.deny(TOO_SLOW)
            }
        };
        response.uid = facts.uid.clone();
        response.types = TypeMeta {
            api_version: META_API_VERSION_V1.into(),
            kind: META_KIND.into(),
        };
        if !response.allowed && response.result.code == 0 {
            // The API server would call a denial without a code a bad request (400); it is a
            // refusal of who asks for what.
            response.result.code = 403;
            response.result.reason = "Forbidden".into();
            response.result.status = Some(StatusSummary::Failure);
        }
        facts.log(&self.path, &response);
        metrics::admission_decision(&self.path, response.allowed);
        response
    }
}

/// What the log says about a request: who asked to do what to which object, never its body.
struct Facts {
    uid: String,
    kind: String,
    namespace: String,
    name: String,
    operation: &'static str,
    user: String,
}

impl Facts {
    fn of(request: &AdmissionRequest<DynamicObject>) -> Self {
        let operation = match request.operation {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        };
        Facts {
            uid: request.uid.clone(),
            kind: request.kind.kind.clone(),
            namespace: request.namespace.clone().unwrap_or_default(),
            name: request.name.clone(),
            operation,
            user: request.user_info.username.clone().unwrap_or_default(),
        }
    }

    fn log(&self, path: &str, response: &AdmissionResponse) {
        tracing::info!(
            path,
            kind = %self.kind,
            namespace = %self.namespace,
            name = %self.name,
            operation = self.operation,
            user = %self.user,
            allowed = response.allowed,
            reason = %response.result.message,
            "admission decision"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use serde_json::{Value, json};

    /// An AdmissionReview v1 for a ConfigMap, as the API server sends it.
    fn review_body(uid: &str, labels: Value) -> Value {
        json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": uid,
                "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
                "resource": {"group": "", "version": "v1", "resource": "configmaps"},
                "name": "settings",
                "namespace": "people",
                "operation": "CREATE",
                "userInfo": {"username": "hr-partner", "groups": ["m365:hr-partners"]},
                "object": {
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "settings", "namespace": "people", "labels": labels},
                    "data": {"password": "hunter2"}
                },
                "oldObject": null,
                "dryRun": false
            }
        })
    }

    /// Denies objects labelled `deny-me`, allows the rest.
    fn label_review() -> Review {
        Arc::new(|request: AdmissionRequest<DynamicObject>| {
            async move {
                let labelled = request
                    .object
                    .as_ref()
                    .and_then(|o| o.metadata.labels.as_ref())
                    .is_some_and(|l| l.contains_key("deny-me"));
                let response = AdmissionResponse::from(&request);
                if labelled {
                    response.deny("labelled deny-me")
                } else {
                    response
                }
            }
            .boxed()
        })
    }

    fn slow_review() -> Review {
        Arc::new(|request: AdmissionRequest<DynamicObject>| {
            async move {
                tokio::time::sleep(Duration::from_secs(60)).await;
                AdmissionResponse::from(&request)
            }
            .boxed()
        })
    }

    fn panicking_review() -> Review {
        Arc::new(|_request: AdmissionRequest<DynamicObject>| {
            async move { panic!("a reviewer bug") }.boxed()
        })
    }

    /// Serves `webhooks` over plain HTTP on loopback (TLS is tested in the integration
    /// tests); returns the base URL.
    async fn start(webhooks: Webhooks) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, webhooks.into_router()).await });
        format!("http://{address}")
    }

    async fn post(url: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
        let response = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn decision(url: &str, body: &Value) -> Value {
        let (status, text) = post(url, body.to_string()).await;
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    #[tokio::test]
    async fn a_review_round_trips_with_its_uid_and_the_reviewers_answer() {
        let base = start(Webhooks::new().route("/validate/configmaps", label_review())).await;
        let url = format!("{base}/validate/configmaps");
        let allowed = decision(&url, &review_body("uid-1", json!({}))).await;
        assert_eq!(allowed["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(allowed["kind"], "AdmissionReview");
        assert_eq!(allowed["response"]["uid"], "uid-1");
        assert_eq!(allowed["response"]["allowed"], true);

        let denied = decision(&url, &review_body("uid-2", json!({"deny-me": "yes"}))).await;
        assert_eq!(denied["response"]["uid"], "uid-2");
        assert_eq!(denied["response"]["allowed"], false);
        assert_eq!(denied["response"]["status"]["message"], "labelled deny-me");
        assert_eq!(denied["response"]["status"]["code"], 403);
        assert_eq!(denied["response"]["status"]["reason"], "Forbidden");
    }

    #[tokio::test]
    async fn the_uid_is_the_requests_even_when_the_reviewer_forgets_it() {
        let careless: Review = Arc::new(|_request: AdmissionRequest<DynamicObject>| {
            async { AdmissionResponse::invalid("no") }.boxed()
        });
        let base = start(Webhooks::new().route("/careless", careless)).await;
        let answer = decision(
            &format!("{base}/careless"),
            &review_body("uid-3", json!({})),
        )
        .await;
        assert_eq!(answer["response"]["uid"], "uid-3");
        assert_eq!(answer["response"]["allowed"], false);
    }

    #[tokio::test]
    async fn a_body_that_is_not_an_admission_review_is_a_bad_request() {
        let base = start(Webhooks::new().route("/validate/configmaps", label_review())).await;
        let url = format!("{base}/validate/configmaps");
        let cases = [
            ("{not json".to_string(), "the body is not JSON\n"),
            (
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "request": {"uid": "secret-value-1"}})
                .to_string(),
                "the body is not an AdmissionReview\n",
            ),
            (
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).to_string(),
                "the AdmissionReview has no request\n",
            ),
        ];
        for (body, reason) in cases {
            assert_eq!(post(&url, body).await, (400, reason.to_string()));
        }
        let mut old = review_body("uid-4", json!({}));
        old["apiVersion"] = json!("admission.k8s.io/v1beta1");
        assert_eq!(
            post(&url, old.to_string()).await,
            (
                400,
                "only admission.k8s.io/v1 AdmissionReviews are served\n".into()
            )
        );
    }

    #[tokio::test]
    async fn a_slow_review_is_denied_at_the_deadline() {
        let webhooks = Webhooks::new()
            .route("/slow", slow_review())
            .with_deadline(Duration::from_millis(200));
        let base = start(webhooks).await;
        let started = std::time::Instant::now();
        let answer = decision(&format!("{base}/slow"), &review_body("uid-5", json!({}))).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(answer["response"]["uid"], "uid-5");
        assert_eq!(answer["response"]["allowed"], false);
        assert_eq!(answer["response"]["status"]["message"], TOO_SLOW);
    }

    #[tokio::test]
    async fn a_panicking_review_is_denied_and_the_server_keeps_answering() {
        let webhooks = Webhooks::new()
            .route("/panics", panicking_review())
            .route("/validate/configmaps", label_review());
        let base = start(webhooks).await;
        let answer = decision(&format!("{base}/panics"), &review_body("uid-6", json!({}))).await;
        assert_eq!(answer["response"]["allowed"], false);
        assert_eq!(answer["response"]["status"]["message"], REVIEW_FAILED);
        let after = decision(
            &format!("{base}/validate/configmaps"),
            &review_body("uid-7", json!({})),
        )
        .await;
        assert_eq!(after["response"]["allowed"], true);
    }

    #[tokio::test]
    async fn decisions_are_counted_by_path_and_outcome() {
        let path = "/validate/counted";
        let base = start(Webhooks::new().route(path, label_review())).await;
        let url = format!("{base}{path}");
        decision(&url, &review_body("a", json!({"deny-me": "1"}))).await;
        decision(&url, &review_body("b", json!({}))).await;
        decision(&url, &review_body("c", json!({}))).await;
        let text = metrics::render();
        let series = |allowed| {
            format!(r#"m365_admission_decisions_total{{path="{path}",allowed="{allowed}"}} "#)
        };
        assert!(text.contains(&format!("{}1", series("false"))), "{text}");
        assert!(text.contains(&format!("{}2", series("true"))), "{text}");
    }

    #[test]
    #[should_panic(expected = "routed twice")]
    fn a_path_cannot_be_routed_twice() {
        let _ = Webhooks::new()
            .route("/validate/x", label_review())
            .route("/validate/x", label_review());
    }

    #[test]
    fn paths_are_listed_in_order() {
        let webhooks = Webhooks::new()
            .route("/validate/users", label_review())
            .route("/validate/roleassignments", label_review());
        assert_eq!(
            webhooks.paths().collect::<Vec<_>>(),
            ["/validate/roleassignments", "/validate/users"]
        );
    }
}
