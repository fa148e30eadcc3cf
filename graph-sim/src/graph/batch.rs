//! `POST /$batch`: up to 20 requests in one, each run through the same Graph routes (token,
//! faults, throttling, permissions) and answered on its own; `dependsOn` orders them and
//! turns the dependents of a failure into `424`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::{Extension, Json, Router};
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::clock;
use crate::faults::InBatch;
use crate::http::body::JsonBody;
use crate::http::context::{BaseUrl, RequestContext, finish, log_entry};
use crate::http::error::GraphError;
use crate::sim::Sim;

/// The most requests one batch may carry.
const MAX_REQUESTS: usize = 20;
/// Inner response bodies larger than this are cut off; Graph pages keep them far smaller.
const MAX_BODY: usize = 16 * 1024 * 1024;
const METHODS: &[&str] = &["GET", "POST", "PATCH", "PUT", "DELETE"];

/// The Graph routes a batch dispatches its requests to (without `$batch` itself: batches do
/// not nest).
#[derive(Clone)]
pub struct Target(pub Router);

/// One request of a batch.
#[derive(Clone, Debug)]
struct Inner {
    id: String,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
    depends_on: Vec<String>,
}

/// `POST /$batch` → `200` with `{"responses": [...]}` in completion order.
pub async fn run(
    State(sim): State<Arc<Sim>>,
    Extension(Target(router)): Extension<Target>,
    BaseUrl(base_url): BaseUrl,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, GraphError> {
    let requests = parse(&body)?;
    check_dependencies(&requests)?;
    let authorization = headers.get(header::AUTHORIZATION).cloned();
    let mut statuses: HashMap<String, u16> = HashMap::new();
    let mut responses: Vec<Value> = Vec::new();
    let mut pending = requests;
    while !pending.is_empty() {
        let (ready, waiting): (Vec<Inner>, Vec<Inner>) = pending
            .into_iter()
            .partition(|r| r.depends_on.iter().all(|d| statuses.contains_key(d)));
        let mut running = JoinSet::new();
        for request in ready {
            if request.depends_on.iter().any(|d| statuses[d] >= 400) {
                statuses.insert(key(&request.id), StatusCode::FAILED_DEPENDENCY.as_u16());
                responses.push(failed_dependency(&request.id));
                continue;
            }
            let call = Call {
                router: router.clone(),
                sim: sim.clone(),
                authorization: authorization.clone(),
                base_url: base_url.clone(),
            };
            running.spawn(call.dispatch(request));
        }
        while let Some(done) = running.join_next().await {
            let (id, status, response) = done.map_err(|_| internal_error())?;
            statuses.insert(key(&id), status);
            responses.push(response);
        }
        pending = waiting;
    }
    Ok(Json(json!({"responses": responses})))
}

/// What a dispatched request needs besides itself.
struct Call {
    router: Router,
    sim: Arc<Sim>,
    authorization: Option<HeaderValue>,
    base_url: String,
}

impl Call {
    /// Runs one request and returns its id, status and batch response entry.
    async fn dispatch(self, inner: Inner) -> (String, u16, Value) {
        let request = match self.build(&inner) {
            Ok(request) => request,
            Err(error) => {
                let context = RequestContext::new(&HeaderMap::new(), self.base_url.clone());
                let response = finish(axum::response::IntoResponse::into_response(error), &context);
                return entry(&inner.id, response).await;
            }
        };
        let context = request
            .extensions()
            .get::<RequestContext>()
            .cloned()
            .unwrap_or_else(|| RequestContext::new(&HeaderMap::new(), self.base_url.clone()));
        let (method, path) = (
            request.method().to_string(),
            request.uri().path().to_string(),
        );
        let at = clock::rfc3339_now();
        let response = match self.router.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let response = finish(response, &context);
        self.sim
            .log_request(log_entry(&method, &path, &response, &at, true));
        entry(&inner.id, response).await
    }

    fn build(&self, inner: &Inner) -> Result<Request, GraphError> {
        let relative = if inner.url.starts_with('/') {
            inner.url.clone()
        } else {
            format!("/{}", inner.url)
        };
        let mut builder = Request::builder()
            .method(inner.method.clone())
            .uri(format!("/v1.0{relative}"));
        let mut headers = HeaderMap::new();
        for (name, value) in &inner.headers {
            let name = HeaderName::try_from(name.as_str()).map_err(|_| bad_header(name))?;
            let value =
                HeaderValue::try_from(value.as_str()).map_err(|_| bad_header(name.as_str()))?;
            headers.insert(name, value);
        }
        if let Some(authorization) = &self.authorization {
            headers.insert(header::AUTHORIZATION, authorization.clone());
        }
        let context = RequestContext::new(&headers, self.base_url.clone());
        if let Some(all) = builder.headers_mut() {
            all.extend(headers);
        }
        let body = match &inner.body {
            None => Body::empty(),
            Some(Value::String(text)) if !is_json(&inner.headers) => Body::from(text.clone()),
            Some(value) => Body::from(value.to_string()),
        };
        let mut request = builder.body(body).map_err(|_| {
            GraphError::bad_request(
                "BadRequest",
                format!("Invalid request URL '{}'.", inner.url),
            )
        })?;
        request.extensions_mut().insert(context);
        request.extensions_mut().insert(InBatch);
        Ok(request)
    }
}

/// The batch entry for a finished response: status, the headers clients act on, and the
/// body as JSON when it is JSON.
async fn entry(id: &str, response: Response) -> (String, u16, Value) {
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        let name = name.as_str();
        let kept = name == "content-type"
            || name == "retry-after"
            || name == "location"
            || name.starts_with("x-ms-");
        if let (true, Ok(value)) = (kept, value.to_str()) {
            headers.insert(name.to_string(), value.into());
        }
    }
    let bytes = to_bytes(body, MAX_BODY).await.unwrap_or_default();
    let mut item = json!({"id": id, "status": status, "headers": headers});
    if !bytes.is_empty() {
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        item["body"] = body;
    }
    (id.to_string(), status, item)
}

