//! The control API under `/_sim`: the same inspection and steering as [`Handle`](crate::Handle),
//! over HTTP for the CLI and out-of-process tests. It is unauthenticated, which is why the
//! simulator only ever listens on loopback.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{Value, json};
use tracing::info;

use crate::config::{GroupSeed, TemporaryAccessPassPolicy, ThrottleLimits};
use crate::faults::Faults;
use crate::http::body::JsonBody;
use crate::http::error::GraphError;
use crate::http::method_not_allowed;
use crate::sim::{Sim, sku_json};

/// Routes below `/_sim`.
pub fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/state", get(state))
        .route("/outbox", get(outbox))
        .route("/requests", get(requests))
        .route("/users", post(seed_user))
        .route("/groups", get(groups).post(seed_group))
        .route("/throttling", get(throttling).put(set_throttling))
        .route("/skus/{sku_part_number}", put(set_seats))
        .route("/faults", get(faults).put(set_faults))
        .route(
            "/temporaryAccessPassPolicy",
            get(access_pass_policy).put(set_access_pass_policy),
        )
        .method_not_allowed_fallback(method_not_allowed)
}

async fn state(State(sim): State<Arc<Sim>>) -> Json<Value> {
    Json(json!({
        "users": sim.users_snapshot(),
        "deletedUsers": sim.deleted_users_snapshot(),
        "groups": sim.groups_snapshot(),
        "skus": sim.skus_snapshot(),
        "temporaryAccessPasses": sim.access_passes_snapshot(),
    }))
}

async fn groups(State(sim): State<Arc<Sim>>) -> Json<Vec<Value>> {
    Json(sim.groups_snapshot())
}

/// Adds a group as the configuration's `groups` entries describe one, members included.
async fn seed_group(
    State(sim): State<Arc<Sim>>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), GraphError> {
    let seed: GroupSeed = serde_json::from_value(body)
        .map_err(|e| GraphError::bad_request("BadRequest", format!("Not a group: {e}")))?;
    let group = {
        let mut directory = sim.directory();
        let group = directory
            .seed_group(&seed)
            .map_err(|e| GraphError::bad_request("BadRequest", e))?;
        let mut props = group.props.clone();
        props.insert("members".into(), json!(group.members));
        Value::Object(props)
    };
    info!(group = %group["displayName"], "group seeded");
    Ok((StatusCode::CREATED, Json(group)))
}

async fn throttling(State(sim): State<Arc<Sim>>) -> Json<ThrottleLimits> {
    Json(sim.throttle().limits().clone())
}

async fn set_throttling(
    State(sim): State<Arc<Sim>>,
    JsonBody(body): JsonBody,
) -> Result<Json<ThrottleLimits>, GraphError> {
    let limits: ThrottleLimits = serde_json::from_value(body).map_err(|e| {
        GraphError::bad_request("BadRequest", format!("Not a throttling document: {e}"))
    })?;
    limits
        .check()
        .map_err(|e| GraphError::bad_request("BadRequest", e))?;
    info!(?limits, "throttling set");
    sim.set_throttling(limits.clone());
    Ok(Json(limits))
}

async fn outbox(State(sim): State<Arc<Sim>>) -> Json<Vec<Value>> {
    Json(sim.outbox_snapshot())
}

async fn requests(State(sim): State<Arc<Sim>>) -> Json<Vec<Value>> {
    Json(sim.requests_snapshot())
}

/// Adds a user that already exists in the tenant: visible at once, password unchecked,
/// `assignedLicenses` allowed.
async fn seed_user(
    State(sim): State<Arc<Sim>>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), GraphError> {
    let user = Value::Object(sim.directory().seed(&body)?.props.clone());
    info!(upn = %user["userPrincipalName"], "user seeded");
    Ok((StatusCode::CREATED, Json(user)))
}

async fn set_seats(
    State(sim): State<Arc<Sim>>,
    Path(part_number): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, GraphError> {
    let enabled = body
        .get("enabled")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| GraphError::bad_request("BadRequest", "Expected {\"enabled\": <seats>}."))?;
    let usage = sim
        .directory()
        .set_seats(&part_number, enabled)
        .ok_or_else(|| {
            let message = format!("The tenant has no subscription '{part_number}'.");
            GraphError::new(StatusCode::NOT_FOUND, "NotFound", message)
        })?;
    info!(%part_number, enabled, "seats set");
    Ok(Json(sku_json(&usage)))
}

async fn faults(State(sim): State<Arc<Sim>>) -> Json<Faults> {
    Json(sim.faults())
}

async fn set_faults(
    State(sim): State<Arc<Sim>>,
    JsonBody(body): JsonBody,
) -> Result<Json<Faults>, GraphError> {
    let faults: Faults = serde_json::from_value(body).map_err(|e| {
        GraphError::bad_request("BadRequest", format!("Not a faults document: {e}"))
    })?;
    faults
        .check()
        .map_err(|e| GraphError::bad_request("BadRequest", e))?;
    info!(?faults, "faults set");
    sim.set_faults(faults.clone());
    Ok(Json(faults))
}

async fn access_pass_policy(State(sim): State<Arc<Sim>>) -> Json<TemporaryAccessPassPolicy> {
    Json(sim.access_pass_policy())
}

async fn set_access_pass_policy(
    State(sim): State<Arc<Sim>>,
    JsonBody(body): JsonBody,
) -> Result<Json<TemporaryAccessPassPolicy>, GraphError> {
    let policy: TemporaryAccessPassPolicy = serde_json::from_value(body)
        .map_err(|e| GraphError::bad_request("BadRequest", format!("Not a pass policy: {e}")))?;
    policy
        .check()
        .map_err(|e| GraphError::bad_request("BadRequest", e))?;
    info!(?policy, "temporary access pass policy set");
    sim.set_access_pass_policy(policy.clone());
    Ok(Json(policy))
}
