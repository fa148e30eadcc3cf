//! Which of the operator's tokens are revoked, and token introspection (RFC 7662) that
//! answers from it.
//!
//! The revocation state lives in the cluster, in each Deactivation's status: the moment the
//! account counts as deactivated (`inactiveSince`), a "tokens valid after" second, and a short
//! denylist of token ids; and in the status of each RoleAssignment that lowered a role: a
//! "tokens valid after" second. Every replica watches both kinds and keeps an index by account
//! (the `sub` of the tokens), so a request costs a map lookup and a signature check, never an
//! API call, and a revocation written by the leader shows on every replica within the
//! watch's latency, well under a second.
//!
//! Callers authenticate with a shared secret: each entry of the Secret
//! [`CALLERS_SECRET`] in the operator's namespace is one caller (key) and its secret (value),
//! sent as `Authorization: Bearer <secret>` or as HTTP Basic `<key>:<secret>`. The Secret is
//! watched too, so adding or rotating a caller needs no restart.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::api::deactivation::{Deactivation, DeactivationStatus};
use crate::api::role::RoleAssignment;
use crate::tokens::jwks::INTROSPECTION_PATH;
use crate::tokens::store::{DEFAULT_SECRET_NAME, load_or_create};
use crate::tokens::{Claims, KeyRing, Sensitive, verify};

/// The Secret whose entries are the callers allowed to introspect, in the operator's namespace.
pub const CALLERS_SECRET: &str = "m365-operator-introspection";

/// What the cluster says about the tokens of one account, merged over its Deactivations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccountRevocation {
    /// A deactivation is in effect: every token of the account is refused.
    pub deactivated: bool,
    /// Tokens issued at or before this second (Unix time) are refused.
    pub tokens_valid_after: Option<i64>,
    /// Token ids refused whatever their age.
    pub denied: BTreeSet<String>,
}

/// Why introspection calls a well-signed, unexpired token inactive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Deactivated,
    IssuedBeforeRevocation,
    Denied,
}

