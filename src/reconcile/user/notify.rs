//! Sending a User's mails exactly once, across retries and restarts.
//!
//! Before a mail goes out, status records it as `Sending` under a stable message id; after,
//! as `Sent`. A pass that finds `Sending` (the operator died in between) looks for the id in
//! the sender's Sent Items and only sends again if it is not there.

use kube::ResourceExt;
use tracing::info;

use super::flow::{Facts, Report, Stop};
use super::report::record_progress;
use crate::api::User;
use crate::api::user::{DeliveryState, NotificationKind};
use crate::graph::Graph;
use crate::graph::mail::Mail;
use crate::reconcile::Context;

/// A mail to send once per User and kind.
pub(super) struct Outgoing<'a> {
    pub kind: NotificationKind,
    pub sender: &'a str,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// Sends `mail` unless it was sent already. `report` is what status says meanwhile.
pub(super) async fn deliver_once(
    user: &User,
    ctx: &Context,
    graph: &Graph,
    facts: &mut Facts,
    mail: Outgoing<'_>,
    report: &Report,
) -> Result<(), Stop> {
    if already_sent(user, graph, facts, mail.kind, mail.sender).await? {
        return Ok(());
    }
    send(user, ctx, graph, facts, mail, report).await
}

/// Whether the mail of this kind went out: recorded as sent, or recorded as sending and found
/// in the sender's Sent Items (then recorded as sent). For callers that must know before they
/// write the mail, such as one carrying a credential that only exists once it is issued.
pub(super) async fn already_sent(
    user: &User,
    graph: &Graph,
    facts: &mut Facts,
    kind: NotificationKind,
    sender: &str,
) -> Result<bool, Stop> {
    let id = message_id(user, kind);
    match facts.notification(kind).map(|n| n.state) {
        Some(DeliveryState::Sent) => Ok(true),
        Some(DeliveryState::Sending) if graph.was_sent(sender, &id).await? => {
            facts.set_notification(kind, &id, DeliveryState::Sent);
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Records the mail as sending, sends it and records it as sent. Only after
/// [`already_sent`] said no.
pub(super) async fn send(
    user: &User,
    ctx: &Context,
    graph: &Graph,
    facts: &mut Facts,
    mail: Outgoing<'_>,
    report: &Report,
) -> Result<(), Stop> {
    let id = message_id(user, mail.kind);
    facts.set_notification(mail.kind, &id, DeliveryState::Sending);
    record_progress(user, ctx, facts, report).await?;
    let message = Mail {
        id: id.clone(),
        to: mail.to,
        subject: mail.subject,
        body: mail.body,
    };
    graph.send_mail(mail.sender, &message).await?;
    info!(kind = ?mail.kind, message_id = %id, "mail sent");
    facts.set_notification(mail.kind, &id, DeliveryState::Sent);
    record_progress(user, ctx, facts, report).await?;
    Ok(())
}

/// Stable per User (by uid, so a re-created User mails again) and kind.
fn message_id(user: &User, kind: NotificationKind) -> String {
    format!("{}-{kind:?}", user.uid().unwrap_or_else(|| user.name_any())).to_lowercase()
}
