//! `/users` and `/users/{id | userPrincipalName}`: create, list, read, update, delete, and
//! revoking sign-in sessions.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tracing::info;

use super::list::ListQuery;
use super::query::QueryParams;
use super::select::Selection;
use crate::directory::Origin;
use crate::http::body::JsonBody;
use crate::http::context::BaseUrl;
use crate::http::error::GraphError;
use crate::sim::Sim;

/// `POST /users` → `201` with the default property set.
pub async fn create(
    State(sim): State<Arc<Sim>>,
    BaseUrl(base_url): BaseUrl,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), GraphError> {
    let (entity, upn) = {
        let mut directory = sim.directory();
        let user = directory.create(&body, Origin::Api)?;
        (
            Selection::Default.entity(user, &base_url),
            user.upn().to_string(),
        )
    };
    info!(%upn, "user created");
    Ok((StatusCode::CREATED, Json(entity)))
}

/// `GET /users` with `$filter`, `$select`, `$top`, `$skiptoken`, `$count`, `$orderby` and
/// `$search`.
pub async fn list(
    State(sim): State<Arc<Sim>>,
    BaseUrl(base_url): BaseUrl,
    headers: HeaderMap,
    params: QueryParams,
) -> Result<Json<Value>, GraphError> {
    let query = ListQuery::parse(&params, &headers)?;
    let view = sim.view();
    let page = query.run(&sim.directory(), view);
    Ok(Json(query.to_json(page, &params, &base_url)))
}

/// `GET /users/{id | userPrincipalName}` with `$select`.
pub async fn get(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    BaseUrl(base_url): BaseUrl,
    params: QueryParams,
) -> Result<Json<Value>, GraphError> {
    let selection = Selection::from_query(&params)?;
    let view = sim.view();
    let directory = sim.directory();
    let user = directory.find_visible(&key, view)?;
    Ok(Json(selection.entity(user, &base_url)))
}

/// `PATCH /users/{id | userPrincipalName}` → `204`.
pub async fn update(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, GraphError> {
    let view = sim.view();
    sim.directory().update(&key, &body, view)?;
    let changed: Vec<&String> = body
        .as_object()
        .into_iter()
        .flat_map(|b| b.keys())
        .collect();
    info!(user = %key, ?changed, "user updated");
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /users/{id | userPrincipalName}` → `204`; the user goes to the deleted items.
pub async fn delete(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
) -> Result<StatusCode, GraphError> {
    let view = sim.view();
    let id = sim.directory().delete_user(&key, view)?;
    info!(user = %key, %id, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /users/{id | userPrincipalName}/revokeSignInSessions` → `200 {"value": true}`.
pub async fn revoke_sessions(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    BaseUrl(base_url): BaseUrl,
) -> Result<Json<Value>, GraphError> {
    let view = sim.view();
    let valid_from = sim.directory().revoke_sessions(&key, view)?;
    info!(user = %key, %valid_from, "sign-in sessions revoked");
    Ok(Json(json!({
        "@odata.context": format!("{base_url}/v1.0/$metadata#Edm.Boolean"),
        "value": true,
    })))
}
