//! The deactivation steps, in order. Each looks at Entra before it changes anything, so a
//! step cut short by a crash is finished, never repeated.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::events::EventType;
use serde_json::json;

use super::{Done, Stop, Work, now, waiting};
use crate::api::Tenant;
use crate::api::deactivation::{
    AfterRetention, ArchiveRef, Deactivation, DeactivationPhase, DeactivationPolicy, GroupRecord,
    GroupRefusal, LicenseDecision, LicenseHandling, LicenseOutcome, LicenseRecord,
    MAX_DENIED_TOKENS, MAX_GROUPS, MembershipState, Revocation, Step, reason,
};
use crate::archive;
use crate::graph::groups::Membership;
use crate::graph::users::DirectoryUser;
use crate::graph::{Category, Graph};

/// The account being deactivated, as recorded when the deactivation started.
pub(super) struct Account {
    pub id: String,
}

impl Account {
    pub fn of(work: &Work<'_>) -> Result<Self, Stop> {
        let id = work
            .status
            .object_id
            .clone()
            .ok_or_else(|| missing("(unknown)"))?;
        Ok(Account { id })
    }
}

fn missing(id: &str) -> Stop {
    waiting(
        DeactivationPhase::Pending,
        reason::ACCOUNT_MISSING,
        format!("Entra does not show account {id}"),
        Duration::from_secs(60),
    )
}

/// When the deactivation takes effect: `spec.effectiveAt`, or when it was created.
pub(super) fn effective_at(deactivation: &Deactivation) -> Timestamp {
    deactivation
        .spec
        .effective_at
        .as_ref()
        .or(deactivation.metadata.creation_timestamp.as_ref())
        .map(|t| t.0)
        .unwrap_or_else(Timestamp::now)
}

/// Waits for `spec.effectiveAt`.
pub(super) fn schedule(deactivation: &Deactivation) -> Result<(), Stop> {
    let effective = effective_at(deactivation);
    let wait = effective.duration_since(Timestamp::now());
    if wait.is_positive() {
        // Looked at again at the time, and at least hourly in case the schedule changes.
        let wait = Duration::try_from(wait).unwrap_or_default();
        return Err(waiting(
            DeactivationPhase::Scheduled,
            reason::SCHEDULED,
            format!("takes effect at {effective}"),
            wait.min(Duration::from_secs(3600)) + Duration::from_millis(500),
        ));
    }
    Ok(())
}

/// Steps 1 to 5, those not done yet, saving after each.
pub(super) async fn deactivate(
    work: &mut Work<'_>,
    graph: &Graph,
    account: &Account,
    tenant: &Tenant,
    policy: &DeactivationPolicy,
) -> Result<(), Stop> {
    block_sign_in(work, graph, account, tenant).await?;
    revoke_tokens(work, graph, account).await?;
    leave_groups(work, graph, account).await?;
    handle_license(work, graph, account, policy).await?;
    archive(work, graph, account, policy).await
}

/// Step 1. The account counts as deactivated from before the call, so that introspection
/// refuses its tokens at once. The licences are recorded on the way, before anything changes.
async fn block_sign_in(
    work: &mut Work<'_>,
    graph: &Graph,
    account: &Account,
    tenant: &Tenant,
) -> Result<(), Stop> {
    if work.done(Step::SignInBlocked) {
        return Ok(());
    }
    if work.status.inactive_since.is_none() {
        work.status.inactive_since = Some(now());
        work.save().await?;
    }
    let found = graph
        .get_user(&account.id)
        .await?
        .ok_or_else(|| missing(&account.id))?;
    work.status.licenses = license_records(&found, tenant);
    let message = if found.account_enabled == Some(false) {
        "sign-in was already blocked".to_string()
    } else {
        graph
            .update_user(&account.id, &json!({ "accountEnabled": false }))
            .await?;
        format!("sign-in blocked for {}", found.user_principal_name)
    };
    work.complete(Step::SignInBlocked, message);
    Ok(work.save().await?)
}

fn license_records(account: &DirectoryUser, tenant: &Tenant) -> Vec<LicenseRecord> {
    let seats = tenant
        .status
        .as_ref()
        .map(|s| s.seats.as_slice())
        .unwrap_or_default();
    account
        .assigned_licenses
        .iter()
        .take(32)
        .map(|license| LicenseRecord {
            sku_id: license.sku_id.clone(),
            sku_part_number: seats
                .iter()
                .find(|seat| seat.sku_id.eq_ignore_ascii_case(&license.sku_id))
                .map(|seat| seat.sku_part_number.clone()),
        })
        .collect()
}

