//! Provisioning one User: credentials first, then the account, then its licence.
//!
//! Order matters for "never a duplicate, never a half-created account":
//! 1. the password is stored in a Secret before Graph sees it;
//! 2. an account is looked up by UPN before any create, and adopted only if it carries this
//!    User's ownership marker;
//! 3. the object id goes into status the moment Graph answers the create.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use tracing::{info, instrument, warn};

use super::{Context, Error, status};
use crate::api::conditions::{self, Desired, kind, reason};
use crate::api::{Phase, Tenant, User, UserStatus};
use crate::connections::ConnectionError;
use crate::credentials;
use crate::graph::licenses::find_sku;
use crate::graph::users::{DirectoryUser, NewUser};
use crate::graph::{Category, Graph, GraphError};
use crate::names::{self, MailIdentity};

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
    record(&user, &ctx, &facts, &report).await?;
    let key = Context::backoff_key("User", user.as_ref());
    if result.is_ok() {
        ctx.backoff.succeeded(&key);
    }
    result
}

/// Retries a failed reconcile with per-object exponential backoff.
pub fn error_policy(user: Arc<User>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(user = %user.name_any(), category = error.category(), %error, "reconcile failed");
    ctx.backoff
        .failed(Context::backoff_key("User", user.as_ref()))
}

/// What one pass learned, whatever its outcome.
#[derive(Default)]
struct Facts {
    upn: Option<String>,
    mail_nickname: Option<String>,
    object_id: Option<String>,
    adopted: bool,
    license: Option<String>,
    credentials_secret: Option<String>,
    events: Vec<Event>,
}

impl Facts {
    fn from_status(user: &User) -> Self {
        let status = user.status.clone().unwrap_or_default();
        Facts {
            object_id: status.object_id,
            credentials_secret: status.credentials_secret,
            ..Default::default()
        }
    }

    fn event(&mut self, reason: &str, note: String) {
        self.events.push(Event {
            type_: EventType::Normal,
            reason: reason.into(),
            note: Some(note),
            action: "Provision".into(),
            secondary: None,
        });
    }
}

/// A pass that cannot go on until something changes: time, Entra, or the manifest.
#[derive(Debug)]
struct Blocked {
    phase: Phase,
    /// The specific condition this explains.
    condition: &'static str,
    reason: &'static str,
    message: String,
    requeue: Action,
}

enum Stop {
    Blocked(Blocked),
    Failed(Error),
}

impl<E: Into<Error>> From<E> for Stop {
    fn from(error: E) -> Self {
        Stop::Failed(error.into())
    }
}

fn blocked(
    phase: Phase,
    condition: &'static str,
    reason: &'static str,
    message: String,
    requeue: Action,
) -> Stop {
    Stop::Blocked(Blocked {
        phase,
        condition,
        reason,
        message,
        requeue,
    })
}

