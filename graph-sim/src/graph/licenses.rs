//! `/subscribedSkus` and `/users/{id}/assignLicense`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use tracing::info;

use super::select::Selection;
use crate::directory::{LicenseChange, SkuUsage};
use crate::http::body::JsonBody;
use crate::http::context::BaseUrl;
use crate::http::error::GraphError;
use crate::sim::Sim;

/// `GET /subscribedSkus`.
pub async fn subscribed_skus(
    State(sim): State<Arc<Sim>>,
    BaseUrl(base_url): BaseUrl,
) -> Json<Value> {
    let skus: Vec<Value> = sim
        .directory()
        .sku_usage()
        .iter()
        .map(|usage| subscribed_sku(&sim.tenant_id, usage))
        .collect();
    Json(json!({
        "@odata.context": format!("{base_url}/v1.0/$metadata#subscribedSkus"),
        "value": skus,
    }))
}

fn subscribed_sku(tenant_id: &str, usage: &SkuUsage) -> Value {
    json!({
        "id": format!("{tenant_id}_{}", usage.sku.sku_id),
        "skuId": usage.sku.sku_id,
        "skuPartNumber": usage.sku.part_number,
        "appliesTo": "User",
        "capabilityStatus": "Enabled",
        "consumedUnits": usage.consumed,
        "prepaidUnits": {
            "enabled": usage.sku.enabled, "suspended": 0, "warning": 0, "lockedOut": 0,
        },
        "servicePlans": [],
    })
}

/// `POST /users/{id | userPrincipalName}/assignLicense` → `200` with the user.
pub async fn assign(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    BaseUrl(base_url): BaseUrl,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, GraphError> {
    let change = LicenseChange::from_request(&body)?;
    let view = sim.view();
    let entity = {
        let mut directory = sim.directory();
        directory.assign_licenses(&key, &change, Some(view))?;
        Selection::Default.entity(directory.find_visible(&key, view)?, &base_url)
    };
    let added: Vec<&Value> = change.add.iter().map(|l| &l["skuId"]).collect();
    info!(user = %key, ?added, removed = ?change.remove, "licenses changed");
    Ok(Json(entity))
}
