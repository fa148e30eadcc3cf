//! What a pass leaves behind: the RoleAssignment's status and audit history, the audit log
//! lines, and the Events on the RoleAssignment and its User.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use tracing::warn;

use super::work::{OPERATOR, Stop, Verdict, Work};
use super::{RESYNC, RETRY};
use crate::api::conditions::{self, Desired};
use crate::api::role::{
    AuditAction, AuditEntry, MAX_HISTORY, RoleAssignment, RoleAssignmentStatus, RolePhase,
    condition, reason,
};
use crate::audit::{self, AuditRecord};
use crate::reconcile::note::event_note;
use crate::reconcile::{Error, status};

impl Work<'_> {
    /// Adds an audit entry to the history (dropping the oldest beyond the bound).
    pub fn audit(&mut self, action: AuditAction, actor: &str, detail: String) {
        self.status.history.push(AuditEntry {
            at: Time(jiff::Timestamp::now()),
            action,
            actor: actor.chars().take(254).collect(),
            detail: detail.chars().take(1024).collect(),
        });
        let excess = self.status.history.len().saturating_sub(MAX_HISTORY);
        self.status.history.drain(..excess);
        self.new_history = (self.new_history + 1).min(MAX_HISTORY);
    }

    /// Queues an Event, on the RoleAssignment or (`on_user`) on its User.
    pub fn event(&mut self, type_: EventType, reason: &str, note: String, on_user: bool) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(event_note(note)),
            action: "ChangeRole".into(),
            secondary: None,
        };
        self.events.push((event, on_user));
    }

    /// Writes status as it stands, mid-pass.
    pub async fn write(&mut self) -> Result<(), kube::Error> {
        let desired = self.desired_status(None);
        self.store(desired).await
    }

    async fn store(&mut self, desired: RoleAssignmentStatus) -> Result<(), kube::Error> {
        let api: Api<RoleAssignment> = Api::namespaced(
            self.ctx.shared.client.clone(),
            &self.assignment.namespace().unwrap_or_default(),
        );
        status::apply(&api, self.assignment, self.written.as_ref(), &desired).await?;
        self.status = desired.clone();
        self.written = Some(desired);
        Ok(())
    }

    /// Writes the pass's final status, the audit lines and the Events.
    pub async fn finish(&mut self, outcome: Result<(), Stop>) -> Result<Action, Error> {
        let (stop_note, result) = self.conclude(outcome);
        let desired = self.desired_status(stop_note.as_ref());
        self.store(desired).await?;
        self.log_new_history();
        self.publish().await;
        result
    }

    /// Turns the outcome into the phase, history and Events, and the next look.
    fn conclude(&mut self, outcome: Result<(), Stop>) -> (Option<Verdict>, Result<Action, Error>) {
        match outcome {
            Ok(()) => (None, Ok(Action::requeue(RESYNC))),
            Err(Stop::Waiting {
                phase,
                reason,
                message,
            }) => {
                if self.status.phase != Some(phase) || self.ready_reason() != Some(reason) {
                    self.event(EventType::Normal, reason, message.clone(), false);
                }
                self.status.phase = Some(phase);
                (
                    Some(Verdict {
                        passed: false,
                        reason,
                        message,
                    }),
                    Ok(Action::requeue(RETRY)),
                )
            }
            Err(Stop::Denied { reason, message }) => {
                self.status.phase = Some(RolePhase::Denied);
                self.audit(AuditAction::Denied, OPERATOR, message.clone());
                let note = format!(
                    "Role change to {} refused: {message}",
                    self.assignment.spec.role
                );
                self.event(EventType::Warning, reason::DENIED, note.clone(), false);
                self.event(EventType::Warning, "RoleChangeDenied", note, true);
                (
                    Some(Verdict {
                        passed: false,
                        reason,
                        message,
                    }),
                    Ok(Action::await_change()),
                )
            }
            Err(Stop::Superseded(by)) => {
                self.status.phase = Some(RolePhase::Superseded);
                let message =
                    format!("RoleAssignment {by} for the same User is newer and in effect");
                self.audit(AuditAction::Superseded, OPERATOR, message.clone());
                self.event(
                    EventType::Normal,
                    reason::SUPERSEDED,
                    message.clone(),
                    false,
                );
                let verdict = Verdict {
                    passed: true,
                    reason: reason::SUPERSEDED,
                    message,
                };
                (Some(verdict), Ok(Action::await_change()))
            }
            Err(Stop::Failed(error)) => {
                let verdict = Verdict {
                    passed: false,
                    reason: error.category(),
                    message: error.to_string(),
                };
                (Some(verdict), Err(error))
            }
        }
    }

    fn ready_reason(&self) -> Option<&str> {
        self.status
            .conditions
            .iter()
            .find(|c| c.type_ == condition::READY)
            .map(|c| c.reason.as_str())
    }

    fn desired_status(&self, stop: Option<&Verdict>) -> RoleAssignmentStatus {
        let ready = match (stop, self.status.phase) {
            (Some(v), _) => Desired::new(condition::READY, v.passed, v.reason, v.message.clone()),
            (None, Some(RolePhase::Applied)) => Desired::new(
                condition::READY,
                true,
                reason::APPLIED,
                format!("role {} is in effect", self.assignment.spec.role),
            ),
            (None, _) => Desired::new(condition::READY, false, reason::APPLYING, "changing Entra"),
        };
        let previous = self.written.clone().unwrap_or_default();
        let mut wanted = Vec::new();
        for (type_, verdict) in [
            (condition::AUTHORIZED, &self.authorized),
            (condition::APPROVED, &self.approved),
        ] {
            match verdict {
                Some(v) => wanted.push(Desired::new(type_, v.passed, v.reason, v.message.clone())),
                // Not judged this pass: keep what an earlier pass found.
                None => wanted.extend(kept(&previous, type_)),
            }
        }
        wanted.push(ready);
        RoleAssignmentStatus {
            observed_generation: self.assignment.metadata.generation,
            conditions: conditions::merge(
                &previous.conditions,
                &wanted,
                self.assignment.metadata.generation,
                &Time(jiff::Timestamp::now()),
            ),
            ..self.status.clone()
        }
    }

    fn log_new_history(&mut self) {
        let approvals: Vec<String> = self
            .assignment
            .spec
            .approvals
            .iter()
            .map(|a| a.approver.clone())
            .collect();
        let name = format!(
            "{}/{}",
            self.assignment.namespace().unwrap_or_default(),
            self.assignment.name_any()
        );
        let start = self.status.history.len().saturating_sub(self.new_history);
        for entry in &self.status.history[start..] {
            audit::log(&AuditRecord {
                action: entry.action,
                actor: &entry.actor,
                assignment: &name,
                user: &self.assignment.spec.user,
                from: self.status.from_role,
                to: self.assignment.spec.role,
                requester: &self.assignment.spec.requester,
                justification: &self.assignment.spec.justification,
                approvals: &approvals,
                detail: &entry.detail,
            });
        }
        self.new_history = 0;
    }

    async fn publish(&mut self) {
        let assignment = self.assignment.object_ref(&());
        let namespace = self.assignment.namespace().unwrap_or_default();
        let user = self
            .ctx
            .users
            .get(&ObjectRef::new(&self.assignment.spec.user).within(&namespace))
            .map(|u| u.object_ref(&()));
        for (mut event, on_user) in self.events.drain(..) {
            let reference = match (on_user, &user) {
                (false, _) => &assignment,
                (true, Some(user)) => {
                    // Names the request, which also keeps the Events of different requests
                    // apart: the recorder folds Events that differ only in their note.
                    event.secondary = Some(assignment.clone());
                    user
                }
                (true, None) => continue,
            };
            if let Err(e) = self.ctx.shared.recorder.publish(&event, reference).await {
                warn!(error = %e, reason = %event.reason, "could not publish event");
            }
        }
    }
}

fn kept(previous: &RoleAssignmentStatus, type_: &'static str) -> Option<Desired> {
    let found = previous.conditions.iter().find(|c| c.type_ == type_)?;
    let reason = [
        reason::REQUESTER_IS_ADMIN,
        reason::REQUESTER_NOT_ADMIN,
        reason::VP_APPROVED,
        reason::VP_APPROVAL_MISSING,
        reason::NOT_AN_ESCALATION,
    ]
    .into_iter()
    .find(|r| *r == found.reason)?;
    Some(Desired::new(
        type_,
        found.status == "True",
        reason,
        found.message.clone(),
    ))
}
