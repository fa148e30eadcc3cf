//! `POST /$batch`: up to 20 requests in one round trip. Graph throttles each inner request on
//! its own (an inner 429 inside an outer 200), so only the failed ones are sent again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::budget::cost;
use super::error::categorize;
use super::retry::{jitter, parse_retry_after};
use super::{Call, Category, Graph, GraphError};

/// Graph's limit on requests per batch.
pub const MAX_BATCH: usize = 20;

/// One request inside a batch; `url` is relative to the version, e.g. `/users/{id}`.
#[derive(Clone, Debug)]
pub struct BatchRequest {
    pub id: String,
    pub method: Method,
    pub url: String,
    pub body: Option<Value>,
    /// Ids of requests in the same batch that must succeed first.
    pub depends_on: Vec<String>,
}

/// The final answer to one inner request.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchResponse {
    pub id: String,
    pub status: u16,
    pub body: Value,
}

impl BatchResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The failure as a categorised error, or `None` on success.
    pub fn error(&self, operation: &'static str) -> Option<GraphError> {
        if self.is_success() {
            return None;
        }
        let error = &self.body["error"];
        let code = error["code"].as_str().unwrap_or_default().to_string();
        let message = error["message"].as_str().unwrap_or_default().to_string();
        Some(GraphError {
            category: categorize(self.status, &code, &message),
            operation,
            status: Some(self.status),
            code,
            message,
            details: Vec::new(),
            retry_after: None,
        })
    }
}

#[derive(Deserialize)]
struct BatchAnswer {
    responses: Vec<InnerAnswer>,
}

#[derive(Deserialize)]
struct InnerAnswer {
    id: String,
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Value,
}

impl Graph {
    /// Sends the requests in batches of at most [`MAX_BATCH`] and returns one final answer
    /// per request, in the order given. Throttled, unavailable and 424 (failed prerequisite)
    /// answers are retried, with their prerequisites, a bounded number of times. Requests
    /// that depend on each other must not be more than [`MAX_BATCH`] apart.
    pub async fn batch(&self, requests: &[BatchRequest]) -> Result<Vec<BatchResponse>, GraphError> {
        let mut answers = BTreeMap::new();
        for chunk in requests.chunks(MAX_BATCH) {
            answers.extend(self.batch_chunk(chunk).await?);
        }
        Ok(requests
            .iter()
            .filter_map(|r| answers.remove(&r.id.to_ascii_lowercase()))
            .collect())
    }

    async fn batch_chunk(
        &self,
        chunk: &[BatchRequest],
    ) -> Result<BTreeMap<String, BatchResponse>, GraphError> {
        let mut done = BTreeMap::new();
        let mut pending: Vec<&BatchRequest> = chunk.iter().collect();
        for attempt in 0..self.retry.max_attempts {
            for request in &pending {
                let path = request.url.split('?').next().unwrap_or_default();
                self.budget.spend(cost(&request.method, path, &[])).await;
            }
            let answers = self.send_batch(&pending).await?;
            let last = attempt + 1 == self.retry.max_attempts;
            let transient: BTreeSet<String> = answers
                .iter()
                .filter(|a| a.status != 424 && retryable(a.status))
                .map(|a| a.id.to_ascii_lowercase())
                .collect();
            let mut wait = Duration::ZERO;
            let mut again = BTreeSet::new();
            for answer in answers {
                let id = answer.id.to_ascii_lowercase();
                // A 424 is worth another try only with a prerequisite that may pass next time.
                let retry = !last
                    && match answer.status {
                        424 => prerequisite_in(chunk, &id, &transient),
                        status => retryable(status),
                    };
                if retry {
                    wait = wait.max(retry_after(&answer.headers));
                    again.insert(id);
                } else {
                    let response = BatchResponse {
                        id: answer.id,
                        status: answer.status,
                        body: answer.body,
                    };
                    done.insert(id, response);
                }
            }
            if again.is_empty() {
                break;
            }
            pending = with_prerequisites(chunk, &again);
            for request in &pending {
                done.remove(&request.id.to_ascii_lowercase());
            }
            let backoff = self
                .retry
                .base_delay
                .saturating_mul(1 << attempt)
                .mul_f64(0.5 + jitter() / 2.0);
            tokio::time::sleep(wait.max(backoff).min(self.retry.max_delay)).await;
        }
        Ok(done)
    }