impl AccountRevocation {
    /// The revocation one Deactivation's status records.
    pub fn from_status(status: &DeactivationStatus) -> Self {
        let revocation = status.revocation.as_ref();
        AccountRevocation {
            deactivated: status.in_effect(),
            tokens_valid_after: revocation.map(|r| r.tokens_valid_after.0.as_second()),
            denied: revocation
                .map(|r| r.denied_token_ids.iter().cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// Both revocations at once: the stricter of each part.
    pub fn merge(&mut self, other: &AccountRevocation) {
        self.deactivated |= other.deactivated;
        self.tokens_valid_after = self.tokens_valid_after.max(other.tokens_valid_after);
        self.denied.extend(other.denied.iter().cloned());
    }

    /// Why the token is refused, if it is. `iat` counts whole seconds, so a token issued in
    /// the same second as the revocation is refused: it may have been issued before it.
    pub fn refusal(&self, claims: &Claims) -> Option<Refusal> {
        if self.deactivated {
            return Some(Refusal::Deactivated);
        }
        if self
            .tokens_valid_after
            .is_some_and(|after| claims.iat <= after)
        {
            return Some(Refusal::IssuedBeforeRevocation);
        }
        self.denied.contains(&claims.jti).then_some(Refusal::Denied)
    }
}

/// Deactivations by account, kept current from a watch.
#[derive(Debug, Default)]
pub struct RevocationIndex {
    live: RwLock<Index>,
    /// Filled during a (re)list, then swapped in whole.
    relisting: RwLock<Option<Index>>,
}

#[derive(Debug, Default)]
struct Index {
    /// Account (`sub`) of each Deactivation, by `namespace/name`.
    subject_of: HashMap<String, String>,
    by_subject: HashMap<String, BTreeMap<String, AccountRevocation>>,
    ready: bool,
}

/// An object whose status can revoke an account's tokens.
pub trait Revokes: kube::Resource {
    /// The account (`sub`) and what is revoked for it, once status names the account.
    fn revocation(&self) -> Option<(String, AccountRevocation)>;
}

impl Revokes for Deactivation {
    fn revocation(&self) -> Option<(String, AccountRevocation)> {
        let status = self.status.as_ref()?;
        let subject = status.object_id.clone()?;
        Some((subject, AccountRevocation::from_status(status)))
    }
}

/// A downgrade refuses the tokens issued before it, under the higher role.
impl Revokes for RoleAssignment {
    fn revocation(&self) -> Option<(String, AccountRevocation)> {
        let status = self.status.as_ref()?;
        let after = status.tokens_valid_after.as_ref()?;
        let revocation = AccountRevocation {
            tokens_valid_after: Some(after.0.as_second()),
            ..Default::default()
        };
        Some((status.object_id.clone()?, revocation))
    }
}

impl Index {
    fn upsert<K: Revokes>(&mut self, object: &K) {
        let key = key_of(object);
        self.remove(&key);
        let Some((subject, revocation)) = object.revocation() else {
            return;
        };
        self.by_subject
            .entry(subject.clone())
            .or_default()
            .insert(key.clone(), revocation);
        self.subject_of.insert(key, subject);
    }

    fn remove(&mut self, key: &str) {
        let Some(subject) = self.subject_of.remove(key) else {
            return;
        };
        if let Some(entries) = self.by_subject.get_mut(&subject) {
            entries.remove(key);
            if entries.is_empty() {
                self.by_subject.remove(&subject);
            }
        }
    }

    fn lookup(&self, subject: &str) -> AccountRevocation {
        let mut merged = AccountRevocation::default();
        for revocation in self
            .by_subject
            .get(subject)
            .into_iter()
            .flat_map(|m| m.values())
        {
            merged.merge(revocation);
        }
        merged
    }
}

fn key_of<K: kube::Resource>(object: &K) -> String {
    format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

impl RevocationIndex {
    /// Takes one watch event into the index. One index follows one kind: a relist replaces
    /// all it holds.
    pub fn apply<K: Revokes>(&self, event: Event<K>) {
        match event {
            Event::Apply(d) => write(&self.live).upsert(&d),
            Event::Delete(d) => write(&self.live).remove(&key_of(&d)),
            Event::Init => *write(&self.relisting) = Some(Index::default()),
            Event::InitApply(d) => {
                if let Some(index) = write(&self.relisting).as_mut() {
                    index.upsert(&d);
                }
            }
            Event::InitDone => {
                if let Some(mut fresh) = write(&self.relisting).take() {
                    fresh.ready = true;
                    *write(&self.live) = fresh;
                }
            }
        }
    }

    /// Whether a complete list has been seen; until then no answer can be trusted.
    pub fn is_ready(&self) -> bool {
        read(&self.live).ready
    }

    /// The merged revocation of one account.
    pub fn lookup(&self, subject: &str) -> AccountRevocation {
        read(&self.live).lookup(subject)
    }
}

/// A poisoned lock only means a panic elsewhere while holding it; the data is still whole.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

/// The introspection endpoint's state: the revocation indexes, the signing keys and the
/// callers.
#[derive(Clone, Debug, Default)]
pub struct Introspection {
    index: Arc<RevocationIndex>,
    downgrades: Arc<RevocationIndex>,
    keys: Arc<RwLock<Option<Arc<KeyRing>>>>,
    callers: Arc<RwLock<Vec<Caller>>>,
}

/// One caller allowed to introspect.
#[derive(Clone, Debug)]
struct Caller {
    name: String,
    secret: Sensitive,
}

impl Introspection {
    /// Starts watching Deactivations and RoleAssignments (in `namespace`, or everywhere) and
    /// the signing keys and callers Secrets in `operator_namespace`, for as long as the
    /// process runs.
    pub fn start(client: Client, namespace: Option<&str>, operator_namespace: &str) -> Self {
        let introspection = Introspection::default();
        let deactivations: Api<Deactivation> = match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let index = introspection.index.clone();
        tokio::spawn(follow(
            deactivations,
            watcher::Config::default(),
            move |e| {
                index.apply(e);
                async {}
            },
        ));
        let role_changes: Api<RoleAssignment> = match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let downgrades = introspection.downgrades.clone();
        tokio::spawn(follow(role_changes, watcher::Config::default(), move |e| {
            downgrades.apply(e);
            async {}
        }));
        let secrets: Api<Secret> = Api::namespaced(client.clone(), operator_namespace);
        let keys = introspection.keys.clone();
        let keys_namespace = operator_namespace.to_string();
        tokio::spawn(follow(
            secrets.clone(),
            named(DEFAULT_SECRET_NAME),
            move |e| update_keys(client.clone(), keys_namespace.clone(), keys.clone(), e),
        ));
        let callers = introspection.callers.clone();
        tokio::spawn(follow(secrets, named(CALLERS_SECRET), move |e| {
            update_callers(&callers, e);
            async {}
        }));
        introspection
    }

    /// The `POST /introspect` route, for [`crate::http::Server::merge`].
    pub fn routes(&self) -> Router {
        Router::new()
            .route(INTROSPECTION_PATH, post(introspect))
            .with_state(self.clone())
    }
}

fn named(name: &str) -> watcher::Config {
    watcher::Config::default().fields(&format!("metadata.name={name}"))
}

/// Runs a watch for good, handing every event to `handle`; errors are retried with backoff.
async fn follow<K, F, Fut>(api: Api<K>, config: watcher::Config, mut handle: F)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    F: FnMut(Event<K>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut events = std::pin::pin!(watcher(api, config).default_backoff());
    while let Some(event) = events.next().await {
        match event {
            Ok(event) => handle(event).await,
            Err(error) => tracing::warn!(%error, "introspection watch failed; retrying"),
        }
    }
}

/// Reloads the key ring when its Secret changes. The Secret is only read here, never created
/// or written: keys are made by whoever signs.
async fn update_keys(
    client: Client,
    namespace: String,
    keys: Arc<RwLock<Option<Arc<KeyRing>>>>,
    event: Event<Secret>,
) {
    match event {
        Event::Apply(_) | Event::InitApply(_) => {
            match load_or_create(&client, &namespace, DEFAULT_SECRET_NAME).await {
                Ok(ring) => *write(&keys) = Some(Arc::new(ring)),
                Err(error) => {
                    tracing::warn!(category = error.category(), %error, "signing keys unreadable")
                }
            }
        }
        Event::Delete(_) => *write(&keys) = None,
        Event::Init | Event::InitDone => {}
    }
}

fn update_callers(callers: &RwLock<Vec<Caller>>, event: Event<Secret>) {
    match event {
        Event::Apply(secret) | Event::InitApply(secret) => {
            let data = secret.data.unwrap_or_default();
            *write(callers) = data
                .into_iter()
                .filter_map(|(name, value)| {
                    let secret = String::from_utf8(value.0).ok()?;
                    Some(Caller {
                        name,
                        secret: Sensitive::new(secret.trim().to_string()),
                    })
                })
                .filter(|c| !c.secret.expose().is_empty())
                .collect();
        }
        Event::Delete(_) => write(callers).clear(),
        Event::Init | Event::InitDone => {}
    }
}

/// `POST /introspect` with a form body `token=...` (RFC 7662 section 2).
async fn introspect(
    State(state): State<Introspection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(caller) = state.authenticate(&headers) else {
        return unauthorized();
    };
    let Some(token) = form_value(&body, "token") else {
        return answer(StatusCode::BAD_REQUEST, json!({"error": "invalid_request"}));
    };
    if !(state.index.is_ready() && state.downgrades.is_ready()) {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "temporarily_unavailable"}),
        );
    }
    let verdict = state.judge(&token);
    tracing::debug!(%caller, active = verdict.is_ok(), reason = verdict.as_ref().err().copied().unwrap_or(""), "token introspected");
    match verdict {
        Ok(claims) => answer(StatusCode::OK, active(&claims)),
        Err(_) => answer(StatusCode::OK, json!({"active": false})),
    }
}

impl Introspection {
    /// The caller's name, if it presented a known secret.
    fn authenticate(&self, headers: &HeaderMap) -> Option<String> {
        let presented = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let callers = read(&self.callers);
        if let Some(token) = presented.strip_prefix("Bearer ") {
            return callers
                .iter()
                .find(|c| same(c.secret.expose(), token.trim()))
                .map(|c| c.name.clone());
        }
        let basic = presented.strip_prefix("Basic ")?;
        let decoded =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, basic.trim())
                .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (name, secret) = decoded.split_once(':')?;
        callers
            .iter()
            .find(|c| c.name == name && same(c.secret.expose(), secret))
            .map(|c| c.name.clone())
    }