async fn provision(user: &User, ctx: &Context, facts: &mut Facts) -> Result<(), Stop> {
    let tenant = tenant_of(user, ctx)?;
    let identity = mail_identity(user)?;
    let upn = identity.user_principal_name(&tenant.spec.domain);
    facts.upn = Some(upn.clone());
    facts.mail_nickname = Some(identity.mail_nickname.clone());
    let graph = ctx
        .connections
        .graph(&tenant)
        .await
        .map_err(not_connected)?;
    let account = ensure_account(user, ctx, &graph, &identity, &upn, facts)
        .await
        .inspect_err(|stop| forget_refused_credentials(ctx, &tenant, stop))?;
    ensure_license(user, &tenant, &graph, &account, facts).await
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

async fn ensure_account(
    user: &User,
    ctx: &Context,
    graph: &Graph,
    identity: &MailIdentity,
    upn: &str,
    facts: &mut Facts,
) -> Result<DirectoryUser, Stop> {
    if let Some(id) = facts.object_id.clone() {
        return graph
            .get_user(&id)
            .await?
            .ok_or_else(|| not_replicated(&id));
    }
    if let Some(existing) = graph.find_user_by_upn(upn).await? {
        return adopt(user, ctx, existing, facts).await;
    }
    let password = credentials::ensure(&ctx.client, user, upn).await?;
    facts.credentials_secret = Some(credentials::secret_name(user));
    let display_name = user.display_name();
    let new_user = NewUser {
        user_principal_name: upn,
        mail_nickname: &identity.mail_nickname,
        display_name: &display_name,
        given_name: user.spec.given_name.trim(),
        surname: user.spec.surname.trim(),
        department: user.spec.department.as_deref(),
        job_title: user.spec.job_title.as_deref(),
        usage_location: &user.spec.usage_location,
        password: &password,
        owner_marker: &owner_marker(user),
    };
    match graph.create_user(&new_user).await {
        Ok(account) => {
            info!(upn, object_id = %account.id, "account created");
            facts.object_id = Some(account.id.clone());
            facts.event(
                reason::ACCOUNT_CREATED,
                format!("Created Entra account {upn} ({})", account.id),
            );
            record_progress(user, ctx, facts).await?;
            Ok(account)
        }
        Err(e) if e.category == Category::Conflict => Err(create_conflict(graph, upn, e).await),
        Err(e) if e.category == Category::Rejected => Err(rejected(kind::PROVISIONED, &e)),
        Err(e) => Err(e.into()),
    }
}

/// Takes over an account found under our UPN, but only one this User created.
async fn adopt(
    user: &User,
    ctx: &Context,
    existing: DirectoryUser,
    facts: &mut Facts,
) -> Result<DirectoryUser, Stop> {
    if existing.owner_marker() != Some(owner_marker(user).as_str()) {
        return Err(upn_taken(&existing.user_principal_name));
    }
    info!(upn = %existing.user_principal_name, object_id = %existing.id, "account adopted");
    facts.object_id = Some(existing.id.clone());
    facts.adopted = true;
    facts.event(
        reason::ACCOUNT_ADOPTED,
        format!(
            "Found Entra account {} ({}) created for this User",
            existing.user_principal_name, existing.id
        ),
    );
    record_progress(user, ctx, facts).await?;
    Ok(existing)
}

/// Graph refused the create as a duplicate. Either the account is ours and not replicated
/// to the lookup yet (an earlier create whose answer we lost), or the address belongs to
/// someone else; look once more to tell which.
async fn create_conflict(graph: &Graph, upn: &str, conflict: GraphError) -> Stop {
    match graph.find_user_by_upn(upn).await {
        Ok(Some(existing)) => upn_taken(&existing.user_principal_name),
        Ok(None) if conflict.target() != Some("userPrincipalName") => upn_taken(upn),
        Ok(None) => blocked(
            Phase::Provisioning,
            kind::PROVISIONED,
            reason::ACCOUNT_PENDING,
            format!(
                "Entra reports {upn} as taken but does not show the account yet; looking again shortly"
            ),
            Action::requeue(Duration::from_secs(10)),
        ),
        Err(e) => e.into(),
    }
}

fn upn_taken(upn: &str) -> Stop {
    blocked(
        Phase::Pending,
        kind::PROVISIONED,
        reason::UPN_TAKEN,
        format!(
            "{upn} is already used by an account this User does not own; set spec.upnLocalPart"
        ),
        Action::requeue(Duration::from_secs(300)),
    )
}

fn not_replicated(id: &str) -> Stop {
    blocked(
        Phase::Provisioning,
        kind::PROVISIONED,
        reason::ACCOUNT_PENDING,
        format!(
            "Entra does not show account {id} yet; new accounts can take a minute to replicate"
        ),
        Action::requeue(Duration::from_secs(10)),
    )
}

fn rejected(condition: &'static str, error: &GraphError) -> Stop {
    blocked(
        Phase::Failed,
        condition,
        reason::GRAPH_REJECTED,
        error.to_string(),
        Action::requeue(Duration::from_secs(600)),
    )
}

async fn ensure_license(
    user: &User,
    tenant: &Tenant,
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
            return Err(no_seats(&part_number));
        }
        assign(graph, account, &sku.sku_id, &part_number).await?;
        facts.event(
            reason::LICENSE_ASSIGNED,
            format!("Assigned {part_number} ({tier})"),
        );
        info!(upn = %account.user_principal_name, sku = %part_number, "license assigned");
    }
    facts.license = Some(part_number);
    Ok(())
}

