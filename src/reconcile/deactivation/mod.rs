//! Deactivating one account: block sign-in, revoke tokens, leave groups, handle the licence,
//! archive, and after the retention window do what the policy says; or, for an extended leave
//! that ends, restore it all from the archive.
//!
//! Every step is idempotent and resumes after a crash at any point without doing anything
//! twice: each one first looks at what Entra shows (is sign-in blocked already? are the
//! sessions revoked since the recorded time? is the account still in the group?) and acts only
//! on what is left, and records what it must remember (the licences, the group list, the
//! revocation time) in status *before* the call that changes Entra. Status is read fresh from
//! the API at the start of each reconcile, so a lagging cache never replays a step.

mod guard;
mod record;
mod restore;
mod steps;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use tracing::{info, instrument, warn};

use super::{Context, Error, status};
use crate::api::conditions::{self, Desired};
use crate::api::deactivation::{
    Deactivation, DeactivationPhase, DeactivationPolicy, DeactivationReason, DeactivationStatus,
    Step, condition, reason,
};
use crate::api::{Phase, Tenant, User};
use crate::graph::budget::urgently;
use crate::metrics;
use crate::reconcile::note::event_note;
use crate::sla::SlaOutcome;

/// How often a finished Deactivation is looked at again, as a safety net.
const RESYNC: Duration = Duration::from_secs(3600);

/// Whether `user` is deactivated: a Deactivation of it is in effect (from just before sign-in
/// is blocked until a reactivation has finished). The User controller must then neither
/// enable nor license the account.
pub fn is_deactivated(user: &User, deactivations: &Store<Deactivation>) -> bool {
    deactivations
        .state()
        .iter()
        .any(|d| targets(d, user) && d.status.as_ref().is_some_and(DeactivationStatus::in_effect))
}

/// The phase the User shows while a Deactivation is in effect: `Inactive`; `None` otherwise,
/// when the User controller decides.
pub fn user_phase(user: &User, deactivations: &Store<Deactivation>) -> Option<Phase> {
    is_deactivated(user, deactivations).then_some(Phase::Inactive)
}

/// The User a Deactivation is about, for a controller that watches Deactivations to
/// reconcile their Users.
pub fn user_of(deactivation: &Deactivation) -> ObjectRef<User> {
    ObjectRef::new(&deactivation.spec.user).within(&deactivation.namespace().unwrap_or_default())
}

fn targets(deactivation: &Deactivation, user: &User) -> bool {
    deactivation.spec.user == user.name_any() && deactivation.namespace() == user.namespace()
}

/// What the Deactivation controller shares across reconciles.
pub struct Ctx {
    shared: Arc<Context>,
    users: Store<User>,
    deactivations: Store<Deactivation>,
    admissions: guard::Admissions,
    /// True once the Tenant and User caches hold a complete list.
    referents_synced: tokio::sync::watch::Receiver<bool>,
}

/// The Deactivation controller for `namespace` (all namespaces when `None`). Its store is
/// what [`is_deactivated`] reads; hand the controller to [`run`].
pub fn controller(client: &kube::Client, namespace: Option<&str>) -> Controller<Deactivation> {
    Controller::new(api(client, namespace), watcher::Config::default())
}

/// Deactivations in `namespace`, or in every namespace when `None`.
pub fn api(client: &kube::Client, namespace: Option<&str>) -> Api<Deactivation> {
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Runs the Deactivation controller until `stopping` resolves, then lets reconciles in flight
/// finish. `users` is the User controller's store.
///
/// The controller's own cache fills from the start, so that the User controller may wait for
/// it; reconciles wait until the Tenant and User caches are filled too, since acting before
/// would report them missing.
pub async fn run(
    controller: Controller<Deactivation>,
    shared: Arc<Context>,
    users: Store<User>,
    stopping: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let controller = controller.graceful_shutdown_on(stopping);
    let (synced, referents_synced) = tokio::sync::watch::channel(false);
    let ctx = Arc::new(Ctx {
        deactivations: controller.store(),
        shared,
        users,
        admissions: guard::Admissions::default(),
        referents_synced,
    });
    // Polled in this task: a store's readiness wakes only the last task that waited for it.
    let gate = async {
        let _ = ctx.shared.tenants.wait_until_ready().await;
        let _ = ctx.users.wait_until_ready().await;
        let _ = synced.send(true);
    };
    let controller = controller
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "deactivation reconcile did not complete");
            }
        });
    tokio::join!(gate, controller);
}

