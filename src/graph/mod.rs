//! A Microsoft Graph client for the few calls the operator makes: app-only tokens, retries
//! that honour throttling, and errors that say what Graph said.
//!
//! It knows nothing of Kubernetes; reconcilers hand it plain values.

pub mod assertion;
pub mod auth_methods;
pub mod batch;
pub mod budget;
pub mod error;
pub mod groups;
pub mod licenses;
pub mod mail;
pub mod retry;
pub mod token;
pub mod users;

pub use error::{Category, GraphError};
pub use token::{Credential, Sensitive};

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use budget::{Limits, RateBudget};
use retry::{RetryPolicy, jitter, parse_retry_after};
use token::TokenSource;

/// Where one tenant's services are and who the operator is there.
#[derive(Clone, Debug)]
pub struct TenantConnection {
    /// Graph base, up to and including `/v1.0`.
    pub graph: String,
    /// Identity platform authority host.
    pub login: String,
    pub tenant_id: String,
    /// The throttling limits the client keeps under.
    pub limits: Limits,
    /// Extra PEM certificate authorities to trust.
    pub ca_bundle: Option<String>,
    pub credential: Credential,
}

/// A Graph client for one tenant.
#[derive(Debug)]
pub struct Graph {
    http: reqwest::Client,
    base: String,
    tokens: TokenSource,
    retry: RetryPolicy,
    budget: RateBudget,
}

/// One request, before it is sent (and possibly re-sent).
struct Call<'a> {
    operation: &'static str,
    method: Method,
    path: &'a str,
    query: &'a [(&'a str, &'a str)],
    body: Option<&'a serde_json::Value>,
    headers: &'a [(&'static str, &'a str)],
    /// The call refers to an object that may have been created moments ago; Graph answers
    /// "not found" until it has replicated, so such answers are retried for a while.
    refers_to_new_object: bool,
    /// The call must not be repeated when Graph may have carried it out without answering
    /// (a timeout, a 5xx): sending a mail twice cannot be undone. Throttled calls, which
    /// Graph did not carry out, are still retried.
    at_most_once: bool,
}

impl<'a> Call<'a> {
    fn new(operation: &'static str, method: Method, path: &'a str) -> Self {
        Call {
            operation,
            method,
            path,
            query: &[],
            body: None,
            headers: &[],
            refers_to_new_object: false,
            at_most_once: false,
        }
    }
}

/// Headers that make Graph accept advanced queries (`or` across properties, `endsWith`, `ne`).
const ADVANCED_QUERY: &[(&str, &str)] = &[("ConsistencyLevel", "eventual")];

#[derive(Deserialize, Default)]
struct ErrorEnvelope {
    #[serde(default)]
    error: ErrorBody,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

#[derive(Deserialize, Default)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    target: String,
}