async fn assign(
    graph: &Graph,
    account: &DirectoryUser,
    sku_id: &str,
    part_number: &str,
) -> Result<(), Stop> {
    match graph.assign_license(&account.id, sku_id).await {
        Ok(()) => Ok(()),
        Err(e) if e.category == Category::NotFound => Err(not_replicated(&account.id)),
        // Seats can run out between our count and the assignment.
        Err(e) if e.message.contains("available licenses") => Err(no_seats(part_number)),
        Err(e) if e.category == Category::Rejected => Err(rejected(kind::LICENSED, &e)),
        Err(e) => Err(e.into()),
    }
}

fn no_seats(part_number: &str) -> Stop {
    blocked(
        Phase::Pending,
        kind::LICENSED,
        reason::LICENSE_UNAVAILABLE,
        format!("no free {part_number} seats; the User continues once seats are added"),
        Action::requeue(Duration::from_secs(120)),
    )
}

/// How the pass ended, for status.
enum Report {
    Active,
    Blocked(Blocked),
    Failed(&'static str, String),
}

/// Writes the object id at once, so a crash after the create cannot lose it.
async fn record_progress(user: &User, ctx: &Context, facts: &Facts) -> Result<(), kube::Error> {
    let in_progress = Report::Blocked(Blocked {
        phase: Phase::Provisioning,
        condition: kind::LICENSED,
        reason: reason::IN_PROGRESS,
        message: "account created; assigning the licence".into(),
        requeue: Action::await_change(),
    });
    let api: Api<User> = Api::namespaced(ctx.client.clone(), &user.namespace().unwrap_or_default());
    let desired = desired_status(user, facts, &in_progress);
    status::apply(&api, user, user.status.as_ref(), &desired).await
}

async fn record(user: &User, ctx: &Context, facts: &Facts, report: &Report) -> Result<(), Error> {
    let api: Api<User> = Api::namespaced(ctx.client.clone(), &user.namespace().unwrap_or_default());
    let desired = desired_status(user, facts, report);
    status::apply(&api, user, user.status.as_ref(), &desired).await?;
    let reference = user.object_ref(&());
    let transition = transition_event(user.status.as_ref(), &desired, report);
    for event in facts.events.iter().chain(transition.as_ref()) {
        // An Event that cannot be written is not worth failing the reconcile for.
        if let Err(e) = ctx.recorder.publish(event, &reference).await {
            warn!(error = %e, reason = %event.reason, "could not publish event");
        }
    }
    Ok(())
}

fn desired_status(user: &User, facts: &Facts, report: &Report) -> UserStatus {
    let previous = user.status.clone().unwrap_or_default();
    let phase = match report {
        Report::Active => Phase::Active,
        Report::Blocked(b) => b.phase,
        Report::Failed(..) => previous.phase.unwrap_or(Phase::Pending),
    };
    let wanted = [
        provisioned_condition(&previous, facts, report),
        licensed_condition(facts, report),
        ready_condition(facts, report),
    ];
    let now = Time(jiff::Timestamp::now());
    UserStatus {
        phase: Some(phase),
        object_id: facts.object_id.clone(),
        user_principal_name: facts.upn.clone().or(previous.user_principal_name),
        mail_nickname: facts.mail_nickname.clone().or(previous.mail_nickname),
        assigned_license: facts.license.clone(),
        credentials_secret: facts.credentials_secret.clone(),
        observed_generation: user.metadata.generation,
        conditions: conditions::merge(
            &previous.conditions,
            &wanted,
            user.metadata.generation,
            &now,
        ),
    }
}

fn provisioned_condition(previous: &UserStatus, facts: &Facts, report: &Report) -> Desired {
    if let Some(id) = &facts.object_id {
        // Whether the account was adopted is learnt once; later passes keep saying so.
        let adopted = facts.adopted
            || previous.conditions.iter().any(|c| {
                c.type_ == kind::PROVISIONED
                    && c.status == "True"
                    && c.reason == reason::ACCOUNT_ADOPTED
            });
        let (why, verb) = match adopted {
            true => (reason::ACCOUNT_ADOPTED, "adopted"),
            false => (reason::ACCOUNT_CREATED, "exists"),
        };
        return Desired::new(kind::PROVISIONED, true, why, format!("account {id} {verb}"));
    }
    match report {
        Report::Blocked(b) if b.condition == kind::PROVISIONED => {
            Desired::new(kind::PROVISIONED, false, b.reason, b.message.clone())
        }
        _ => Desired::new(
            kind::PROVISIONED,
            false,
            reason::ACCOUNT_PENDING,
            "no account yet",
        ),
    }
}

fn licensed_condition(facts: &Facts, report: &Report) -> Desired {
    if let Some(part) = &facts.license {
        return Desired::new(
            kind::LICENSED,
            true,
            reason::LICENSE_ASSIGNED,
            format!("{part} assigned"),
        );
    }
    match report {
        Report::Blocked(b) if b.condition == kind::LICENSED => {
            Desired::new(kind::LICENSED, false, b.reason, b.message.clone())
        }
        _ => Desired::new(
            kind::LICENSED,
            false,
            reason::LICENSE_PENDING,
            "waiting for the account",
        ),
    }
}

fn ready_condition(facts: &Facts, report: &Report) -> Desired {
    match report {
        Report::Active => Desired::new(
            kind::READY,
            true,
            reason::PROVISIONED,
            format!(
                "{} is active and licensed",
                facts.upn.as_deref().unwrap_or("the account")
            ),
        ),
        Report::Blocked(b) => Desired::new(kind::READY, false, b.reason, b.message.clone()),
        Report::Failed(category, message) => {
            Desired::new(kind::READY, false, category, message.clone())
        }
    }
}

/// One Event when Ready changes its reason: Normal when the account became ready, Warning
/// when something needs attention. Steady states publish nothing.
fn transition_event(
    previous: Option<&UserStatus>,
    desired: &UserStatus,
    report: &Report,
) -> Option<Event> {
    let ready = |s: &UserStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == kind::READY)
            .map(|c| c.reason.clone())
    };
    let now = ready(desired)?;
    if previous.and_then(ready).as_deref() == Some(now.as_str()) {
        return None;
    }
    let (type_, note) = match report {
        Report::Active => (
            EventType::Normal,
            "Account is active and licensed".to_string(),
        ),
        Report::Blocked(b)
            if b.reason == reason::ACCOUNT_PENDING || b.reason == reason::IN_PROGRESS =>
        {
            return None;
        }
        Report::Blocked(b) => (EventType::Warning, b.message.clone()),
        Report::Failed(_, message) => (EventType::Warning, message.clone()),
    };
    Some(Event {
        type_,
        reason: now,
        note: Some(truncate(note, 1024)),
        action: "Provision".into(),
        secondary: None,
    })
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let cut = (0..=max - 3)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::user::Approval;
    use crate::api::{LicenseTier, UserSpec};

    fn user() -> User {
        let mut user = User::new(
            "ann",
            UserSpec {
                tenant: "default".into(),
                given_name: "Ann".into(),
                surname: "Lee".into(),
                display_name: None,
                department: None,
                job_title: None,
                usage_location: "DE".into(),
                license: LicenseTier::E3,
                upn_local_part: None,
                mail_nickname: None,
                approval: Approval {
                    approver: "hr@contoso.com".into(),
                    reference: "HR-1".into(),
                    approved_at: Time(jiff::Timestamp::UNIX_EPOCH),
                },
                welcome_mail: None,
            },
        );
        user.metadata.namespace = Some("people".into());
        user.metadata.generation = Some(3);
        user
    }

    fn facts_with_account() -> Facts {
        Facts {
            upn: Some("ann.lee@contoso.com".into()),
            object_id: Some("id-1".into()),
            ..Default::default()
        }
    }

    fn reason_of(status: &UserStatus, type_: &str) -> String {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap()
            .reason
            .clone()
    }

    #[test]
    fn the_marker_names_the_manifest() {
        assert_eq!(owner_marker(&user()), "m365-operator:people/ann");
    }

    #[test]
    fn active_means_every_condition_true() {
        let mut facts = facts_with_account();
        facts.license = Some("ENTERPRISEPACK".into());
        let status = desired_status(&user(), &facts, &Report::Active);
        assert_eq!(status.phase, Some(Phase::Active));
        assert_eq!(status.observed_generation, Some(3));
        assert!(status.conditions.iter().all(|c| c.status == "True"));
        assert!(
            status
                .conditions
                .iter()
                .all(|c| c.observed_generation == Some(3))
        );
    }

    #[test]
    fn a_licence_block_leaves_the_account_provisioned() {
        let Stop::Blocked(b) = no_seats("ENTERPRISEPACK") else {
            unreachable!()
        };
        let status = desired_status(&user(), &facts_with_account(), &Report::Blocked(b));
        assert_eq!(status.phase, Some(Phase::Pending));
        assert_eq!(
            reason_of(&status, kind::PROVISIONED),
            reason::ACCOUNT_CREATED
        );
        assert_eq!(
            reason_of(&status, kind::LICENSED),
            reason::LICENSE_UNAVAILABLE
        );
        assert_eq!(reason_of(&status, kind::READY), reason::LICENSE_UNAVAILABLE);
    }

    #[test]
    fn a_failure_keeps_the_phase_and_says_why() {
        let mut previous = user();
        previous.status = Some(UserStatus {
            phase: Some(Phase::Active),
            ..Default::default()
        });
        let report = Report::Failed("GraphUnavailable", "Microsoft Graph: 503".into());
        let status = desired_status(&previous, &facts_with_account(), &report);
        assert_eq!(status.phase, Some(Phase::Active));
        assert_eq!(reason_of(&status, kind::READY), "GraphUnavailable");
    }

    #[test]
    fn events_fire_on_transitions_only() {
        let Stop::Blocked(b) = upn_taken("ann.lee@contoso.com") else {
            unreachable!()
        };
        let report = Report::Blocked(b);
        let first = desired_status(&user(), &Facts::default(), &report);
        let event = transition_event(None, &first, &report).expect("a warning on the transition");
        assert_eq!(event.type_, EventType::Warning);
        assert_eq!(event.reason, reason::UPN_TAKEN);
        assert!(transition_event(Some(&first), &first, &report).is_none());
    }

    #[test]
    fn waiting_for_replication_is_not_worth_an_event() {
        let report = match not_replicated("id-1") {
            Stop::Blocked(b) => Report::Blocked(b),
            Stop::Failed(_) => unreachable!(),
        };
        let status = desired_status(&user(), &facts_with_account(), &report);
        assert!(transition_event(None, &status, &report).is_none());
    }

    #[test]
    fn long_notes_are_cut_at_a_character_boundary() {
        let cut = truncate("ü".repeat(700), 1024);
        assert!(cut.len() <= 1024 && cut.ends_with("..."));
    }
}
