//! `/roleManagement/directory/roleAssignments`: directory roles for users and role-assignable
//! groups.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use tracing::info;

use super::query::QueryParams;
use crate::directory::{DirectoryError, RoleAssignment};
use crate::http::body::JsonBody;
use crate::http::context::BaseUrl;
use crate::http::error::GraphError;
use crate::sim::Sim;

/// `POST /roleManagement/directory/roleAssignments` with `principalId`, `roleDefinitionId`
/// and `directoryScopeId` (`/` when left out) → `201`.
pub async fn create(
    State(sim): State<Arc<Sim>>,
    BaseUrl(base_url): BaseUrl,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), GraphError> {
    let text = |name: &str| body.get(name).and_then(Value::as_str);
    let principal =
        text("principalId").ok_or_else(|| DirectoryError::invalid_value("principalId"))?;
    let role = text("roleDefinitionId")
        .ok_or_else(|| DirectoryError::invalid_value("roleDefinitionId"))?;
    let scope = text("directoryScopeId").unwrap_or("/");
    let view = sim.view();
    let mut entity = sim
        .directory()
        .assign_role(principal, role, scope, view)?
        .to_json();
    entity["@odata.context"] =
        format!("{base_url}/v1.0/$metadata#roleManagement/directory/roleAssignments/$entity")
            .into();
    info!(%principal, %role, "directory role assigned");
    Ok((StatusCode::CREATED, Json(entity)))
}

/// `GET /roleManagement/directory/roleAssignments`, with `$filter=principalId eq '…'` or
/// `roleDefinitionId eq '…'`.
pub async fn list(
    State(sim): State<Arc<Sim>>,
    BaseUrl(base_url): BaseUrl,
    params: QueryParams,
) -> Result<Json<Value>, GraphError> {
    let filter = params.option("$filter").map(read_filter).transpose()?;
    let directory = sim.directory();
    let assignments: Vec<Value> = directory
        .role_assignments()
        .iter()
        .filter(|a| {
            filter
                .as_ref()
                .is_none_or(|(field, value)| field_of(a, field).eq_ignore_ascii_case(value))
        })
        .map(RoleAssignment::to_json)
        .collect();
    Ok(Json(json!({
        "@odata.context":
            format!("{base_url}/v1.0/$metadata#roleManagement/directory/roleAssignments"),
        "value": assignments,
    })))
}

/// `GET /roleManagement/directory/roleAssignments/{id}`.
pub async fn get(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, GraphError> {
    let directory = sim.directory();
    let assignment = directory
        .role_assignments()
        .iter()
        .find(|a| a.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| DirectoryError::NotFound(id.clone()))?;
    Ok(Json(assignment.to_json()))
}

/// `DELETE /roleManagement/directory/roleAssignments/{id}` → `204`.
pub async fn delete(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
) -> Result<StatusCode, GraphError> {
    sim.directory().remove_role_assignment(&id)?;
    info!(assignment = %id, "directory role assignment removed");
    Ok(StatusCode::NO_CONTENT)
}

fn read_filter(text: &str) -> Result<(String, String), GraphError> {
    let mut words = text.splitn(3, ' ');
    let (field, op, value) = (words.next(), words.next(), words.next());
    let value = value
        .and_then(|v| v.strip_prefix('\''))
        .and_then(|v| v.strip_suffix('\''));
    match (field, op, value) {
        (Some(f @ ("principalId" | "roleDefinitionId")), Some("eq"), Some(v)) => {
            Ok((f.to_string(), v.to_string()))
        }
        _ => Err(GraphError::unsupported_query(format!(
            "Unsupported filter on role assignments: '{text}'."
        ))),
    }
}

fn field_of<'a>(assignment: &'a RoleAssignment, field: &str) -> &'a str {
    if field == "principalId" {
        &assignment.principal_id
    } else {
        &assignment.role_definition_id
    }
}