/// A pass that cannot go on until time passes or something changes.
#[derive(Debug)]
struct Waiting {
    phase: DeactivationPhase,
    reason: &'static str,
    message: String,
    requeue: Duration,
}

/// How a pass ended early.
#[derive(Debug)]
enum Stop {
    Waiting(Waiting),
    Failed(Error),
}

impl<E: Into<Error>> From<E> for Stop {
    fn from(error: E) -> Self {
        Stop::Failed(error.into())
    }
}

fn waiting(
    phase: DeactivationPhase,
    reason: &'static str,
    message: impl Into<String>,
    requeue: Duration,
) -> Stop {
    Stop::Waiting(Waiting {
        phase,
        reason,
        message: message.into(),
        requeue,
    })
}

/// Where a pass that ran to its end left the Deactivation.
#[derive(Debug, PartialEq)]
enum Done {
    /// Access is off; look again at `next` (the end of the retention window) if set.
    Deactivated {
        next: Option<Duration>,
    },
    Completed,
    Reactivated,
}

/// How a pass ended, for status.
#[derive(Debug)]
enum Report {
    Progress(DeactivationPhase),
    Done(Done),
    Waiting(Waiting),
    Failed(&'static str, String),
}

#[instrument(skip_all, fields(namespace = %deactivation.namespace().unwrap_or_default(), deactivation = %deactivation.name_any()))]
async fn reconcile(deactivation: Arc<Deactivation>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let timer = metrics::reconcile_started("Deactivation");
    let result = reconcile_fresh(&deactivation, &ctx).await;
    timer.finish(result.as_ref().err().map(Error::category));
    if result.is_ok() {
        ctx.shared.backoff.succeeded(&backoff_key(&deactivation));
    }
    result
}

/// Retries a failed reconcile with per-object exponential backoff.
fn error_policy(deactivation: Arc<Deactivation>, error: &Error, ctx: Arc<Ctx>) -> Action {
    warn!(deactivation = %deactivation.name_any(), category = error.category(), %error, "reconcile failed");
    ctx.shared.backoff.failed(backoff_key(&deactivation))
}

fn backoff_key(deactivation: &Deactivation) -> String {
    Context::backoff_key("Deactivation", deactivation)
}

/// Reconciles the object as the API server has it now: the cache may not hold the status the
/// last pass wrote yet, and acting on an older one could redo a step.
async fn reconcile_fresh(cached: &Deactivation, ctx: &Ctx) -> Result<Action, Error> {
    if cached.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let _ = ctx
        .referents_synced
        .clone()
        .wait_for(|synced| *synced)
        .await;
    let api = api_for(cached, ctx);
    let Some(fresh) = api.get_opt(&cached.name_any()).await? else {
        return Ok(Action::await_change());
    };
    let mut work = Work::new(&fresh, ctx);
    let outcome = match fresh.spec.reason {
        // Terminations and incidents go ahead of bulk work in the tenant's Graph budget.
        DeactivationReason::Termination | DeactivationReason::SecurityIncident => {
            urgently(drive(&mut work)).await
        }
        DeactivationReason::ExtendedLeave => drive(&mut work).await,
    };
    let (report, result) = match outcome {
        Ok(done) => {
            let action = match &done {
                Done::Deactivated { next: Some(next) } => Action::requeue(*next),
                _ => Action::requeue(RESYNC),
            };
            (Report::Done(done), Ok(action))
        }
        Err(Stop::Waiting(w)) => {
            let action = Action::requeue(w.requeue);
            (Report::Waiting(w), Ok(action))
        }
        Err(Stop::Failed(error)) => (
            Report::Failed(error.category(), error.to_string()),
            Err(error),
        ),
    };
    work.record(&report).await?;
    result
}

fn api_for(deactivation: &Deactivation, ctx: &Ctx) -> Api<Deactivation> {
    Api::namespaced(
        ctx.shared.client.clone(),
        &deactivation.namespace().unwrap_or_default(),
    )
}

/// One pass over one Deactivation: its status as it grows, and what to tell about it.
struct Work<'a> {
    deactivation: &'a Deactivation,
    ctx: &'a Ctx,
    status: DeactivationStatus,
    /// The status as last written, to skip writes that change nothing.
    written: Option<DeactivationStatus>,
    reactivating: bool,
    events: Vec<Event>,
}

