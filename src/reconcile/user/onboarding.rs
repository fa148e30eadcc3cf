//! The procedure around the account: the HR approval before anything is written, the
//! provisioning deadline, the first-session token and the welcome mail with the first
//! credential (the temporary password or a Temporary Access Pass).

use std::time::Duration;

use kube::runtime::controller::Action;
use tracing::info;

use super::flow::{Facts, Report, Stop, blocked};
use super::notify::{self, Outgoing};
use super::report::in_progress;
use crate::api::conditions::{kind, reason};
use crate::api::tenant::{WelcomeCredential, WelcomeSettings};
use crate::api::user::NotificationKind;
use crate::api::{Phase, Tenant, User};
use crate::approval::{self, Membership, Person, PresentedApproval};
use crate::credentials;
use crate::graph::auth_methods::{AccessPassRequest, TemporaryAccessPass};
use crate::graph::users::DirectoryUser;
use crate::graph::{Category, Graph, GraphError};
use crate::mail;
use crate::password::Password;
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
        Some(group) => match graph.address_in_group(&spec.approver, group).await? {
            true => Membership::Member,
            false => Membership::NotMember,
        },
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

/// How soon a refused pass is asked for again; fixing the tenant's policy changes nothing the
/// operator watches.
const ACCESS_PASS_RETRY: Duration = Duration::from_secs(120);

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
    // Checked before any credential is made: a new Temporary Access Pass would void the one
    // in a mail that went out already.
    let kind = NotificationKind::Welcome;
    if notify::already_sent(user, graph, facts, kind, &settings.sender).await? {
        return Ok(());
    }
    let welcome = settings.welcome.as_ref();
    let credential = first_credential(user, ctx, graph, account, welcome).await?;
    let display_name = user.display_name();
    let (subject, body) = mail::welcome(
        welcome,
        &mail::Welcome {
            display_name: &display_name,
            given_name: user.spec.given_name.trim(),
            user_principal_name: &account.user_principal_name,
            credential: credential.for_mail(),
        },
    );
    let outgoing = Outgoing {
        kind,
        sender: &settings.sender,
        to: vec![recipient.recipient.clone()],
        subject,
        body,
    };
    let report: Report = in_progress("sending the welcome mail");
    notify::send(user, ctx, graph, facts, outgoing, &report).await?;
    facts.event(
        reason::WELCOME_MAIL_SENT,
        format!("Sent the welcome mail to {}", recipient.recipient),
    );
    Ok(())
}

/// The credential a welcome mail hands over, owned for as long as the mail is written.
enum FirstCredential {
    Password(Password),
    AccessPass(TemporaryAccessPass),
}

impl FirstCredential {
    fn for_mail(&self) -> mail::Credential<'_> {
        match self {
            FirstCredential::Password(password) => mail::Credential::Password(password),
            FirstCredential::AccessPass(pass) => mail::Credential::AccessPass {
                pass: &pass.pass,
                valid_until: pass.valid_until(),
            },
        }
    }
}

/// The stored temporary password, or, where the tenant wants one, a Temporary Access Pass
/// issued now. The password stays in the Secret either way: Entra requires every account to
/// have one, and it is the fallback an administrator can hand over.
///
/// A pass issued here whose mail then never leaves (the operator stops in between) is
/// replaced by the one the next reconcile issues, and that one is mailed.
async fn first_credential(
    user: &User,
    ctx: &Context,
    graph: &Graph,
    account: &DirectoryUser,
    welcome: Option<&WelcomeSettings>,
) -> Result<FirstCredential, Stop> {
    let wanted = welcome.map(|w| w.credential).unwrap_or_default();
    if wanted == WelcomeCredential::Password {
        let password = credentials::password(&ctx.client, user).await?;
        return Ok(FirstCredential::Password(password));
    }
    let settings = welcome
        .and_then(|w| w.temporary_access_pass)
        .unwrap_or_default();
    let request = AccessPassRequest {
        lifetime_minutes: settings.lifetime_minutes,
        usable_once: settings.usable_once,
    };
    match graph
        .create_temporary_access_pass(&account.id, &request)
        .await
    {
        Ok(pass) => {
            info!(upn = %account.user_principal_name, method = %pass.id,
                lifetime_minutes = ?pass.lifetime_minutes, "temporary access pass issued");
            Ok(FirstCredential::AccessPass(pass))
        }
        Err(e) if matches!(e.category, Category::Rejected | Category::Forbidden) => {
            Err(access_pass_refused(&e))
        }
        Err(e) => Err(e.into()),
    }
}

/// Entra refused the pass: the tenant's policy has the method off or other bounds, or the app
/// lacks the permission. A person has to change one of them; no mail goes out meanwhile.
fn access_pass_refused(error: &GraphError) -> Stop {
    blocked(
        Phase::Pending,
        kind::READY,
        reason::ACCESS_PASS_REFUSED,
        format!(
            "the welcome mail waits for a Temporary Access Pass, which Entra refused ({error}); \
             check the tenant's Temporary Access Pass policy, the lifetime asked for, and the \
             app's UserAuthenticationMethod.ReadWrite.All permission"
        ),
        Action::requeue(ACCESS_PASS_RETRY),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_pass_waits_for_a_person_and_says_why() {
        let refusal = GraphError {
            category: Category::Rejected,
            operation: "create temporary access pass",
            status: Some(400),
            code: "badRequest".into(),
            message: "Converged UserCredentialPolicy does not allow creating or updating this \
                      authentication method."
                .into(),
            details: Vec::new(),
            retry_after: None,
        };
        let Stop::Blocked(blocked) = access_pass_refused(&refusal) else {
            panic!("a refusal blocks the User");
        };
        assert_eq!(
            (blocked.phase, blocked.condition, blocked.reason),
            (Phase::Pending, kind::READY, reason::ACCESS_PASS_REFUSED)
        );
        assert!(
            blocked.message.contains("400 badRequest"),
            "{}",
            blocked.message
        );
        assert!(blocked.message.contains("UserCredentialPolicy"));
        assert_eq!(blocked.requeue, Action::requeue(ACCESS_PASS_RETRY));
    }
}