/// Step 2. The operator's own tokens are refused from the recorded second on; Entra's
/// sessions are revoked unless Entra shows a revocation since then already.
async fn revoke_tokens(work: &mut Work<'_>, graph: &Graph, account: &Account) -> Result<(), Stop> {
    if work.done(Step::TokensRevoked) {
        return Ok(());
    }
    if work.status.revocation.is_none() {
        work.status.revocation = Some(Revocation {
            tokens_valid_after: now(),
            denied_token_ids: issued_token_ids(work),
        });
        work.save().await?;
    }
    let after = work
        .status
        .revocation
        .as_ref()
        .map(|r| r.tokens_valid_after.0)
        .unwrap_or_default();
    let revoked_since = graph
        .sessions_valid_from(&account.id)
        .await?
        .is_some_and(|from| from >= after);
    let message = if revoked_since {
        "Entra sessions were already revoked; operator tokens refused".to_string()
    } else {
        graph.revoke_sign_in_sessions(&account.id).await?;
        "Entra sessions revoked; operator tokens refused".to_string()
    };
    work.complete(Step::TokensRevoked, message);
    Ok(work.save().await?)
}

/// The ids of the tokens the operator issued for the User, as its status lists them.
fn issued_token_ids(work: &Work<'_>) -> Vec<String> {
    let user = work.ctx.users.get(&super::user_of(work.deactivation));
    user.and_then(|u| u.status.clone())
        .and_then(|s| s.first_session)
        .map(|token| token.jti)
        .into_iter()
        .take(MAX_DENIED_TOKENS)
        .collect()
}

/// Step 3. The memberships are recorded first; then each group Graph can change is left.
/// Groups it cannot change are listed as kept, with the reason, and do not stop the rest.
async fn leave_groups(work: &mut Work<'_>, graph: &Graph, account: &Account) -> Result<(), Stop> {
    if work.done(Step::GroupsLeft) {
        return Ok(());
    }
    let current: Vec<Membership> = graph
        .member_of(&account.id)
        .await?
        .into_iter()
        .filter(Membership::is_group)
        .collect();
    if work.status.groups.is_empty() && !current.is_empty() {
        work.status.groups_truncated = current.len() > MAX_GROUPS;
        work.status.groups = current.iter().take(MAX_GROUPS).map(record_of).collect();
        work.save().await?;
    }
    for index in 0..work.status.groups.len() {
        if work.status.groups[index].state != MembershipState::Member {
            continue;
        }
        let group = current
            .iter()
            .find(|g| g.id == work.status.groups[index].id);
        let (state, refusal) = leave(graph, account, group).await?;
        let record = &mut work.status.groups[index];
        record.state = state;
        record.refusal = refusal;
    }
    let unrecorded = leave_unrecorded(work, graph, account, &current).await?;
    let kept: Vec<String> = work
        .status
        .groups
        .iter()
        .filter(|g| g.state == MembershipState::Kept)
        .map(|g| g.display_name.clone().unwrap_or_else(|| g.id.clone()))
        .collect();
    let left = work
        .status
        .groups
        .iter()
        .filter(|g| g.state == MembershipState::Left)
        .count();
    if !kept.is_empty() {
        let note = format!("Graph cannot change these memberships: {}", kept.join(", "));
        work.event(EventType::Warning, reason::GROUPS_NOT_CHANGED, note);
    }
    let message = format!(
        "left {} groups, kept {} that Graph cannot change",
        left + unrecorded,
        kept.len()
    );
    work.complete(Step::GroupsLeft, message);
    Ok(work.save().await?)
}

fn record_of(group: &Membership) -> GroupRecord {
    GroupRecord {
        id: group.id.clone(),
        display_name: group.display_name.clone(),
        state: MembershipState::Member,
        refusal: None,
    }
}

/// Leaves one recorded group. Not listed any more means an earlier pass left it already.
async fn leave(
    graph: &Graph,
    account: &Account,
    group: Option<&Membership>,
) -> Result<(MembershipState, Option<GroupRefusal>), Stop> {
    let Some(group) = group else {
        return Ok((MembershipState::Left, None));
    };
    if let Some(refusal) = read_only(group) {
        return Ok((MembershipState::Kept, Some(refusal)));
    }
    match graph.remove_member(&group.id, &account.id).await {
        Ok(()) => Ok((MembershipState::Left, None)),
        Err(e) if e.category == Category::Forbidden => {
            let refusal = match group.is_assignable_to_role {
                Some(true) => GroupRefusal::RoleAssignable,
                _ => GroupRefusal::Forbidden,
            };
            Ok((MembershipState::Kept, Some(refusal)))
        }
        Err(e) => Err(e.into()),
    }
}