    /// The token's claims if it is active; otherwise a CamelCase reason, for the debug log only.
    fn judge(&self, token: &str) -> Result<Claims, &'static str> {
        let ring = read(&self.keys).clone().ok_or("SigningKeysMissing")?;
        let claims = verify(&ring, token).map_err(|e| e.category())?;
        let mut revocation = self.index.lookup(&claims.sub);
        revocation.merge(&self.downgrades.lookup(&claims.sub));
        match revocation.refusal(&claims) {
            None => Ok(claims),
            Some(Refusal::Deactivated) => Err("AccountDeactivated"),
            Some(Refusal::IssuedBeforeRevocation) => Err("TokenRevoked"),
            Some(Refusal::Denied) => Err("TokenDenied"),
        }
    }
}

/// Compares secrets in constant time, so response times say nothing about how much matched.
fn same(expected: &str, presented: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), presented.as_bytes())
        .is_ok()
}

fn form_value(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty())
}

/// The answer for an active token: RFC 7662's members plus the token's own claims.
fn active(claims: &Claims) -> Value {
    let mut body = serde_json::to_value(claims).expect("claims always serialise");
    body["active"] = json!(true);
    body["username"] = json!(claims.upn);
    body["token_type"] = json!("Bearer");
    body
}

fn answer(status: StatusCode, body: Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    // Answers about tokens must not be cached anywhere on the way (RFC 7662 section 4).
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn unauthorized() -> Response {
    let mut response = answer(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}));
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"m365-operator\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::deactivation::{
        DeactivationPhase, DeactivationReason, DeactivationSpec, Requester, Revocation,
    };
    use crate::tokens::{FirstSession, issue_first_session};
    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    const SUBJECT: &str = "7c1e0f6a-0000-0000-0000-00000000c0de";

    fn time(secs: i64) -> Time {
        Time(jiff::Timestamp::from_second(secs).unwrap())
    }

    fn deactivation(name: &str, status: Option<DeactivationStatus>) -> Deactivation {
        let mut d = Deactivation::new(
            name,
            DeactivationSpec {
                user: "zoe".into(),
                reason: DeactivationReason::ExtendedLeave,
                requester: Requester {
                    email: "hr@contoso.example".into(),
                    reference: "HR-1".into(),
                },
                effective_at: None,
                leave: None,
                note: None,
                reactivate: false,
                license_decision: None,
            },
        );
        d.metadata.namespace = Some("people".into());
        d.status = status;
        d
    }

    fn status(phase: DeactivationPhase, after: i64, denied: &[&str]) -> DeactivationStatus {
        DeactivationStatus {
            phase: Some(phase),
            object_id: Some(SUBJECT.into()),
            inactive_since: Some(time(after)),
            revocation: Some(Revocation {
                tokens_valid_after: time(after),
                denied_token_ids: denied.iter().map(|s| s.to_string()).collect(),
            }),
            ..Default::default()
        }
    }

    fn claims(iat: i64, jti: &str) -> Claims {
        Claims {
            iss: "https://op".into(),
            sub: SUBJECT.into(),
            upn: "zoe@contoso.example".into(),
            role: "employee".into(),
            aud: None,
            iat,
            exp: iat + 3600,
            jti: jti.into(),
            token_use: "first_session".into(),
        }
    }

    fn ready_index<K: Revokes>(objects: Vec<K>) -> RevocationIndex {
        let index = RevocationIndex::default();
        index.apply(Event::<K>::Init);
        for d in objects {
            index.apply(Event::InitApply(d));
        }
        index.apply(Event::<K>::InitDone);
        index
    }

    #[test]
    fn a_deactivation_in_effect_refuses_every_token() {
        let index = ready_index(vec![deactivation(
            "leave",
            Some(status(DeactivationPhase::Deactivated, 1000, &[])),
        )]);
        let revocation = index.lookup(SUBJECT);
        assert_eq!(
            revocation.refusal(&claims(5000, "a")),
            Some(Refusal::Deactivated)
        );
        assert_eq!(
            index.lookup("someone-else").refusal(&claims(5000, "a")),
            None
        );
    }

    #[test]
    fn after_reactivation_only_older_and_denied_tokens_are_refused() {
        let index = ready_index(vec![deactivation(
            "leave",
            Some(status(DeactivationPhase::Reactivated, 1000, &["leaked"])),
        )]);
        let revocation = index.lookup(SUBJECT);
        assert_eq!(
            revocation.refusal(&claims(999, "a")),
            Some(Refusal::IssuedBeforeRevocation)
        );
        assert_eq!(
            revocation.refusal(&claims(1000, "a")),
            Some(Refusal::IssuedBeforeRevocation),
            "the same second counts as before"
        );
        assert_eq!(revocation.refusal(&claims(1001, "a")), None);
        assert_eq!(
            revocation.refusal(&claims(2000, "leaked")),
            Some(Refusal::Denied)
        );
    }

    #[test]
    fn several_deactivations_of_one_account_merge_strictly() {
        let index = ready_index(vec![
            deactivation(
                "old",
                Some(status(DeactivationPhase::Reactivated, 1000, &["x"])),
            ),
            deactivation(
                "new",
                Some(status(DeactivationPhase::Reactivated, 3000, &["y"])),
            ),
        ]);
        let merged = index.lookup(SUBJECT);
        assert_eq!(merged.tokens_valid_after, Some(3000));
        assert_eq!(merged.denied.len(), 2);
        index.apply(Event::Delete(deactivation("new", None)));
        assert_eq!(index.lookup(SUBJECT).tokens_valid_after, Some(1000));
    }

    #[test]
    fn the_index_is_not_ready_before_a_full_list() {
        let index = RevocationIndex::default();
        assert!(!index.is_ready());
        index.apply(Event::<Deactivation>::Init);
        index.apply(Event::InitApply(deactivation(
            "leave",
            Some(status(DeactivationPhase::Deactivated, 1, &[])),
        )));
        assert!(!index.is_ready());
        index.apply(Event::<Deactivation>::InitDone);
        assert!(index.is_ready());
        assert!(index.lookup(SUBJECT).deactivated);
    }

    #[test]
    fn a_downgrade_refuses_the_tokens_issued_before_it_and_nothing_else() {
        let mut downgrade = RoleAssignment::new(
            "back-to-user",
            serde_json::from_value(serde_json::json!({
                "user": "ada", "role": "User", "requester": "it@contoso.example",
                "justification": "no longer runs the close",
            }))
            .unwrap(),
        );
        downgrade.metadata.namespace = Some("team".into());
        downgrade.status = Some(crate::api::role::RoleAssignmentStatus {
            object_id: Some(SUBJECT.into()),
            tokens_valid_after: Some(Time(jiff::Timestamp::from_second(2000).unwrap())),
            ..Default::default()
        });
        let index = ready_index(vec![downgrade]);
        let revocation = index.lookup(SUBJECT);
        assert!(!revocation.deactivated);
        assert_eq!(
            revocation.refusal(&claims(2000, "a")),
            Some(Refusal::IssuedBeforeRevocation)
        );
        assert_eq!(revocation.refusal(&claims(2001, "b")), None);
    }

    #[test]
    fn an_update_moves_the_entry() {
        let index = ready_index(Vec::<Deactivation>::new());
        index.apply(Event::Apply(deactivation(
            "leave",
            Some(status(DeactivationPhase::Deactivated, 1, &[])),
        )));
        assert!(index.lookup(SUBJECT).deactivated);
        index.apply(Event::Apply(deactivation(
            "leave",
            Some(status(DeactivationPhase::Reactivated, 1, &[])),
        )));
        assert!(!index.lookup(SUBJECT).deactivated);
    }

    fn introspection_with(ring: KeyRing, revoked: Vec<Deactivation>) -> Introspection {
        let introspection = Introspection {
            index: Arc::new(ready_index(revoked)),
            downgrades: Arc::new(ready_index(Vec::<RoleAssignment>::new())),
            ..Default::default()
        };
        *write(&introspection.keys) = Some(Arc::new(ring));
        let secret = Secret {
            data: Some(BTreeMap::from([(
                "mail-gateway".to_string(),
                ByteString(b"s3cret-value\n".to_vec()),
            )])),
            ..Default::default()
        };
        update_callers(&introspection.callers, Event::Apply(secret));
        introspection
    }

    async fn call(introspection: &Introspection, auth: Option<&str>, body: &str) -> (u16, Value) {
        let mut headers = HeaderMap::new();
        if let Some(auth) = auth {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        }
        let response = introspect(
            State(introspection.clone()),
            headers,
            Bytes::from(body.to_string()),
        )
        .await;
        let status = response.status().as_u16();
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn token(ring: &KeyRing) -> Sensitive {
        let session = FirstSession {
            issuer: "https://op".into(),
            subject: SUBJECT.into(),
            upn: "zoe@contoso.example".into(),
            role: "employee".into(),
            audience: None,
        };
        issue_first_session(ring, &session, jiff::Timestamp::now())
            .unwrap()
            .jwt
    }

    #[tokio::test]
    async fn callers_must_present_a_known_secret() {
        let ring = KeyRing::generate(jiff::Timestamp::now()).unwrap();
        let jwt = token(&ring);
        let introspection = introspection_with(ring, Vec::new());
        let body = format!("token={}", jwt.expose());
        assert_eq!(call(&introspection, None, &body).await.0, 401);
        assert_eq!(
            call(&introspection, Some("Bearer wrong"), &body).await.0,
            401
        );
        let (status, answer) = call(&introspection, Some("Bearer s3cret-value"), &body).await;
        assert_eq!((status, &answer["active"]), (200, &json!(true)));
        assert_eq!(answer["sub"], SUBJECT);
        assert_eq!(answer["username"], "zoe@contoso.example");
        let basic = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "mail-gateway:s3cret-value",
        );
        let (status, _) = call(&introspection, Some(&format!("Basic {basic}")), &body).await;
        assert_eq!(status, 200);
        let (status, answer) = call(&introspection, Some("Bearer s3cret-value"), "x=1").await;
        assert_eq!((status, &answer["error"]), (400, &json!("invalid_request")));
    }

    #[tokio::test]
    async fn revoked_forged_and_foreign_tokens_are_inactive() {
        let ring = KeyRing::generate(jiff::Timestamp::now()).unwrap();
        let jwt = token(&ring);
        let other = token(&KeyRing::generate(jiff::Timestamp::now()).unwrap());
        let now = jiff::Timestamp::now().as_second();
        let revoked = deactivation(
            "leave",
            Some(status(DeactivationPhase::Deactivated, now, &[])),
        );
        let introspection = introspection_with(ring, vec![revoked]);
        let auth = Some("Bearer s3cret-value");
        for body in [
            format!("token={}", jwt.expose()),
            format!("token={}", other.expose()),
            "token=not.a.jwt".to_string(),
        ] {
            let (status, answer) = call(&introspection, auth, &body).await;
            assert_eq!((status, answer), (200, json!({"active": false})), "{body}");
        }
    }
}