    async fn send_batch(&self, requests: &[&BatchRequest]) -> Result<Vec<InnerAnswer>, GraphError> {
        let inner: Vec<Value> = requests.iter().map(|r| inner_request(r)).collect();
        let body = json!({ "requests": inner });
        let call = Call {
            body: Some(&body),
            ..Call::new("batch", Method::POST, "/$batch")
        };
        let answer: BatchAnswer = self.json(call).await?;
        Ok(answer.responses)
    }
}

fn inner_request(request: &BatchRequest) -> Value {
    let mut inner =
        json!({ "id": request.id, "method": request.method.as_str(), "url": request.url });
    if let Some(body) = &request.body {
        inner["body"] = body.clone();
        inner["headers"] = json!({ "Content-Type": "application/json" });
    }
    if !request.depends_on.is_empty() {
        inner["dependsOn"] = json!(request.depends_on);
    }
    inner
}

fn retry_after(headers: &BTreeMap<String, String>) -> Duration {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
        .and_then(|(_, v)| parse_retry_after(v))
        .unwrap_or_default()
}

/// Whether the request `id` depends on one of `ids`.
fn prerequisite_in(chunk: &[BatchRequest], id: &str, ids: &BTreeSet<String>) -> bool {
    chunk
        .iter()
        .filter(|r| r.id.eq_ignore_ascii_case(id))
        .flat_map(|r| &r.depends_on)
        .any(|d| ids.contains(&d.to_ascii_lowercase()))
}

/// 429 and 5xx may pass later; 424 means a prerequisite failed and is sent again with it.
fn retryable(status: u16) -> bool {
    status == 429 || status == 424 || categorize(status, "", "") == Category::Unavailable
}

/// The requests to send again: those named, plus everything they depend on, in batch order.
fn with_prerequisites<'a>(
    chunk: &'a [BatchRequest],
    ids: &BTreeSet<String>,
) -> Vec<&'a BatchRequest> {
    let mut wanted: BTreeSet<String> = ids.clone();
    loop {
        let prerequisites: Vec<String> = chunk
            .iter()
            .filter(|r| wanted.contains(&r.id.to_ascii_lowercase()))
            .flat_map(|r| r.depends_on.iter().map(|d| d.to_ascii_lowercase()))
            .filter(|d| !wanted.contains(d))
            .collect();
        if prerequisites.is_empty() {
            break;
        }
        wanted.extend(prerequisites);
    }
    chunk
        .iter()
        .filter(|r| wanted.contains(&r.id.to_ascii_lowercase()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: &str, depends_on: &[&str]) -> BatchRequest {
        BatchRequest {
            id: id.into(),
            method: Method::POST,
            url: format!("/groups/{id}/members/$ref"),
            body: Some(json!({})),
            depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn retries_take_their_prerequisites_along() {
        let chunk = [
            request("1", &[]),
            request("2", &["1"]),
            request("3", &[]),
            request("4", &["2"]),
        ];
        let again = BTreeSet::from(["4".to_string()]);
        let ids: Vec<_> = with_prerequisites(&chunk, &again)
            .iter()
            .map(|r| r.id.clone())
            .collect();
        assert_eq!(ids, ["1", "2", "4"]);
    }

    #[test]
    fn inner_requests_carry_a_content_type_with_a_body() {
        let inner = inner_request(&request("a", &["b"]));
        assert_eq!(inner["headers"]["Content-Type"], "application/json");
        assert_eq!(inner["dependsOn"], json!(["b"]));
        assert_eq!(inner["method"], "POST");
    }

    #[test]
    fn which_inner_answers_are_retried() {
        assert!(retryable(429) && retryable(424) && retryable(503));
        assert!(!retryable(400) && !retryable(404) && !retryable(204));
    }

    #[test]
    fn inner_errors_are_categorised() {
        let answer = BatchResponse {
            id: "1".into(),
            status: 400,
            body: json!({"error": {"code": "Request_BadRequest", "message": "One or more added object references already exist"}}),
        };
        assert_eq!(
            answer.error("add member").unwrap().category,
            Category::Conflict
        );
    }
}
