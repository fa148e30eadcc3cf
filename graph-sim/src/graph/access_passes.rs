//! `/users/{id}/authentication/temporaryAccessPassMethods`: issuing, reading and deleting a
//! user's Temporary Access Pass.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{Value, json};
use tracing::info;

use crate::directory::DirectoryError;
use crate::http::body::JsonBody;
use crate::http::context::BaseUrl;
use crate::http::error::GraphError;
use crate::sim::Sim;

/// `POST /users/{id}/authentication/temporaryAccessPassMethods` → `201` with the pass, the
/// only answer that ever carries its text.
pub async fn create(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    BaseUrl(base_url): BaseUrl,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), GraphError> {
    let view = sim.view();
    let mut entity = {
        let mut directory = sim.directory();
        let pass = directory.create_access_pass(&key, &body, view)?.clone();
        pass.to_json(directory.access_pass_policy(), Utc::now(), true)
    };
    entity["@odata.context"] = format!("{}/$entity", collection_context(&base_url, &key)).into();
    // Never the pass itself: it is a credential.
    info!(user = %key, method = %entity["id"], lifetime = %entity["lifetimeInMinutes"],
        "temporary access pass issued");
    Ok((StatusCode::CREATED, Json(entity)))
}

/// `GET /users/{id}/authentication/temporaryAccessPassMethods`: at most one, without its text.
pub async fn list(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    BaseUrl(base_url): BaseUrl,
) -> Result<Json<Value>, GraphError> {
    let view = sim.view();
    let directory = sim.directory();
    let policy = directory.access_pass_policy();
    let passes: Vec<Value> = directory
        .access_passes_of(&key, view)?
        .into_iter()
        .map(|p| p.to_json(policy, Utc::now(), false))
        .collect();
    Ok(Json(json!({
        "@odata.context": collection_context(&base_url, &key),
        "value": passes,
    })))
}

/// `GET /users/{id}/authentication/temporaryAccessPassMethods/{method}`, without its text.
pub async fn get(
    State(sim): State<Arc<Sim>>,
    Path((key, id)): Path<(String, String)>,
) -> Result<Json<Value>, GraphError> {
    let view = sim.view();
    let directory = sim.directory();
    let pass = directory
        .access_passes_of(&key, view)?
        .into_iter()
        .find(|p| p.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| DirectoryError::NotFound(id.clone()))?;
    Ok(Json(pass.to_json(
        directory.access_pass_policy(),
        Utc::now(),
        false,
    )))
}

/// `DELETE /users/{id}/authentication/temporaryAccessPassMethods/{method}` → `204`.
pub async fn delete(
    State(sim): State<Arc<Sim>>,
    Path((key, id)): Path<(String, String)>,
) -> Result<StatusCode, GraphError> {
    let view = sim.view();
    sim.directory().remove_access_pass(&key, &id, view)?;
    info!(user = %key, method = %id, "temporary access pass deleted");
    Ok(StatusCode::NO_CONTENT)
}

fn collection_context(base_url: &str, key: &str) -> String {
    format!("{base_url}/v1.0/$metadata#users('{key}')/authentication/temporaryAccessPassMethods")
}
