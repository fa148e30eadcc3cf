//! What one pass learns, and how a pass stops short.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};

use crate::api::user::{DeliveryState, FirstSessionToken, Notification, NotificationKind};
use crate::api::{Phase, User};
use crate::reconcile::Error;
use crate::sla::{SlaOutcome, SlaRecord};

/// What one pass learned, whatever its outcome; status is written from this.
#[derive(Default)]
pub(super) struct Facts {
    pub upn: Option<String>,
    pub mail_nickname: Option<String>,
    pub object_id: Option<String>,
    pub adopted: bool,
    pub approved: bool,
    pub license: Option<String>,
    pub credentials_secret: Option<String>,
    pub alternates: Vec<String>,
    pub sla: Option<SlaRecord>,
    pub sla_outcome: Option<SlaOutcome>,
    pub first_session: Option<FirstSessionToken>,
    pub notifications: Vec<Notification>,
    pub role: Option<crate::roles::EffectiveRole>,
    pub events: Vec<Event>,
}

impl Facts {
    /// Starts from what earlier passes recorded and must not be lost.
    pub fn from_status(user: &User) -> Self {
        let status = user.status.clone().unwrap_or_default();
        Facts {
            object_id: status.object_id,
            credentials_secret: status.credentials_secret,
            sla: status.sla,
            sla_outcome: status.sla_outcome,
            first_session: status.first_session,
            notifications: status.notifications,
            ..Default::default()
        }
    }

    pub fn event(&mut self, reason: &str, note: String) {
        self.push_event(EventType::Normal, reason, note);
    }

    pub fn warning(&mut self, reason: &str, note: String) {
        self.push_event(EventType::Warning, reason, note);
    }

    fn push_event(&mut self, type_: EventType, reason: &str, note: String) {
        self.events.push(Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: "Provision".into(),
            secondary: None,
        });
    }

    pub fn notification(&self, kind: NotificationKind) -> Option<&Notification> {
        self.notifications.iter().find(|n| n.kind == kind)
    }

    pub fn set_notification(
        &mut self,
        kind: NotificationKind,
        message_id: &str,
        state: DeliveryState,
    ) {
        self.notifications.retain(|n| n.kind != kind);
        self.notifications.push(Notification {
            kind,
            message_id: message_id.to_string(),
            state,
            at: Time(jiff::Timestamp::now()),
        });
    }
}

/// A pass that cannot go on until something changes: time, Entra, or the manifest.
#[derive(Debug, Clone)]
pub(super) struct Blocked {
    pub phase: Phase,
    /// The specific condition this explains.
    pub condition: &'static str,
    pub reason: &'static str,
    pub message: String,
    pub requeue: Action,
}

/// Why a pass ended early.
pub(super) enum Stop {
    Blocked(Blocked),
    Failed(Error),
}

impl<E: Into<Error>> From<E> for Stop {
    fn from(error: E) -> Self {
        Stop::Failed(error.into())
    }
}

pub(super) fn blocked(
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

/// How the pass ended, for status.
pub(super) enum Report {
    Active,
    Blocked(Blocked),
    Failed(&'static str, String),
}
