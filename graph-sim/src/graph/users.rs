//! `/users` and `/users/{id | userPrincipalName}`: create, list, read and update.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use tracing::info;

use super::list::ListQuery;
use super::query::{QueryParams, is_advanced};
use super::select::Selection;
use crate::directory::Origin;
use crate::http::body::JsonBody;
use crate::http::error::GraphError;
use crate::sim::Sim;

/// `POST /users` → `201` with the default property set.
pub async fn create(
    State(sim): State<Arc<Sim>>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), GraphError> {
    let (entity, upn) = {
        let mut directory = sim.directory();
        let user = directory.create(&body, Origin::Api)?;
        (
            Selection::Default.entity(user, &sim.base_url),
            user.upn().to_string(),
        )
    };
    info!(%upn, "user created");
    Ok((StatusCode::CREATED, Json(entity)))
}

/// `GET /users` with `$filter`, `$select`, `$top`, `$skiptoken` and `$count`.
pub async fn list(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    params: QueryParams,
) -> Result<Json<Value>, GraphError> {
    let query = ListQuery::parse(&params, is_advanced(&headers, &params))?;
    let view = sim.view();
    let page = query.run(&sim.directory(), view);
    Ok(Json(query.to_json(page, &params, &sim.base_url)))
}

/// `GET /users/{id | userPrincipalName}` with `$select`.
pub async fn get(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    params: QueryParams,
) -> Result<Json<Value>, GraphError> {
    let selection = Selection::from_query(&params)?;
    let view = sim.view();
    let directory = sim.directory();
    let user = directory.find_visible(&key, view)?;
    Ok(Json(selection.entity(user, &sim.base_url)))
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