impl<'a> Work<'a> {
    fn new(deactivation: &'a Deactivation, ctx: &'a Ctx) -> Self {
        Work {
            deactivation,
            ctx,
            status: deactivation.status.clone().unwrap_or_default(),
            written: deactivation.status.clone(),
            reactivating: false,
            events: Vec::new(),
        }
    }

    fn done(&self, step: Step) -> bool {
        self.status.completed(step).is_some()
    }

    /// Records a step as done, with a Normal Event.
    fn complete(&mut self, step: Step, message: String) {
        info!(step = step.as_str(), %message, "deactivation step done");
        self.event(EventType::Normal, step.as_str(), message.clone());
        self.status.complete(step, now(), message);
    }

    fn event(&mut self, type_: EventType, reason: &str, note: String) {
        self.events.push(Event {
            type_,
            reason: reason.into(),
            note: Some(event_note(note)),
            action: "Deactivate".into(),
            secondary: None,
        });
    }

    /// Writes progress so far, so that a crash after the next call loses nothing.
    async fn save(&mut self) -> Result<(), kube::Error> {
        let phase = match self.reactivating {
            true => DeactivationPhase::Reactivating,
            false => DeactivationPhase::Deactivating,
        };
        self.write(&Report::Progress(phase)).await
    }

    async fn write(&mut self, report: &Report) -> Result<(), kube::Error> {
        let desired = desired_status(self.deactivation, &self.status, report);
        let api = api_for(self.deactivation, self.ctx);
        status::apply(&api, self.deactivation, self.written.as_ref(), &desired).await?;
        count_sla_outcome(
            self.written.as_ref().and_then(|s| s.sla_outcome),
            desired.sla_outcome,
        );
        self.status = desired.clone();
        self.written = Some(desired);
        Ok(())
    }

    /// Writes the final status of the pass and publishes its Events.
    async fn record(&mut self, report: &Report) -> Result<(), Error> {
        let before = self.written.clone();
        self.write(report).await?;
        if let Some(event) = transition_event(before.as_ref(), &self.status, report) {
            self.events.push(event);
        }
        let reference = self.deactivation.object_ref(&());
        for event in &self.events {
            // An Event that cannot be written is not worth failing the reconcile for.
            if let Err(e) = self.ctx.shared.recorder.publish(event, &reference).await {
                warn!(error = %e, reason = %event.reason, "could not publish event");
            }
        }
        Ok(())
    }
}

/// Now, to the second: status keeps whole seconds, and comparisons must agree with it.
fn now() -> Time {
    let second = jiff::Timestamp::now().as_second();
    Time(jiff::Timestamp::from_second(second).expect("now is a valid time"))
}

