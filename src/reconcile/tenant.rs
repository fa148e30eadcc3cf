//! Checking one Tenant: can the operator sign in, and how many seats are left per tier.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use tracing::{info, instrument, warn};

use super::{Context, Error, status};
use crate::api::conditions::{self, Desired, kind, reason};
use crate::api::tenant::SeatCount;
use crate::api::{LicenseTier, Tenant, TenantStatus};
use crate::graph::Category;
use crate::graph::licenses::{SubscribedSku, find_sku};

/// Seat counts go stale as people join and leave; read them again this often.
const RESYNC: Duration = Duration::from_secs(300);

/// Reconciles one Tenant: signs in, reads `subscribedSkus`, and reports both in status.
#[instrument(skip_all, fields(tenant = %tenant.name_any()))]
pub async fn reconcile(tenant: Arc<Tenant>, ctx: Arc<Context>) -> Result<Action, Error> {
    let connected = check(&tenant, &ctx).await;
    let (condition, seats) = match &connected {
        Ok(skus) => (
            connected_condition(&tenant, skus),
            Some(seat_counts(&tenant, skus)),
        ),
        Err(failure) => (failure.clone(), None),
    };
    let previous = tenant.status.clone().unwrap_or_default();
    let now = Time(jiff::Timestamp::now());
    let was_connected = conditions::is_true(&previous.conditions, kind::CONNECTED);
    let desired = TenantStatus {
        observed_generation: tenant.metadata.generation,
        conditions: conditions::merge(
            &previous.conditions,
            std::slice::from_ref(&condition),
            tenant.metadata.generation,
            &now,
        ),
        seats_checked_at: seats
            .as_ref()
            .map(|_| now.clone())
            .or(previous.seats_checked_at.clone()),
        seats: seats.unwrap_or(previous.seats.clone()),
    };
    let api: Api<Tenant> = Api::all(ctx.client.clone());
    // Skip writes that would only move the timestamp of an unchanged seat count.
    let unchanged = TenantStatus {
        seats_checked_at: previous.seats_checked_at.clone(),
        ..desired.clone()
    };
    if unchanged != previous {
        status::apply(&api, tenant.as_ref(), Some(&previous), &desired).await?;
    }
    match (was_connected, condition.status) {
        (false, true) => info!("tenant connected"),
        (true, false) => {
            warn!(reason = condition.reason, message = %condition.message, "tenant disconnected")
        }
        _ => {}
    }
    ctx.backoff
        .succeeded(&Context::backoff_key("Tenant", tenant.as_ref()));
    Ok(Action::requeue(if condition.status {
        RESYNC
    } else {
        Duration::from_secs(60)
    }))
}

/// Retries a failed status write with per-object backoff.
pub fn error_policy(tenant: Arc<Tenant>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(tenant = %tenant.name_any(), category = error.category(), %error, "reconcile failed");
    ctx.backoff
        .failed(Context::backoff_key("Tenant", tenant.as_ref()))
}

/// Signs in and lists the subscriptions, or says why that failed as a Connected=False.
async fn check(tenant: &Tenant, ctx: &Context) -> Result<Vec<SubscribedSku>, Desired> {
    let down = |reason, message: String| Desired::new(kind::CONNECTED, false, reason, message);
    let graph = ctx
        .connections
        .graph(tenant)
        .await
        .map_err(|e| down(reason::CREDENTIALS_MISSING, e.to_string()))?;
    graph.subscribed_skus().await.map_err(|e| {
        if e.category == Category::Unauthenticated {
            ctx.connections.forget(tenant);
            down(reason::CREDENTIALS_INVALID, e.to_string())
        } else {
            down(reason::GRAPH_UNAVAILABLE, e.to_string())
        }
    })
}

fn connected_condition(tenant: &Tenant, skus: &[SubscribedSku]) -> Desired {
    let missing: Vec<String> = [LicenseTier::E3, LicenseTier::E5]
        .into_iter()
        .map(|tier| tenant.spec.licenses.sku_part_number(tier))
        .filter(|part| find_sku(skus, part).is_none())
        .map(str::to_string)
        .collect();
    let message = if missing.is_empty() {
        "signed in; every configured licence is subscribed".to_string()
    } else {
        format!(
            "signed in; the tenant has no subscription for {}",
            missing.join(", ")
        )
    };
    Desired::new(kind::CONNECTED, true, reason::CONNECTED, message)
}

fn seat_counts(tenant: &Tenant, skus: &[SubscribedSku]) -> Vec<SeatCount> {
    [LicenseTier::E3, LicenseTier::E5]
        .into_iter()
        .filter_map(|tier| {
            let sku = find_sku(skus, tenant.spec.licenses.sku_part_number(tier))?;
            Some(SeatCount {
                license: tier,
                sku_part_number: sku.sku_part_number.clone(),
                sku_id: sku.sku_id.clone(),
                enabled: sku.prepaid_units.enabled,
                consumed: sku.consumed_units,
                available: sku.available(),
            })
        })
        .collect()
}
