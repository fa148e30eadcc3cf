//! Provisioning one User, as the procedure asks: HR approval first, then credentials, the
//! account, its licence, the first-session token and the welcome mail.
//!
//! Order matters for "never a duplicate, never a half-created account":
//! 1. nothing is written to Entra before the approval is accepted;
//! 2. the password is stored in a Secret before Graph sees it;
//! 3. an address is looked up in every form Entra matches before any create, and an account
//!    found under it is adopted only if it carries this User's ownership marker;
//! 4. the object id, and each mail's "sending", go into status before the next step.

mod account;
mod flow;
mod license;
mod notify;
mod onboarding;
mod report;

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use tracing::{instrument, warn};

use super::{Context, Error, deactivation};
use crate::api::conditions::{kind, reason};
use crate::api::{Phase, Tenant, User};
use crate::connections::ConnectionError;
use crate::graph::{Category, GraphError};
use crate::metrics;
use crate::names::{self, MailIdentity};
use crate::sla::SlaOutcome;
use flow::{Facts, Report, Stop, blocked};

/// How often an Active User is checked against Entra again.
const RESYNC: Duration = Duration::from_secs(600);

/// The value of the ownership marker for a User: the account belongs to this manifest.
pub fn owner_marker(user: &User) -> String {
    format!(
        "m365-operator:{}/{}",
        user.namespace().unwrap_or_default(),
        user.name_any()
    )
}

/// Reconciles one User and records the outcome in its status.
#[instrument(skip_all, fields(namespace = %user.namespace().unwrap_or_default(), user = %user.name_any()))]
pub async fn reconcile(user: Arc<User>, ctx: Arc<Context>) -> Result<Action, Error> {
    let mut facts = Facts::from_status(&user);
    facts.role = Some(crate::roles::effective_role(
        &ctx.role_assignments.state(),
        &user.namespace().unwrap_or_default(),
        &user.name_any(),
    ));
    let outcome = provision(&user, &ctx, &mut facts).await;
    let (report, result) = match outcome {
        Ok(()) => (Report::Active, Ok(Action::requeue(RESYNC))),
        Err(Stop::Blocked(blocked)) => {
            let requeue = blocked.requeue.clone();
            (Report::Blocked(blocked), Ok(requeue))
        }
        Err(Stop::Failed(error)) => (
            Report::Failed(error.category(), error.to_string()),
            Err(error),
        ),
    };
    report::record(&user, &ctx, &facts, &report).await?;
    if result.is_ok() {
        ctx.backoff
            .succeeded(&Context::backoff_key("User", user.as_ref()));
    }
    result
}

/// Retries a failed reconcile with per-object exponential backoff.
pub fn error_policy(user: Arc<User>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(user = %user.name_any(), category = error.category(), %error, "reconcile failed");
    ctx.backoff
        .failed(Context::backoff_key("User", user.as_ref()))
}

async fn provision(user: &User, ctx: &Context, facts: &mut Facts) -> Result<(), Stop> {
    // A Deactivation owns the account until it is reactivated: never re-enable or re-license.
    if deactivation::is_deactivated(user, &ctx.deactivations) {
        return Err(blocked(
            Phase::Inactive,
            kind::LICENSED,
            reason::DEACTIVATED,
            "a Deactivation is in effect; see its status".into(),
            Action::await_change(),
        ));
    }
    let tenant = tenant_of(user, ctx)?;
    let identity = mail_identity(user)?;
    let upn = identity.user_principal_name(&tenant.spec.domain);
    facts.upn = Some(upn.clone());
    facts.mail_nickname = Some(identity.mail_nickname.clone());
    let news = onboarding::track_deadline(user, &tenant, facts, false);
    report_deadline(facts, news);
    let graph = ctx
        .connections
        .graph(&tenant)
        .await
        .map_err(not_connected)?;
    let steps = async {
        if facts.object_id.is_none() {
            onboarding::check_approval(user, &tenant, &graph).await?;
            facts.approved = true;
        }
        let request = account::Request {
            user,
            tenant: &tenant,
            identity: &identity,
            upn: &upn,
        };
        let account = account::ensure_account(&request, ctx, &graph, facts).await?;
        // Status tells what Entra holds: a later manifest edit does not rename the account.
        facts.upn = Some(account.user_principal_name.clone());
        license::ensure_license(user, &tenant, ctx, &graph, &account, facts).await?;
        onboarding::issue_first_session(user, ctx, &account, facts).await?;
        onboarding::welcome(user, &tenant, ctx, &graph, &account, facts).await
    };
    let result = steps.await;
    if let Err(stop) = &result {
        forget_refused_credentials(ctx, &tenant, stop);
    }
    result?;
    let news = onboarding::track_deadline(user, &tenant, facts, true);
    report_deadline(facts, news);
    Ok(())
}

/// A Warning the moment the deadline is known to be missed; the metric when work completes.
fn report_deadline(facts: &mut Facts, news: onboarding::DeadlineNews) {
    if news.missed {
        let due = facts
            .sla
            .as_ref()
            .map(|s| s.due_at.0.to_string())
            .unwrap_or_default();
        facts.warning(
            reason::DEADLINE_MISSED,
            format!("Provisioning missed its deadline of {due}"),
        );
    }
    if let Some(outcome) = news.completed {
        let counted = match outcome {
            SlaOutcome::Breached => metrics::SlaOutcome::Breached,
            _ => metrics::SlaOutcome::Met,
        };
        metrics::sla_outcome("User", counted);
    }
}

fn tenant_of(user: &User, ctx: &Context) -> Result<Arc<Tenant>, Stop> {
    ctx.tenants
        .get(&ObjectRef::new(&user.spec.tenant))
        .ok_or_else(|| {
            blocked(
                Phase::Pending,
                kind::PROVISIONED,
                reason::TENANT_NOT_FOUND,
                format!("Tenant {:?} does not exist", user.spec.tenant),
                Action::requeue(Duration::from_secs(120)),
            )
        })
}

fn mail_identity(user: &User) -> Result<MailIdentity, Stop> {
    let spec = &user.spec;
    names::mail_identity(
        &spec.given_name,
        &spec.surname,
        spec.upn_local_part.as_deref(),
        spec.mail_nickname.as_deref(),
    )
    .map_err(|e| {
        blocked(
            Phase::Failed,
            kind::PROVISIONED,
            reason::INVALID_NAME,
            e.to_string(),
            Action::await_change(),
        )
    })
}

fn not_connected(error: ConnectionError) -> Stop {
    blocked(
        Phase::Pending,
        kind::PROVISIONED,
        reason::CREDENTIALS_MISSING,
        error.to_string(),
        Action::requeue(Duration::from_secs(60)),
    )
}

/// A rotated client secret shows up as refused credentials: re-read it next time.
fn forget_refused_credentials(ctx: &Context, tenant: &Tenant, stop: &Stop) {
    if let Stop::Failed(Error::Graph(e)) = stop
        && e.category == Category::Unauthenticated
    {
        ctx.connections.forget(tenant);
    }
}

/// Graph refused a request as invalid: it would fail the same way again until the manifest
/// or the tenant changes.
fn rejected(condition: &'static str, error: &GraphError) -> Stop {
    blocked(
        Phase::Failed,
        condition,
        reason::GRAPH_REJECTED,
        error.to_string(),
        Action::requeue(Duration::from_secs(600)),
    )
}