/// The whole pass: find what the Deactivation refers to, start it (schedule and guard), run
/// the steps that are left, then reactivate or wait for the retention window.
async fn drive(work: &mut Work<'_>) -> Result<Done, Stop> {
    let deactivation = work.deactivation;
    if work.done(Step::SignInRestored) {
        return Ok(Done::Reactivated);
    }
    if work.done(Step::RetentionEnded) {
        return Ok(Done::Completed);
    }
    if work.status.started_at.is_none() {
        if deactivation.spec.reactivate {
            // Ended before it began: nothing was taken away, so nothing is restored.
            return Ok(Done::Reactivated);
        }
        steps::schedule(deactivation)?;
        let user = user_of_deactivation(work)?;
        let tenant = tenant_named(work.ctx, &user.spec.tenant)?;
        let policy = policy_of(&tenant);
        guard::admit(work, &user, &tenant, &policy).await?;
    }
    let tenant = tenant_named(work.ctx, work.status.tenant.as_deref().unwrap_or_default())?;
    let policy = policy_of(&tenant);
    let graph = work
        .ctx
        .shared
        .connections
        .graph(&tenant)
        .await
        .map_err(|e| {
            waiting(
                DeactivationPhase::Pending,
                reason::TENANT_NOT_CONNECTED,
                e.to_string(),
                Duration::from_secs(60),
            )
        })?;
    let account = steps::Account::of(work)?;
    steps::deactivate(work, &graph, &account, &tenant, &policy).await?;
    if deactivation.spec.reactivate {
        work.reactivating = true;
        restore::reactivate(work, &graph, &account).await?;
        return Ok(Done::Reactivated);
    }
    steps::follow_license_decision(work, &graph, &account, &policy).await?;
    steps::end_retention(work, &graph, &account, &policy).await
}

fn user_of_deactivation(work: &Work<'_>) -> Result<Arc<User>, Stop> {
    work.ctx
        .users
        .get(&user_of(work.deactivation))
        .ok_or_else(|| {
            waiting(
                DeactivationPhase::Pending,
                reason::USER_NOT_FOUND,
                format!(
                    "User {:?} does not exist in this namespace",
                    work.deactivation.spec.user
                ),
                Duration::from_secs(60),
            )
        })
}

fn tenant_named(ctx: &Ctx, name: &str) -> Result<Arc<Tenant>, Stop> {
    ctx.shared
        .tenants
        .get(&ObjectRef::new(name))
        .ok_or_else(|| {
            waiting(
                DeactivationPhase::Pending,
                reason::TENANT_NOT_FOUND,
                format!("Tenant {name:?} does not exist"),
                Duration::from_secs(120),
            )
        })
}

fn policy_of(tenant: &Tenant) -> DeactivationPolicy {
    tenant.spec.deactivation.clone().unwrap_or_default()
}

/// The status to write for a report: phase, conditions, observed generation, SLA outcome.
fn desired_status(
    deactivation: &Deactivation,
    status: &DeactivationStatus,
    report: &Report,
) -> DeactivationStatus {
    let phase = match report {
        Report::Progress(phase) => *phase,
        Report::Done(Done::Deactivated { .. }) => DeactivationPhase::Deactivated,
        Report::Done(Done::Completed) => DeactivationPhase::Completed,
        Report::Done(Done::Reactivated) => DeactivationPhase::Reactivated,
        Report::Waiting(w) => w.phase,
        Report::Failed(..) => status.phase.unwrap_or(DeactivationPhase::Pending),
    };
    let generation = deactivation.metadata.generation;
    let wanted = [ready_condition(report), paused_condition(report)];
    let mut desired = status.clone();
    desired.phase = Some(phase);
    desired.observed_generation = generation;
    desired.sla_outcome = status
        .sla
        .as_ref()
        .map(|sla| sla.outcome(jiff::Timestamp::now()));
    desired.conditions = conditions::merge(&status.conditions, &wanted, generation, &now());
    desired
}

