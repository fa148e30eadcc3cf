//! The User's licence: resolved by part number, assigned when a seat is free, escalated to IT
//! management once when none is.

use std::time::Duration;

use kube::runtime::controller::Action;
use tracing::info;

use super::account::not_replicated;
use super::flow::{Blocked, Facts, Report, Stop, blocked};
use super::notify::{self, Outgoing};
use super::rejected;
use crate::api::conditions::{kind, reason};
use crate::api::user::NotificationKind;
use crate::api::{LicenseTier, Phase, Tenant, User};
use crate::graph::Category;
use crate::graph::Graph;
use crate::graph::licenses::find_sku;
use crate::graph::users::DirectoryUser;
use crate::mail;
use crate::reconcile::Context;

pub(super) async fn ensure_license(
    user: &User,
    tenant: &Tenant,
    ctx: &Context,
    graph: &Graph,
    account: &DirectoryUser,
    facts: &mut Facts,
) -> Result<(), Stop> {
    let tier = user.spec.license;
    let part_number = tenant.spec.licenses.sku_part_number(tier).to_string();
    // Steady state: the Tenant's status knows the skuId, so no Graph call is needed.
    let known = tenant.status.as_ref().and_then(|s| s.seats_for(tier));
    if known.is_some_and(|seat| account.has_license(&seat.sku_id)) {
        facts.license = Some(part_number);
        return Ok(());
    }
    let skus = graph.subscribed_skus().await?;
    let Some(sku) = find_sku(&skus, &part_number) else {
        return Err(blocked(
            Phase::Pending,
            kind::LICENSED,
            reason::SKU_NOT_FOUND,
            format!("the tenant has no {part_number} subscription, which it maps {tier} to"),
            Action::requeue(Duration::from_secs(600)),
        ));
    };
    if !account.has_license(&sku.sku_id) {
        if sku.available() == 0 {
            return Err(short_of_seats(user, tenant, ctx, graph, facts, &part_number).await);
        }
        ensure_usage_location(user, graph, account).await?;
        if let Err(stop) = assign(graph, account, &sku.sku_id).await {
            return Err(match stop {
                NoSeats => short_of_seats(user, tenant, ctx, graph, facts, &part_number).await,
                Other(stop) => stop,
            });
        }
        facts.event(
            reason::LICENSE_ASSIGNED,
            format!("Assigned {part_number} ({tier})"),
        );
        info!(upn = %account.user_principal_name, sku = %part_number, "license assigned");
        ctx.seats_changed();
    }
    drop_other_tier(user, tenant, ctx, graph, account, facts).await?;
    facts.license = Some(part_number);
    Ok(())
}

/// A User moved from E3 to E5 (or back) gives the old seat back.
async fn drop_other_tier(
    user: &User,
    tenant: &Tenant,
    ctx: &Context,
    graph: &Graph,
    account: &DirectoryUser,
    facts: &mut Facts,
) -> Result<(), Stop> {
    let other = match user.spec.license {
        LicenseTier::E3 => LicenseTier::E5,
        LicenseTier::E5 => LicenseTier::E3,
    };
    let Some(seat) = tenant.status.as_ref().and_then(|s| s.seats_for(other)) else {
        return Ok(());
    };
    if account.has_license(&seat.sku_id) {
        graph
            .remove_licenses(&account.id, std::slice::from_ref(&seat.sku_id))
            .await?;
        info!(upn = %account.user_principal_name, sku = %seat.sku_part_number, "license removed");
        ctx.seats_changed();
        facts.event(
            reason::LICENSE_REMOVED,
            format!("Removed {} ({other})", seat.sku_part_number),
        );
    }
    Ok(())
}

/// Entra refuses a licence to an account without a usage location; an adopted account may
/// lack one, or have another than the manifest says.
async fn ensure_usage_location(
    user: &User,
    graph: &Graph,
    account: &DirectoryUser,
) -> Result<(), Stop> {
    let wanted = &user.spec.usage_location;
    if account.usage_location.as_ref() == Some(wanted) {
        return Ok(());
    }
    graph
        .update_user(&account.id, &serde_json::json!({ "usageLocation": wanted }))
        .await?;
    info!(upn = %account.user_principal_name, usage_location = %wanted, "usage location set");
    Ok(())
}

enum AssignFailure {
    NoSeats,
    Other(Stop),
}
use AssignFailure::{NoSeats, Other};

async fn assign(graph: &Graph, account: &DirectoryUser, sku_id: &str) -> Result<(), AssignFailure> {
    match graph.assign_license(&account.id, sku_id).await {
        Ok(()) => Ok(()),
        Err(e) if e.category == Category::NotFound => Err(Other(not_replicated(&account.id))),
        // Seats can run out between our count and the assignment.
        Err(e) if e.message.contains("available licenses") => Err(NoSeats),
        Err(e) if e.category == Category::Rejected => Err(Other(rejected(kind::LICENSED, &e))),
        Err(e) => Err(Other(e.into())),
    }
}

/// Waits for a seat, telling IT management once.
async fn short_of_seats(
    user: &User,
    tenant: &Tenant,
    ctx: &Context,
    graph: &Graph,
    facts: &mut Facts,
    part_number: &str,
) -> Stop {
    let waiting = Blocked {
        phase: Phase::Pending,
        condition: kind::LICENSED,
        reason: reason::LICENSE_UNAVAILABLE,
        message: format!("no free {part_number} seats; the User continues once seats are added"),
        // Seats are added by people, often right after the escalation: look again soon.
        requeue: Action::requeue(Duration::from_secs(30)),
    };
    let Some(settings) = &tenant.spec.mail else {
        return Stop::Blocked(waiting);
    };
    let name = user.metadata.name.clone().unwrap_or_default();
    let (subject, body) = mail::license_shortage(&name, &user.display_name(), part_number);
    let outgoing = Outgoing {
        kind: NotificationKind::LicenseShortage,
        sender: &settings.sender,
        to: vec![settings.it_management.clone()],
        subject,
        body,
    };
    let report = Report::Blocked(waiting.clone());
    match notify::deliver_once(user, ctx, graph, facts, outgoing, &report).await {
        Ok(()) => Stop::Blocked(waiting),
        Err(stop) => stop,
    }
}
