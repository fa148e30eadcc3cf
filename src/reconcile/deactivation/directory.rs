//! The Graph calls a deactivation needs beyond those the client offers by name: releasing
//! licences, reading when sessions were last revoked, deleting the account. Each goes out as
//! a `$batch` of one request, which Graph treats like the request itself (same permissions,
//! same answers), and which the client already retries on throttling.

use jiff::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};

use crate::graph::batch::{BatchRequest, BatchResponse};
use crate::graph::{Category, Graph, GraphError};

/// Sends one request and returns its answer, or its failure as an error.
async fn one(
    graph: &Graph,
    operation: &'static str,
    method: Method,
    url: String,
    body: Option<Value>,
) -> Result<BatchResponse, GraphError> {
    let request = BatchRequest {
        id: "1".into(),
        method,
        url,
        body,
        depends_on: Vec::new(),
    };
    let answer = graph
        .batch(std::slice::from_ref(&request))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| GraphError {
            category: Category::Unavailable,
            operation,
            status: None,
            code: "MissingAnswer".into(),
            message: "the batch answer did not include the request".into(),
            details: Vec::new(),
            retry_after: None,
        })?;
    match answer.error(operation) {
        Some(error) => Err(error),
        None => Ok(answer),
    }
}

/// Removes these licences; the mailbox data stays for 30 days, as Entra documents.
pub(super) async fn remove_licenses(
    graph: &Graph,
    user_id: &str,
    sku_ids: &[String],
) -> Result<(), GraphError> {
    let body = json!({ "addLicenses": [], "removeLicenses": sku_ids });
    let url = format!("/users/{user_id}/assignLicense");
    one(graph, "release licenses", Method::POST, url, Some(body))
        .await
        .map(drop)
}

/// When the account's sign-in sessions were last revoked, if ever.
pub(super) async fn sessions_valid_from(
    graph: &Graph,
    user_id: &str,
) -> Result<Option<Timestamp>, GraphError> {
    let url = format!("/users/{user_id}?$select=id,signInSessionsValidFromDateTime");
    let answer = one(graph, "read sessions valid from", Method::GET, url, None).await?;
    Ok(answer.body["signInSessionsValidFromDateTime"]
        .as_str()
        .and_then(|t| t.parse().ok()))
}

/// Deletes the account (Entra keeps it restorable for 30 days). An account that is gone
/// already counts as deleted.
pub(super) async fn delete_account(graph: &Graph, user_id: &str) -> Result<(), GraphError> {
    let url = format!("/users/{user_id}");
    match one(graph, "delete user", Method::DELETE, url, None).await {
        Err(e) if e.category == Category::NotFound => Ok(()),
        other => other.map(drop),
    }
}
