//! Is an escalation approved by a VP? An approver counts if listed in the Tenant's
//! `vpApprovers` or a member (nested included) of its `vpGroup`, as Graph says now, and is
//! not the requester. Each approval is judged once into the audit record.

use super::work::{Stop, Target, Work};
use crate::api::role::{AuditAction, Role};
use crate::graph::Graph;
use crate::roles::identity;

/// What the approvals add up to.
pub(super) struct Verdict {
    pub approved: bool,
    pub message: String,
}

pub(super) async fn check(
    work: &mut Work<'_>,
    target: &Target,
    graph: &Graph,
    from: Role,
) -> Result<Verdict, Stop> {
    let to = work.assignment.spec.role;
    let requester = work.assignment.spec.requester.clone();
    let mut refusals = Vec::new();
    for approval in work.assignment.spec.approvals.clone() {
        let approver = approval.approver.trim().to_lowercase();
        let problem = if identity::names(&approver, &requester) {
            Some("the requester cannot approve their own escalation".to_string())
        } else if is_vp(&approver, target, graph).await? {
            None
        } else {
            Some(
                "not a VP: neither in the Tenant's vpApprovers nor a member of its vpGroup"
                    .to_string(),
            )
        };
        match problem {
            None => {
                if !work.has_history_by(AuditAction::Approved, &approver) {
                    let detail = format!("approved the escalation {from} → {to} as a VP");
                    work.audit(AuditAction::Approved, &approver, detail);
                }
                return Ok(Verdict {
                    approved: true,
                    message: format!("{from} → {to} approved by VP {approver}"),
                });
            }
            Some(problem) => {
                if !work.has_history_by(AuditAction::ApprovalRejected, &approver) {
                    work.audit(AuditAction::ApprovalRejected, &approver, problem.clone());
                }
                refusals.push(format!("{approver}: {problem}"));
            }
        }
    }
    let mut message = format!("{from} → {to} is an escalation and needs a VP's approval");
    if !refusals.is_empty() {
        message.push_str(&format!("; not accepted: {}", refusals.join("; ")));
    }
    Ok(Verdict {
        approved: false,
        message,
    })
}

async fn is_vp(approver: &str, target: &Target, graph: &Graph) -> Result<bool, Stop> {
    if target
        .policy
        .vp_approvers
        .iter()
        .any(|vp| identity::names(vp, approver))
    {
        return Ok(true);
    }
    match &target.policy.vp_group {
        Some(group) => Ok(graph.address_in_group(approver, group).await?),
        None => Ok(false),
    }
}