/// Groups Graph refuses to change without trying: rule-based members, and mail-enabled
/// security groups and distribution lists, whose members Exchange owns. Microsoft 365 groups
/// (`Unified`) are mail-enabled too, but Graph changes them.
pub(super) fn read_only(group: &Membership) -> Option<GroupRefusal> {
    let has_type = |t: &str| group.group_types.iter().any(|g| g == t);
    if has_type("DynamicMembership") {
        Some(GroupRefusal::Dynamic)
    } else if group.mail_enabled == Some(true) && !has_type("Unified") {
        Some(GroupRefusal::MailEnabled)
    } else {
        None
    }
}

/// Groups beyond what status can list (or joined since the list was made) are left too,
/// without a record.
async fn leave_unrecorded(
    work: &Work<'_>,
    graph: &Graph,
    account: &Account,
    current: &[Membership],
) -> Result<usize, Stop> {
    let mut left = 0;
    for group in current {
        let recorded = work.status.groups.iter().any(|g| g.id == group.id);
        if recorded || read_only(group).is_some() {
            continue;
        }
        match graph.remove_member(&group.id, &account.id).await {
            Ok(()) => left += 1,
            Err(e) if e.category == Category::Forbidden => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(left)
}

/// Step 4. What the reason's policy says; a licence being released is recorded in step 1,
/// so a pass cut short after the call finds it gone and does not call again.
async fn handle_license(
    work: &mut Work<'_>,
    graph: &Graph,
    account: &Account,
    policy: &DeactivationPolicy,
) -> Result<(), Stop> {
    if work.done(Step::LicenseHandled) {
        return Ok(());
    }
    let deactivation = work.deactivation;
    let handling = policy.for_reason(deactivation.spec.reason).license;
    let (outcome, message) = match outcome_for(handling, deactivation.spec.license_decision) {
        LicenseOutcome::Released => {
            let message = release(work, graph, account).await?;
            (LicenseOutcome::Released, message)
        }
        LicenseOutcome::Kept => (
            LicenseOutcome::Kept,
            "licence kept, with the mailbox".into(),
        ),
        LicenseOutcome::AwaitingDecision => (
            LicenseOutcome::AwaitingDecision,
            "licence kept until a person sets spec.licenseDecision".into(),
        ),
    };
    work.status.license_outcome = Some(outcome);
    work.status.retain_until = Some(after(policy.retention()));
    work.complete(Step::LicenseHandled, message);
    Ok(work.save().await?)
}

/// What to do with the licence, given the policy and a person's decision if there is one.
pub(super) fn outcome_for(
    handling: LicenseHandling,
    decision: Option<LicenseDecision>,
) -> LicenseOutcome {
    match (handling, decision) {
        (LicenseHandling::Release, _) => LicenseOutcome::Released,
        (LicenseHandling::Keep, _) => LicenseOutcome::Kept,
        (LicenseHandling::KeepUntilDecided, Some(LicenseDecision::Release)) => {
            LicenseOutcome::Released
        }
        (LicenseHandling::KeepUntilDecided, Some(LicenseDecision::Keep)) => LicenseOutcome::Kept,
        (LicenseHandling::KeepUntilDecided, None) => LicenseOutcome::AwaitingDecision,
    }
}

/// Removes the recorded licences the account still holds.
async fn release(work: &Work<'_>, graph: &Graph, account: &Account) -> Result<String, Stop> {
    if work.status.licenses.is_empty() {
        return Ok("no licence to release".into());
    }
    let found = graph
        .get_user(&account.id)
        .await?
        .ok_or_else(|| missing(&account.id))?;
    let held: Vec<String> = work
        .status
        .licenses
        .iter()
        .filter(|l| found.has_license(&l.sku_id))
        .map(|l| l.sku_id.clone())
        .collect();
    if held.is_empty() {
        return Ok("licences were already released; mailbox data is retained".into());
    }
    graph.remove_licenses(&account.id, &held).await?;
    work.ctx.shared.seats_changed();
    let names: Vec<String> = work
        .status
        .licenses
        .iter()
        .map(|l| {
            l.sku_part_number
                .clone()
                .unwrap_or_else(|| l.sku_id.clone())
        })
        .collect();
    Ok(format!(
        "released {}; mailbox data is retained",
        names.join(", ")
    ))
}

fn after(span: Duration) -> Time {
    let until = now().0 + span;
    Time(until)
}

/// A person's decision on a security incident's licence, once the steps are done.
pub(super) async fn follow_license_decision(
    work: &mut Work<'_>,
    graph: &Graph,
    account: &Account,
    policy: &DeactivationPolicy,
) -> Result<(), Stop> {
    if work.status.license_outcome != Some(LicenseOutcome::AwaitingDecision) {
        return Ok(());
    }
    let Some(decision) = work.deactivation.spec.license_decision else {
        return Ok(());
    };
    let handling = policy.for_reason(work.deactivation.spec.reason).license;
    let note = match outcome_for(handling, Some(decision)) {
        LicenseOutcome::Released => {
            let note = release(work, graph, account).await?;
            work.status.license_outcome = Some(LicenseOutcome::Released);
            work.status.retain_until = Some(after(policy.retention()));
            note
        }
        _ => {
            work.status.license_outcome = Some(LicenseOutcome::Kept);
            "licence kept, as decided".into()
        }
    };
    work.event(EventType::Normal, reason::LICENSE_DECIDED, note);
    Ok(work.save().await?)
}

/// Step 5. The record goes to an immutable ConfigMap; finding it written already is success.
async fn archive(
    work: &mut Work<'_>,
    graph: &Graph,
    account: &Account,
    policy: &DeactivationPolicy,
) -> Result<(), Stop> {
    if work.done(Step::Archived) {
        return Ok(());
    }
    let deactivation = work.deactivation;
    let memberships = graph.member_of(&account.id).await?;
    let app_roles = graph.app_role_assignments(&account.id).await?;
    let user = work.ctx.users.get(&super::user_of(deactivation));
    let record = super::record::build(
        deactivation,
        &work.status,
        user.as_deref(),
        &memberships,
        &app_roles,
        now(),
    );
    let namespace = policy
        .archive_namespace
        .clone()
        .unwrap_or_else(|| deactivation.namespace().unwrap_or_default());
    let name = archive::name_for(deactivation);
    archive::write(&work.ctx.shared.client, &namespace, &name, &record).await?;
    work.status.archive = Some(ArchiveRef {
        kind: archive::KIND.into(),
        namespace: namespace.clone(),
        name: name.clone(),
    });
    work.complete(
        Step::Archived,
        format!("archived to ConfigMap {namespace}/{name}"),
    );
    if let Some(sla) = work.status.sla.as_mut() {
        sla.complete(now().0);
    }
    Ok(work.save().await?)
}

/// Step 6, when the retention window has passed and the policy deletes the account.
pub(super) async fn end_retention(
    work: &mut Work<'_>,
    graph: &Graph,
    account: &Account,
    policy: &DeactivationPolicy,
) -> Result<Done, Stop> {
    let after_retention = policy
        .for_reason(work.deactivation.spec.reason)
        .after_retention;
    if after_retention == AfterRetention::KeepAccount {
        return Ok(Done::Deactivated { next: None });
    }
    let until = work.status.retain_until.clone().unwrap_or_else(now);
    let left = until.0.duration_since(Timestamp::now());
    if left.is_positive() {
        let left = Duration::try_from(left).unwrap_or_default();
        return Ok(Done::Deactivated {
            next: Some(left.min(Duration::from_secs(3600)) + Duration::from_millis(500)),
        });
    }
    let message = match graph.get_user(&account.id).await? {
        None => "the account was already deleted".to_string(),
        Some(found) => {
            graph.delete_user(&account.id).await?;
            format!(
                "deleted account {}; Entra keeps it restorable for 30 days",
                found.user_principal_name
            )
        }
    };
    work.complete(Step::RetentionEnded, message);
    work.save().await?;
    Ok(Done::Completed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(types: &[&str], mail: bool) -> Membership {
        serde_json::from_value(json!({
            "id": "g",
            "@odata.type": "#microsoft.graph.group",
            "groupTypes": types,
            "mailEnabled": mail,
        }))
        .unwrap()
    }

    #[test]
    fn read_only_groups_are_known_before_asking() {
        assert_eq!(
            read_only(&group(&["DynamicMembership"], false)),
            Some(GroupRefusal::Dynamic)
        );
        assert_eq!(
            read_only(&group(&[], true)),
            Some(GroupRefusal::MailEnabled)
        );
        assert_eq!(
            read_only(&group(&["Unified"], true)),
            None,
            "Microsoft 365 groups change"
        );
        assert_eq!(read_only(&group(&[], false)), None);
    }

    #[test]
    fn the_licence_follows_policy_then_decision() {
        use LicenseHandling::*;
        assert_eq!(outcome_for(Release, None), LicenseOutcome::Released);
        assert_eq!(
            outcome_for(Keep, Some(LicenseDecision::Release)),
            LicenseOutcome::Kept
        );
        assert_eq!(
            outcome_for(KeepUntilDecided, None),
            LicenseOutcome::AwaitingDecision
        );
        assert_eq!(
            outcome_for(KeepUntilDecided, Some(LicenseDecision::Release)),
            LicenseOutcome::Released
        );
        assert_eq!(
            outcome_for(KeepUntilDecided, Some(LicenseDecision::Keep)),
            LicenseOutcome::Kept
        );
    }
}
