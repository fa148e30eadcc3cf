//! Ending an extended leave: licence first (it reconnects the mailbox), then the groups left,
//! then sign-in, all from the archive. Like the deactivation steps, each looks before it acts.
//! Revoked tokens stay revoked: only tokens issued after the reactivation are valid.

use std::time::Duration;

use serde_json::json;

use super::steps::Account;
use super::{Stop, Work, waiting};
use crate::api::deactivation::{DeactivationPhase, MembershipState, Step, reason};
use crate::archive::{self, ArchiveRecord};
use crate::graph::Graph;

/// Steps 7 to 9, those not done yet.
pub(super) async fn reactivate(
    work: &mut Work<'_>,
    graph: &Graph,
    account: &Account,
) -> Result<(), Stop> {
    if work.done(Step::SignInRestored) {
        return Ok(());
    }
    let record = read_archive(work).await?;
    restore_licenses(work, graph, account, &record).await?;
    restore_groups(work, graph, account, &record).await?;
    restore_sign_in(work, graph, account).await
}

async fn read_archive(work: &Work<'_>) -> Result<ArchiveRecord, Stop> {
    let Some(location) = work.status.archive.clone() else {
        return Err(waiting(
            DeactivationPhase::Reactivating,
            reason::IN_PROGRESS,
            "the archive is not written yet",
            Duration::from_secs(10),
        ));
    };
    let client = &work.ctx.shared.client;
    Ok(archive::read(client, &location.namespace, &location.name).await?)
}

async fn restore_licenses(
    work: &mut Work<'_>,
    graph: &Graph,
    account: &Account,
    record: &ArchiveRecord,
) -> Result<(), Stop> {
    if work.done(Step::LicenseRestored) {
        return Ok(());
    }
    let found = graph.get_user(&account.id).await?.ok_or_else(|| {
        waiting(
            DeactivationPhase::Reactivating,
            reason::ACCOUNT_MISSING,
            format!("Entra does not show account {}", account.id),
            Duration::from_secs(60),
        )
    })?;
    let mut assigned = 0;
    for license in record
        .licenses
        .iter()
        .filter(|l| !found.has_license(&l.sku_id))
    {
        match graph.assign_license(&account.id, &license.sku_id).await {
            Ok(()) => {
                assigned += 1;
                work.ctx.shared.seats_changed();
            }
            // Seats can be gone by the time the person comes back.
            Err(e) if e.message.contains("available licenses") => {
                return Err(waiting(
                    DeactivationPhase::Reactivating,
                    reason::LICENSE_UNAVAILABLE,
                    format!(
                        "no free seat of {}; the reactivation continues once one is free",
                        license
                            .sku_part_number
                            .as_deref()
                            .unwrap_or(&license.sku_id)
                    ),
                    Duration::from_secs(120),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let kept = record.licenses.len() - assigned;
    let message = format!("{assigned} licences assigned again, {kept} were still held");
    work.complete(Step::LicenseRestored, message);
    Ok(work.save().await?)
}

async fn restore_groups(
    work: &mut Work<'_>,
    graph: &Graph,
    account: &Account,
    record: &ArchiveRecord,
) -> Result<(), Stop> {
    if work.done(Step::GroupsRestored) {
        return Ok(());
    }
    let current = graph.member_of(&account.id).await?;
    let mut joined = 0;
    for group in record
        .groups
        .iter()
        .filter(|g| g.state == MembershipState::Left)
    {
        if !current.iter().any(|m| m.id == group.id) {
            graph.add_member(&group.id, &account.id).await?;
            joined += 1;
        }
        if let Some(entry) = work.status.groups.iter_mut().find(|g| g.id == group.id) {
            entry.state = MembershipState::Rejoined;
        }
    }
    work.complete(
        Step::GroupsRestored,
        format!("joined {joined} groups again"),
    );
    Ok(work.save().await?)
}

async fn restore_sign_in(
    work: &mut Work<'_>,
    graph: &Graph,
    account: &Account,
) -> Result<(), Stop> {
    let found = graph.get_user(&account.id).await?;
    let message = match found {
        Some(found) if found.account_enabled == Some(true) => "sign-in was already allowed",
        _ => {
            graph
                .update_user(&account.id, &json!({ "accountEnabled": true }))
                .await?;
            "sign-in allowed again"
        }
    };
    work.complete(Step::SignInRestored, message.to_string());
    Ok(work.save().await?)
}