impl Graph {
    pub fn new(connection: TenantConnection) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("m365-operator/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &connection.ca_bundle {
            for certificate in reqwest::Certificate::from_pem_bundle(pem.as_bytes())? {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder.build()?;
        let tokens = TokenSource::new(
            &connection.login,
            &connection.tenant_id,
            connection.credential,
        );
        let base = connection.graph.trim_end_matches('/').to_string();
        Ok(Graph {
            http,
            base,
            tokens,
            retry: RetryPolicy::default(),
            budget: RateBudget::new(connection.limits),
        })
    }

    /// Replaces the retry bounds (tests use short ones).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sends a call, retrying transient failures, and decodes the JSON answer.
    async fn json<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, GraphError> {
        let operation = call.operation;
        let (status, body) = self.send(call).await?;
        serde_json::from_slice(&body).map_err(|e| GraphError {
            category: Category::Unavailable,
            operation,
            status: Some(status.as_u16()),
            code: "MalformedAnswer".into(),
            message: format!("Graph answered with JSON we could not read: {e}"),
            details: Vec::new(),
            retry_after: None,
        })
    }

    /// Sends a call, retrying transient failures; returns status and body of a 2xx answer.
    async fn send(&self, call: Call<'_>) -> Result<(StatusCode, Vec<u8>), GraphError> {
        let started = Instant::now();
        let mut attempt = 0;
        let mut refreshed_token = false;
        loop {
            let error = match self.attempt(&call).await {
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
            // An access token can be revoked or expire early: fetch a new one, once. A refused
            // credential at the token endpoint itself is final.
            if error.category == Category::Unauthenticated
                && error.operation != token::OPERATION
                && !refreshed_token
            {
                refreshed_token = true;
                self.tokens.invalidate().await;
                continue;
            }
            if call.at_most_once && error.category == Category::Unavailable {
                return Err(error);
            }
            let (pause, replicating) = match self.retry.delay(attempt, &error, jitter()) {
                Some(pause) => (pause, false),
                None if self.still_replicating(&call, &error, started) => {
                    (self.retry.replication_pause(attempt), true)
                }
                None => return Err(error),
            };
            if replicating {
                // Expected right after a create: Entra has not replicated the object yet.
                tracing::debug!(
                    operation = call.operation,
                    code = %error.code,
                    pause_ms = pause.as_millis() as u64,
                    "Graph does not show the new object yet, retrying"
                );
            } else {
                tracing::warn!(
                    operation = call.operation,
                    category = error.category.as_str(),
                    code = %error.code,
                    pause_ms = pause.as_millis() as u64,
                    "Graph call failed, retrying"
                );
            }
            crate::metrics::graph_wait(error.category.as_str(), pause);
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    /// The absolute URL of a call. Paging links arrive absolute; the bearer token must only
    /// ever go to this tenant's Graph, so a link elsewhere is refused.
    fn url(&self, call: &Call<'_>) -> Result<String, GraphError> {
        if !call.path.starts_with("http") {
            return Ok(format!("{}{}", self.base, call.path));
        }
        if call.path.starts_with(&format!("{}/", self.base)) {
            return Ok(call.path.to_string());
        }
        Err(GraphError {
            category: Category::Rejected,
            operation: call.operation,
            status: None,
            code: "ForeignLink".into(),
            message: "Graph returned a paging link outside its own base address".into(),
            details: Vec::new(),
            retry_after: None,
        })
    }

    /// Fetches an absolute link Graph handed out (`@odata.nextLink`).
    async fn json_at<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        link: &str,
    ) -> Result<T, GraphError> {
        self.json(Call::new(operation, Method::GET, link)).await
    }

    fn still_replicating(&self, call: &Call<'_>, error: &GraphError, started: Instant) -> bool {
        call.refers_to_new_object
            && error.category == Category::NotFound
            && started.elapsed() < self.retry.replication_window
    }

    async fn attempt(&self, call: &Call<'_>) -> Result<(StatusCode, Vec<u8>), GraphError> {
        let url = self.url(call)?;
        let token = self.tokens.token(&self.http).await?;
        let path = url[self.base.len()..].split('?').next().unwrap_or_default();
        self.budget
            .spend(budget::cost(&call.method, path, call.query))
            .await;
        let mut request = self
            .http
            .request(call.method.clone(), &url)
            .bearer_auth(token.expose())
            .query(call.query);
        for (name, value) in call.headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = call.body {
            request = request.json(body);
        }
        let unreachable = |e: reqwest::Error| GraphError::unreachable(call.operation, &e);
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        crate::metrics::graph_call(call.operation, Some(status.as_u16()));
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = response.bytes().await.map_err(unreachable)?.to_vec();
        tracing::debug!(
            operation = call.operation,
            status = status.as_u16(),
            "Graph call"
        );
        if status.is_success() {
            return Ok((status, body));
        }
        Err(graph_error(
            call.operation,
            status.as_u16(),
            &body,
            retry_after,
        ))
    }
}

fn graph_error(
    operation: &'static str,
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> GraphError {
    let envelope: ErrorEnvelope = serde_json::from_slice(body).unwrap_or_default();
    let ErrorBody {
        code,
        message,
        details,
    } = envelope.error;
    GraphError {
        category: error::categorize(status, &code, &message),
        operation,
        status: Some(status),
        code,
        message,
        details: details.into_iter().map(|d| (d.code, d.target)).collect(),
        retry_after,
    }
}

/// Quotes a value for a `$filter` string literal: apostrophes are doubled.
pub fn filter_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelope_is_read_with_details() {
        let body = br#"{"error":{"code":"Request_BadRequest","message":"Another object with the same value for property userPrincipalName already exists.","details":[{"code":"ObjectConflict","target":"userPrincipalName"}]}}"#;
        let e = graph_error("create user", 400, body, None);
        assert_eq!(e.category, Category::Conflict);
        assert!(e.has_detail("ObjectConflict"));
        assert_eq!(e.target(), Some("userPrincipalName"));
        assert!(
            e.to_string()
                .starts_with("create user: 400 Request_BadRequest: Another object")
        );
    }

    #[test]
    fn unreadable_error_bodies_still_categorise() {
        let e = graph_error("get user", 503, b"<html>", Some(Duration::from_secs(1)));
        assert_eq!(e.category, Category::Unavailable);
        assert_eq!(e.retry_after, Some(Duration::from_secs(1)));
    }

    #[test]
    fn filter_literals_double_apostrophes() {
        assert_eq!(filter_literal("o'brien@x.com"), "'o''brien@x.com'");
    }
}
