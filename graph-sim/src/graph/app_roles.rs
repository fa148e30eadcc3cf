//! `/users/{id}/appRoleAssignments`: granting, listing and revoking a user's app roles.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use tracing::info;

use crate::directory::DirectoryError;
use crate::http::body::JsonBody;
use crate::http::context::BaseUrl;
use crate::http::error::GraphError;
use crate::sim::Sim;

/// `POST /users/{id}/appRoleAssignments` → `201` with the assignment.
pub async fn create(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    BaseUrl(base_url): BaseUrl,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), GraphError> {
    let view = sim.view();
    let mut entity = sim
        .directory()
        .assign_app_role(&key, &body, view)?
        .to_json();
    let context = format!("{base_url}/v1.0/$metadata#users('{key}')/appRoleAssignments/$entity");
    entity["@odata.context"] = context.into();
    info!(user = %key, app_role = %entity["appRoleId"], resource = %entity["resourceId"],
        "app role assigned");
    Ok((StatusCode::CREATED, Json(entity)))
}

/// `GET /users/{id}/appRoleAssignments`.
pub async fn list(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    BaseUrl(base_url): BaseUrl,
) -> Result<Json<Value>, GraphError> {
    let view = sim.view();
    let directory = sim.directory();
    let assignments: Vec<Value> = directory
        .app_role_assignments_of(&key, view)?
        .into_iter()
        .map(|a| a.to_json())
        .collect();
    Ok(Json(json!({
        "@odata.context": format!("{base_url}/v1.0/$metadata#users('{key}')/appRoleAssignments"),
        "value": assignments,
    })))
}

/// `GET /users/{id}/appRoleAssignments/{assignment}`.
pub async fn get(
    State(sim): State<Arc<Sim>>,
    Path((key, id)): Path<(String, String)>,
) -> Result<Json<Value>, GraphError> {
    let view = sim.view();
    let directory = sim.directory();
    let assignment = directory
        .app_role_assignments_of(&key, view)?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(|| DirectoryError::NotFound(id.clone()))?;
    Ok(Json(assignment.to_json()))
}

/// `DELETE /users/{id}/appRoleAssignments/{assignment}` → `204`.
pub async fn delete(
    State(sim): State<Arc<Sim>>,
    Path((key, id)): Path<(String, String)>,
) -> Result<StatusCode, GraphError> {
    let view = sim.view();
    sim.directory()
        .remove_app_role_assignment(&key, &id, view)?;
    info!(user = %key, assignment = %id, "app role assignment removed");
    Ok(StatusCode::NO_CONTENT)
}