fn ready_condition(report: &Report) -> Desired {
    let ready = |why, message: &str| Desired::new(condition::READY, true, why, message);
    match report {
        Report::Done(Done::Deactivated { .. }) => ready(
            reason::DEACTIVATED,
            "access is off and the record archived; the mailbox is retained",
        ),
        Report::Done(Done::Completed) => ready(
            reason::COMPLETED,
            "the retention window ended and the policy's last step is done",
        ),
        Report::Done(Done::Reactivated) => ready(
            reason::REACTIVATED,
            "the leave ended and access is restored",
        ),
        Report::Progress(_) => Desired::new(
            condition::READY,
            false,
            reason::IN_PROGRESS,
            "steps in progress",
        ),
        Report::Waiting(w) => Desired::new(condition::READY, false, w.reason, w.message.clone()),
        Report::Failed(category, message) => {
            Desired::new(condition::READY, false, category, message.clone())
        }
    }
}

fn paused_condition(report: &Report) -> Desired {
    match report {
        Report::Waiting(w) if w.reason == reason::MASS_DEACTIVATION_GUARD => {
            Desired::new(condition::PAUSED, true, w.reason, w.message.clone())
        }
        _ => Desired::new(
            condition::PAUSED,
            false,
            reason::NOT_PAUSED,
            "not held by the mass-deactivation guard",
        ),
    }
}

/// One Event when Ready changes its reason to something a person should see, and the SLA
/// outcome once it is known.
fn transition_event(
    previous: Option<&DeactivationStatus>,
    desired: &DeactivationStatus,
    report: &Report,
) -> Option<Event> {
    let ready_reason = |s: &DeactivationStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == condition::READY)
            .map(|c| c.reason.clone())
    };
    let now = ready_reason(desired)?;
    if previous.and_then(ready_reason).as_deref() == Some(now.as_str()) {
        return None;
    }
    let (type_, note) = match report {
        Report::Done(_) => (EventType::Normal, phase_note(desired)),
        Report::Waiting(w) if w.reason == reason::SCHEDULED => return None,
        Report::Waiting(w) => (EventType::Warning, w.message.clone()),
        Report::Failed(_, message) => (EventType::Warning, message.clone()),
        Report::Progress(_) => return None,
    };
    Some(Event {
        type_,
        reason: now,
        note: Some(event_note(note)),
        action: "Deactivate".into(),
        secondary: None,
    })
}

fn phase_note(status: &DeactivationStatus) -> String {
    let mut note = format!(
        "phase {:?}",
        status.phase.unwrap_or(DeactivationPhase::Pending)
    );
    if let (Some(sla), Some(outcome)) = (&status.sla, status.sla_outcome) {
        note.push_str(&format!(
            "; termination SLA {outcome:?} (due {})",
            sla.due_at.0
        ));
    }
    note
}