fn failed_dependency(id: &str) -> Value {
    json!({
        "id": id,
        "status": 424,
        "headers": {"content-type": "application/json"},
        "body": {"error": {
            "code": "FailedDependency",
            "message": "A request this one depends on failed, so it was not run.",
        }},
    })
}

/// Reads and checks the batch as a whole; any fault here refuses the whole batch.
fn parse(body: &Value) -> Result<Vec<Inner>, GraphError> {
    let list = body
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("The body must be {\"requests\": [...]}."))?;
    if list.is_empty() {
        return Err(invalid("A batch must carry at least one request."));
    }
    if list.len() > MAX_REQUESTS {
        return Err(invalid(&format!(
            "A batch may carry at most {MAX_REQUESTS} requests; this one carries {}.",
            list.len()
        )));
    }
    let requests = list.iter().map(inner).collect::<Result<Vec<_>, _>>()?;
    let mut seen = HashSet::new();
    if let Some(duplicate) = requests.iter().find(|r| !seen.insert(key(&r.id))) {
        return Err(invalid(&format!(
            "Request ids must be unique; '{}' is used twice.",
            duplicate.id
        )));
    }
    Ok(requests)
}

fn inner(entry: &Value) -> Result<Inner, GraphError> {
    let text = |name: &str| {
        entry
            .get(name)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| invalid(&format!("Every request needs '{name}'.")))
    };
    let id = text("id")?.to_string();
    let method = text("method")?.to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(invalid(&format!(
            "Request '{id}': method '{method}' is not supported."
        )));
    }
    let url = relative_url(text("url")?)
        .ok_or_else(|| invalid(&format!("Request '{id}': the url is not a v1.0 resource.")))?;
    let headers = inner_headers(entry, &id)?;
    let body = entry.get("body").filter(|b| !b.is_null()).cloned();
    let has_content_type = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    if body.is_some() && !has_content_type {
        return Err(invalid(&format!(
            "Request '{id}' has a body but no Content-Type header."
        )));
    }
    let depends_on = dependencies(entry, &id)?;
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| invalid("Bad method."))?;
    Ok(Inner {
        id,
        method,
        url,
        headers,
        body,
        depends_on,
    })
}

/// The request's headers as name/value pairs.
fn inner_headers(entry: &Value, id: &str) -> Result<Vec<(String, String)>, GraphError> {
    match entry.get("headers") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => Ok(map
            .iter()
            .map(|(k, v)| {
                let value = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                (k.clone(), value)
            })
            .collect()),
        Some(_) => Err(invalid(&format!(
            "Request '{id}': 'headers' must be an object."
        ))),
    }
}

