//! Turning a pass's facts into status, and status transitions into Events.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use tracing::warn;

use super::flow::{Blocked, Facts, Report};
use crate::api::conditions::{self, Desired, kind, reason};
use crate::api::{Phase, User, UserStatus};
use crate::reconcile::note::event_note;
use crate::reconcile::{Context, Error, status};

/// Writes the status as it stands mid-pass: the object id right after a create, a mail's
/// "sending" before it goes out. A crash after this point cannot lose those facts.
pub(super) async fn record_progress(
    user: &User,
    ctx: &Context,
    facts: &Facts,
    report: &Report,
) -> Result<(), kube::Error> {
    let api: Api<User> = Api::namespaced(ctx.client.clone(), &user.namespace().unwrap_or_default());
    let desired = desired_status(user, facts, report);
    status::apply(&api, user, user.status.as_ref(), &desired).await
}

/// The progress report while provisioning goes on.
pub(super) fn in_progress(message: &str) -> Report {
    Report::Blocked(Blocked {
        phase: Phase::Provisioning,
        condition: kind::READY,
        reason: reason::IN_PROGRESS,
        message: message.to_string(),
        requeue: kube::runtime::controller::Action::await_change(),
    })
}

/// Writes the final status of a pass and publishes its Events.
pub(super) async fn record(
    user: &User,
    ctx: &Context,
    facts: &Facts,
    report: &Report,
) -> Result<(), Error> {
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

pub(super) fn desired_status(user: &User, facts: &Facts, report: &Report) -> UserStatus {
    let previous = user.status.clone().unwrap_or_default();
    let phase = match report {
        Report::Active => Phase::Active,
        Report::Blocked(b) => b.phase,
        Report::Failed(..) => previous.phase.unwrap_or(Phase::Pending),
    };
    let wanted = [
        approved_condition(facts, report),
        provisioned_condition(&previous, facts, report),
        licensed_condition(facts, report),
        flag_condition(
            kind::DUPLICATE_EMAIL,
            report,
            reason::DUPLICATE_EMAIL,
            reason::ADDRESS_FREE,
        ),
        flag_condition(
            kind::LICENSE_UNAVAILABLE,
            report,
            reason::LICENSE_UNAVAILABLE,
            reason::SEATS_AVAILABLE,
        ),
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
        alternates: facts.alternates.clone(),
        sla: facts.sla.clone(),
        sla_outcome: facts.sla_outcome,
        first_session: facts.first_session.clone(),
        notifications: facts.notifications.clone(),
        role: facts.role.as_ref().map(|r| r.role),
        role_assignment: facts.role.as_ref().and_then(|r| r.assignment.clone()),
    }
}

fn blocked_on<'a>(report: &'a Report, condition: &str) -> Option<&'a Blocked> {
    match report {
        Report::Blocked(b) if b.condition == condition => Some(b),
        _ => None,
    }
}

fn approved_condition(facts: &Facts, report: &Report) -> Desired {
    if facts.approved || facts.object_id.is_some() {
        return Desired::new(
            kind::APPROVED,
            true,
            reason::APPROVED,
            "the HR approval was accepted",
        );
    }
    match blocked_on(report, kind::APPROVED) {
        Some(b) => Desired::new(kind::APPROVED, false, b.reason, b.message.clone()),
        None => Desired::new(
            kind::APPROVED,
            false,
            reason::NOT_CHECKED,
            "not checked yet",
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
    match blocked_on(report, kind::PROVISIONED) {
        Some(b) => Desired::new(kind::PROVISIONED, false, b.reason, b.message.clone()),
        None => Desired::new(
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
    match blocked_on(report, kind::LICENSED) {
        Some(b) => Desired::new(kind::LICENSED, false, b.reason, b.message.clone()),
        None => Desired::new(
            kind::LICENSED,
            false,
            reason::LICENSE_PENDING,
            "waiting for the account",
        ),
    }
}

/// A condition that is True while a particular problem blocks the User.
fn flag_condition(
    type_: &'static str,
    report: &Report,
    problem: &'static str,
    fine: &'static str,
) -> Desired {
    match report {
        Report::Blocked(b) if b.reason == problem => {
            Desired::new(type_, true, problem, b.message.clone())
        }
        _ => Desired::new(type_, false, fine, ""),
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
/// when something needs attention. Steady states and routine waits publish nothing.
pub(super) fn transition_event(
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
    let routine = [
        reason::ACCOUNT_PENDING,
        reason::IN_PROGRESS,
        reason::WELCOME_MAIL_PENDING,
    ];
    let (type_, note) = match report {
        Report::Active => (
            EventType::Normal,
            "Account is active and licensed".to_string(),
        ),
        Report::Blocked(b) if routine.contains(&b.reason) => return None,
        Report::Blocked(b) if b.reason == reason::DEACTIVATED => {
            (EventType::Normal, "Account deactivated".to_string())
        }
        Report::Blocked(b) => (EventType::Warning, b.message.clone()),
        Report::Failed(_, message) => (EventType::Warning, message.clone()),
    };
    Some(Event {
        type_,
        reason: now,
        note: Some(event_note(note)),
        action: "Provision".into(),
        secondary: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::user::account::not_replicated;
    use crate::reconcile::user::flow::Stop;
    use crate::reconcile::user::owner_marker;
    use kube::runtime::controller::Action;

    fn user() -> User {
        let mut user = crate::api::user::fixture::user("people", "ann", "default");
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

    fn waiting(phase: Phase, condition: &'static str, reason: &'static str) -> Blocked {
        Blocked {
            phase,
            condition,
            reason,
            message: "why".into(),
            requeue: Action::await_change(),
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
    fn active_means_every_good_condition_true_and_every_problem_false() {
        let mut facts = facts_with_account();
        facts.license = Some("ENTERPRISEPACK".into());
        let status = desired_status(&user(), &facts, &Report::Active);
        assert_eq!(status.phase, Some(Phase::Active));
        assert_eq!(status.observed_generation, Some(3));
        for c in &status.conditions {
            let problem =
                [kind::DUPLICATE_EMAIL, kind::LICENSE_UNAVAILABLE].contains(&c.type_.as_str());
            assert_eq!(c.status, if problem { "False" } else { "True" }, "{c:?}");
        }
        assert!(
            status
                .conditions
                .iter()
                .all(|c| c.observed_generation == Some(3))
        );
    }

    #[test]
    fn a_licence_block_leaves_the_account_provisioned() {
        let b = waiting(Phase::Pending, kind::LICENSED, reason::LICENSE_UNAVAILABLE);
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
        let b = waiting(Phase::Pending, kind::PROVISIONED, reason::DUPLICATE_EMAIL);
        let report = Report::Blocked(b);
        let first = desired_status(&user(), &Facts::default(), &report);
        let event = transition_event(None, &first, &report).expect("a warning on the transition");
        assert_eq!(event.type_, EventType::Warning);
        assert_eq!(event.reason, reason::DUPLICATE_EMAIL);
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
}