/// Counts the SLA outcome once, when it is first known.
fn count_sla_outcome(before: Option<SlaOutcome>, after: Option<SlaOutcome>) {
    if before == after {
        return;
    }
    let outcome = match after {
        Some(SlaOutcome::Met) => metrics::SlaOutcome::Met,
        Some(SlaOutcome::Breached) => metrics::SlaOutcome::Breached,
        Some(SlaOutcome::InProgress) | None => return,
    };
    metrics::sla_outcome("Deactivation", outcome);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::UserStatus;
    use crate::api::deactivation::{DeactivationSpec, Requester};
    use crate::sla::SlaRecord;
    use kube::runtime::reflector;

    fn deactivation(status: Option<DeactivationStatus>) -> Deactivation {
        let mut d = Deactivation::new(
            "ann-leaves",
            DeactivationSpec {
                user: "ann".into(),
                reason: DeactivationReason::Termination,
                requester: Requester {
                    email: "hr@contoso.example".into(),
                    reference: "HR-1".into(),
                },
                effective_at: None,
                leave: None,
                note: None,
                reactivate: false,
                license_decision: None,
            },
        );
        d.metadata.namespace = Some("people".into());
        d.metadata.generation = Some(2);
        d.status = status;
        d
    }

    fn user(namespace: &str) -> User {
        let mut user = crate::api::user::fixture::user(namespace, "ann", "default");
        user.status = Some(UserStatus::default());
        user
    }

    fn time(secs: i64) -> Time {
        Time(jiff::Timestamp::from_second(secs).unwrap())
    }

    fn condition<'a>(status: &'a DeactivationStatus, type_: &str) -> (&'a str, &'a str) {
        let c = status.conditions.iter().find(|c| c.type_ == type_).unwrap();
        (c.status.as_str(), c.reason.as_str())
    }

    fn paused() -> Report {
        Report::Waiting(Waiting {
            phase: DeactivationPhase::Paused,
            reason: reason::MASS_DEACTIVATION_GUARD,
            message: "11 deactivations started".into(),
            requeue: Duration::from_secs(60),
        })
    }

    #[test]
    fn a_paused_deactivation_says_so_in_two_conditions() {
        let d = deactivation(None);
        let status = desired_status(&d, &DeactivationStatus::default(), &paused());
        assert_eq!(status.phase, Some(DeactivationPhase::Paused));
        assert_eq!(
            condition(&status, condition::PAUSED),
            ("True", "MassDeactivationGuard")
        );
        assert_eq!(
            condition(&status, condition::READY),
            ("False", "MassDeactivationGuard")
        );
        assert_eq!(status.observed_generation, Some(2));
        let event = transition_event(None, &status, &paused()).expect("a warning");
        assert_eq!(event.type_, EventType::Warning);
        assert!(transition_event(Some(&status), &status, &paused()).is_none());
    }

    #[test]
    fn done_is_ready_and_reports_the_sla() {
        let d = deactivation(None);
        let mut sla = SlaRecord {
            started_at: time(1_000),
            due_at: time(4_600),
            completed_at: None,
        };
        sla.complete(jiff::Timestamp::from_second(2_000).unwrap());
        let working = DeactivationStatus {
            sla: Some(sla),
            ..Default::default()
        };
        let report = Report::Done(Done::Deactivated { next: None });
        let status = desired_status(&d, &working, &report);
        assert_eq!(status.phase, Some(DeactivationPhase::Deactivated));
        assert_eq!(
            condition(&status, condition::READY),
            ("True", "Deactivated")
        );
        assert_eq!(
            condition(&status, condition::PAUSED),
            ("False", "NotPaused")
        );
        assert_eq!(status.sla_outcome, Some(SlaOutcome::Met));
        let event = transition_event(None, &status, &report).expect("a Normal event");
        assert_eq!(event.type_, EventType::Normal);
        assert!(event.note.unwrap().contains("Met"));
    }

    #[test]
    fn waiting_for_the_schedule_is_not_worth_an_event() {
        let report = Report::Waiting(Waiting {
            phase: DeactivationPhase::Scheduled,
            reason: reason::SCHEDULED,
            message: "takes effect later".into(),
            requeue: Duration::from_secs(60),
        });
        let status = desired_status(&deactivation(None), &DeactivationStatus::default(), &report);
        assert_eq!(status.phase, Some(DeactivationPhase::Scheduled));
        assert!(transition_event(None, &status, &report).is_none());
    }

    #[test]
    fn a_user_is_deactivated_from_inactive_since_until_reactivated() {
        let (store, mut writer) = reflector::store::<Deactivation>();
        let mut apply = |status| {
            writer.apply_watcher_event(&watcher::Event::Apply(deactivation(status)));
        };
        apply(None);
        assert!(!is_deactivated(&user("people"), &store));
        let mut status = DeactivationStatus {
            phase: Some(DeactivationPhase::Deactivating),
            inactive_since: Some(time(10)),
            ..Default::default()
        };
        apply(Some(status.clone()));
        assert!(is_deactivated(&user("people"), &store));
        assert_eq!(user_phase(&user("people"), &store), Some(Phase::Inactive));
        assert!(
            !is_deactivated(&user("elsewhere"), &store),
            "same name, other namespace"
        );
        status.phase = Some(DeactivationPhase::Reactivated);
        apply(Some(status));
        assert!(!is_deactivated(&user("people"), &store));
        assert_eq!(user_phase(&user("people"), &store), None);
    }
}