/// The ids named by `dependsOn`, compared without case.
fn dependencies(entry: &Value, id: &str) -> Result<Vec<String>, GraphError> {
    let refused = || {
        invalid(&format!(
            "Request '{id}': 'dependsOn' must list request ids."
        ))
    };
    match entry.get("dependsOn") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(ids)) => ids
            .iter()
            .map(|d| d.as_str().map(key))
            .collect::<Option<_>>()
            .ok_or_else(refused),
        Some(_) => Err(refused()),
    }
}

/// The url below the version: relative ones as given, absolute ones (as the SDKs send them)
/// without scheme, host and `/v1.0`.
fn relative_url(url: &str) -> Option<String> {
    let Some((_, rest)) = url.split_once("://") else {
        return Some(url.to_string());
    };
    let path = &rest[rest.find('/')?..];
    let below = path.strip_prefix("/v1.0")?;
    below.starts_with('/').then(|| below.to_string())
}

/// Every `dependsOn` names a request of the batch, and no chain loops.
fn check_dependencies(requests: &[Inner]) -> Result<(), GraphError> {
    let ids: HashSet<String> = requests.iter().map(|r| key(&r.id)).collect();
    for request in requests {
        if let Some(unknown) = request.depends_on.iter().find(|d| !ids.contains(*d)) {
            return Err(invalid(&format!(
                "Request '{}' depends on '{unknown}', which is not in the batch.",
                request.id
            )));
        }
    }
    let mut done: HashSet<String> = HashSet::new();
    let mut left: Vec<&Inner> = requests.iter().collect();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|r| {
            let ready = r.depends_on.iter().all(|d| done.contains(d));
            if ready {
                done.insert(key(&r.id));
            }
            !ready
        });
        if left.len() == before {
            return Err(invalid("The dependsOn chains of the batch form a loop."));
        }
    }
    Ok(())
}

/// Request ids compare without case.
fn key(id: &str) -> String {
    id.to_lowercase()
}

fn is_json(headers: &[(String, String)]) -> bool {
    headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("content-type") && v.to_ascii_lowercase().contains("json")
    })
}

fn invalid(message: &str) -> GraphError {
    GraphError::bad_request("BadRequest", message)
}

fn bad_header(name: &str) -> GraphError {
    GraphError::bad_request("BadRequest", format!("The header '{name}' is not valid."))
}

fn internal_error() -> GraphError {
    GraphError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "generalException",
        "A request of the batch failed unexpectedly.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(requests: Value) -> Value {
        json!({"requests": requests})
    }

    #[test]
    fn ids_must_be_unique_without_regard_to_case() {
        let body = batch(json!([
            {"id": "a", "method": "GET", "url": "/users"},
            {"id": "A", "method": "GET", "url": "/users"},
        ]));
        assert_eq!(parse(&body).unwrap_err().code(), "BadRequest");
    }

    #[test]
    fn more_than_twenty_requests_or_a_body_without_content_type_are_refused() {
        let many: Vec<Value> = (0..21)
            .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users"}))
            .collect();
        assert!(parse(&batch(Value::Array(many))).is_err());
        let untyped = batch(json!([{"id": "1", "method": "POST", "url": "/users", "body": {}}]));
        assert!(parse(&untyped).is_err());
    }

    #[test]
    fn absolute_urls_are_taken_below_the_version() {
        assert_eq!(relative_url("users?$top=1").unwrap(), "users?$top=1");
        assert_eq!(
            relative_url("https://127.0.0.1:1/v1.0/users/a?$select=id").unwrap(),
            "/users/a?$select=id"
        );
        assert_eq!(relative_url("https://graph.microsoft.com/beta/users"), None);
        assert_eq!(relative_url("https://graph.microsoft.com/v1.0"), None);
    }

    #[test]
    fn dependencies_must_exist_and_not_loop() {
        let requests = |deps: Value| {
            parse(&batch(json!([
                {"id": "1", "method": "GET", "url": "/users", "dependsOn": deps},
                {"id": "2", "method": "GET", "url": "/users", "dependsOn": ["1"]},
            ])))
            .unwrap()
        };
        assert!(check_dependencies(&requests(json!([]))).is_ok());
        assert!(check_dependencies(&requests(json!(["3"]))).is_err());
        assert!(check_dependencies(&requests(json!(["2"]))).is_err());
    }
}
