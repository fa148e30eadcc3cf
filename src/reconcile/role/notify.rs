//! Telling the person their role changed, by mail to their account, exactly once: status
//! records the mail as `Sending` under a stable id before it goes out, and a pass that finds
//! it `Sending` looks in the sender's Sent Items before sending again.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use tracing::info;

use super::work::{OPERATOR, Stop, Target, Work};
use crate::api::role::{AuditAction, Role, RoleNotification};
use crate::api::user::DeliveryState;
use crate::graph::Graph;
use crate::graph::mail::Mail;

pub(super) async fn tell_user(
    work: &mut Work<'_>,
    target: &Target,
    graph: &Graph,
    from: Role,
) -> Result<(), Stop> {
    let Some(settings) = &target.tenant.spec.mail else {
        return Ok(());
    };
    let id = message_id(work);
    match work.status.notification.as_ref().map(|n| n.state) {
        Some(DeliveryState::Sent) => return Ok(()),
        Some(DeliveryState::Sending) if graph.was_sent(&settings.sender, &id).await? => {
            return sent(work, &id, &target.upn).await;
        }
        _ => {}
    }
    set(work, &id, DeliveryState::Sending);
    work.write().await?;
    let (subject, body) = role_changed(
        &target.user.display_name(),
        from,
        work.assignment.spec.role,
        &work.assignment.spec.justification,
    );
    let mail = Mail {
        id: id.clone(),
        to: vec![target.upn.clone()],
        subject,
        body,
    };
    graph.send_mail(&settings.sender, &mail).await?;
    info!(message_id = %id, "role change mail sent");
    sent(work, &id, &target.upn).await
}

async fn sent(work: &mut Work<'_>, id: &str, to: &str) -> Result<(), Stop> {
    set(work, id, DeliveryState::Sent);
    work.audit(
        AuditAction::Notified,
        OPERATOR,
        format!("mailed {to} about the change"),
    );
    work.write().await?;
    Ok(())
}

fn set(work: &mut Work<'_>, id: &str, state: DeliveryState) {
    work.status.notification = Some(RoleNotification {
        message_id: id.to_string(),
        state,
        at: Time(jiff::Timestamp::now()),
    });
}

/// Stable per RoleAssignment (by uid, so a re-created one mails again).
fn message_id(work: &Work<'_>) -> String {
    let assignment = work.assignment;
    format!(
        "{}-role",
        assignment.uid().unwrap_or_else(|| assignment.name_any())
    )
    .to_lowercase()
}

/// Subject and body of the mail.
fn role_changed(display_name: &str, from: Role, to: Role, justification: &str) -> (String, String) {
    let subject = format!("Your access changed: {from} → {to}");
    let body = format!(
        "Hello {display_name},\n\n\
         your role changed from {from} to {to}.\n\
         Reason given: {justification}\n\n\
         Group memberships and application access now follow the new role. If you did not \
         expect this change, contact your IT administrators.\n"
    );
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mail_names_both_roles_and_the_reason() {
        let (subject, body) = role_changed(
            "Ada Admin",
            Role::User,
            Role::Admin,
            "runs the payroll close",
        );
        assert_eq!(subject, "Your access changed: User → Admin");
        assert!(body.contains("from User to Admin"));
        assert!(body.contains("runs the payroll close"));
    }
}
