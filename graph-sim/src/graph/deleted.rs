//! `/directory/deletedItems`: deleted users, their restore and their permanent deletion.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use tracing::info;

use crate::directory::User;
use crate::http::context::BaseUrl;
use crate::http::error::GraphError;
use crate::sim::Sim;

/// `GET /directory/deletedItems/microsoft.graph.user`.
pub async fn list(State(sim): State<Arc<Sim>>, BaseUrl(base_url): BaseUrl) -> Json<Value> {
    let directory = sim.directory();
    let users: Vec<Value> = directory.deleted_users().map(deleted_user).collect();
    Json(json!({
        "@odata.context": format!("{base_url}/v1.0/$metadata#directoryObjects"),
        "value": users,
    }))
}

/// `GET /directory/deletedItems/{id}`.
pub async fn get(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, GraphError> {
    let directory = sim.directory();
    Ok(Json(deleted_user(directory.find_deleted(&id)?)))
}

/// `POST /directory/deletedItems/{id}/restore` → `200` with the restored user.
pub async fn restore(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    BaseUrl(base_url): BaseUrl,
) -> Result<Json<Value>, GraphError> {
    let mut restored = {
        let mut directory = sim.directory();
        deleted_user(directory.restore(&id)?)
    };
    restored["@odata.context"] =
        format!("{base_url}/v1.0/$metadata#directoryObjects/$entity").into();
    info!(%id, upn = %restored["userPrincipalName"], "user restored");
    Ok(Json(restored))
}

/// `DELETE /directory/deletedItems/{id}` → `204`; the user is gone for good.
pub async fn purge(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
) -> Result<StatusCode, GraphError> {
    sim.directory().purge(&id)?;
    info!(%id, "deleted user removed for good");
    Ok(StatusCode::NO_CONTENT)
}

/// A user as the deleted items list shows it: typed, with `deletedDateTime`.
fn deleted_user(user: &User) -> Value {
    let mut item = Map::new();
    item.insert("@odata.type".into(), "#microsoft.graph.user".into());
    let shown = [
        "id",
        "displayName",
        "userPrincipalName",
        "mail",
        "mailNickname",
        "givenName",
        "surname",
        "jobTitle",
        "accountEnabled",
        "deletedDateTime",
    ];
    for name in shown {
        item.insert(
            name.into(),
            user.props.get(name).cloned().unwrap_or(Value::Null),
        );
    }
    Value::Object(item)
}
