//! The procedure around the account: the HR approval before anything is written, the
//! provisioning deadline, the first-session token and the welcome mail.

use std::time::Duration;

use kube::runtime::controller::Action;
use tracing::info;

use super::flow::{Facts, Report, Stop, blocked};
use super::notify::{self, Outgoing};
use super::report::in_progress;
use crate::api::conditions::{kind, reason};
use crate::api::user::NotificationKind;
use crate::api::{Phase, Tenant, User};
use crate::approval::{self, Membership, Person, PresentedApproval};
use crate::credentials;
use crate::graph::users::DirectoryUser;
use crate::graph::{Graph, GraphError};
use crate::mail;
use crate::reconcile::Context;
use crate::sla::{SlaOutcome, SlaRecord};
use crate::tokens::{self, FirstSession};

/// The procedure's promise: accounts within two business hours of the approval.
pub const PROVISIONING_SLA: Duration = Duration::from_secs(2 * 3600);

/// The role a new account starts with, until a role is assigned.
const FIRST_ROLE: &str = "Pending";

/// Accepts the HR approval under the Tenant's policy, or stops before anything is written.
pub(super) async fn check_approval(
    user: &User,
    tenant: &Tenant,
    graph: &Graph,
) -> Result<(), Stop> {
    // Refusals are looked at again now and then: an approval dated ahead becomes due, and an
    // approver may join the HR group in Entra without any change to the manifest.
    let refuse = |reason: &'static str, message: String| {
        let again = Action::requeue(Duration::from_secs(60));
        blocked(Phase::Pending, kind::APPROVED, reason, message, again)
    };
    let Some(policy) = &tenant.spec.approval else {
        return Err(refuse(
            "ApproverNotHR",
            "the Tenant names no HR approvers (spec.approval)".into(),
        ));
    };
    let spec = &user.spec.approval;
    let membership = match policy.group_to_check(&spec.approver) {
        Some(group) => approver_membership(graph, &spec.approver, group).await?,
        None => Membership::Unchecked,
    };
    let presented = PresentedApproval {
        approver: &spec.approver,
        reference: &spec.reference,
        approved_at: spec.approved_at.0,
        token: spec.token.as_deref(),
    };
    let person = Person {
        given_name: &user.spec.given_name,
        surname: &user.spec.surname,
    };
    approval::check(
        policy,
        &presented,
        &person,
        membership,
        jiff::Timestamp::now(),
    )
    .map_err(|problem| refuse(problem.reason(), problem.to_string()))
}

/// Whether the approver's account is in the HR group, nested groups included.
async fn approver_membership(
    graph: &Graph,
    approver: &str,
    group: &str,
) -> Result<Membership, GraphError> {
    let Some(account) = graph
        .find_address_owners(approver)
        .await?
        .into_iter()
        .next()
    else {
        return Ok(Membership::NotMember);
    };
    let groups = graph.transitive_member_of(&account.id).await?;
    Ok(
        match groups.iter().any(|g| g.id.eq_ignore_ascii_case(group)) {
            true => Membership::Member,
            false => Membership::NotMember,
        },
    )
}

/// What judging the deadline found out this pass.
#[derive(Debug, Default, PartialEq)]
pub(super) struct DeadlineNews {
    /// The deadline passed with the work still undone, or done late: first noticed now.
    pub missed: bool,
    /// The work was completed this pass, with this outcome.
    pub completed: Option<SlaOutcome>,
}

/// Starts the deadline clock at the approval (once), and judges it; `done` completes it.
pub(super) fn track_deadline(
    user: &User,
    tenant: &Tenant,
    facts: &mut Facts,
    done: bool,
) -> DeadlineNews {
    let approved_at = user.spec.approval.approved_at.0;
    if facts
        .sla
        .as_ref()
        .is_none_or(|sla| sla.started_at.0 != approved_at)
    {
        let calendar = tenant.spec.calendar.clone().unwrap_or_default();
        facts.sla = calendar
            .hours()
            .ok()
            .and_then(|hours| SlaRecord::start(&hours, approved_at, PROVISIONING_SLA).ok());
    }
    let Some(sla) = facts.sla.as_mut() else {
        return DeadlineNews::default();
    };
    let now = jiff::Timestamp::now();
    let completing = done && sla.completed_at.is_none();
    if completing {
        sla.complete(now);
    }
    let outcome = sla.outcome(now);
    let missed = outcome == SlaOutcome::Breached && facts.sla_outcome != Some(SlaOutcome::Breached);
    facts.sla_outcome = Some(outcome);
    DeadlineNews {
        missed,
        completed: completing.then_some(outcome),
    }
}

/// Issues the 24-hour first-session token into the credentials Secret, once.
pub(super) async fn issue_first_session(
    user: &User,
    ctx: &Context,
    account: &DirectoryUser,
    facts: &mut Facts,
) -> Result<(), Stop> {
    if facts.first_session.is_some() {
        return Ok(());
    }
    let session = FirstSession {
        issuer: ctx.settings.issuer.clone(),
        subject: account.id.clone(),
        upn: account.user_principal_name.clone(),
        role: FIRST_ROLE.into(),
        audience: None,
    };
    let keys = ctx.signing_keys().await?;
    let issued = tokens::issue_first_session(&keys, &session, jiff::Timestamp::now())?;
    credentials::store_first_session(&ctx.client, user, issued.jwt.expose()).await?;
    info!(upn = %account.user_principal_name, jti = %issued.jti, "first-session token issued");
    facts.first_session = Some(crate::api::user::FirstSessionToken {
        jti: issued.jti,
        expires_at: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(issued.expires_at),
    });
    Ok(())
}

/// Sends the welcome mail with the credentials, once, when the tenant and the User name a
/// sender and a recipient.
pub(super) async fn welcome(
    user: &User,
    tenant: &Tenant,
    ctx: &Context,
    graph: &Graph,
    account: &DirectoryUser,
    facts: &mut Facts,
) -> Result<(), Stop> {
    let (Some(settings), Some(recipient)) = (&tenant.spec.mail, &user.spec.welcome_mail) else {
        return Ok(());
    };
    if facts
        .notification(NotificationKind::Welcome)
        .is_some_and(|n| n.state == crate::api::user::DeliveryState::Sent)
    {
        return Ok(());
    }
    let password = credentials::password(&ctx.client, user).await?;
    let display_name = user.display_name();
    let (subject, body) = mail::welcome(
        settings.welcome.as_ref(),
        &mail::Welcome {
            display_name: &display_name,
            given_name: user.spec.given_name.trim(),
            user_principal_name: &account.user_principal_name,
            password: &password,
        },
    );
    let outgoing = Outgoing {
        kind: NotificationKind::Welcome,
        sender: &settings.sender,
        to: vec![recipient.recipient.clone()],
        subject,
        body,
    };
    let report: Report = in_progress("sending the welcome mail");
    notify::deliver_once(user, ctx, graph, facts, outgoing, &report).await?;
    facts.event(
        reason::WELCOME_MAIL_SENT,
        format!("Sent the welcome mail to {}", recipient.recipient),
    );
    Ok(())
}
