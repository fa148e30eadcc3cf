//! The audit trail of role changes.
//!
//! Every request, approval, denial and applied change becomes an [`AuditRecord`], written in
//! two places: a structured log line under the target `audit` (one JSON object per line with
//! `--log-format json`, for the cluster's log pipeline and long-term retention), and, for a
//! RoleAssignment that exists, an entry of its `status.history` (bounded, listed with
//! `kubectl get roleassignments -o yaml`, and kept across operator restarts because it lives
//! in the cluster). A request the admission webhook refuses never becomes an object; its
//! record is the log line, a Warning Event on the User, and the API server's own audit log,
//! which carries the decision as an audit annotation.

use crate::api::role::{AuditAction, Role};

/// The log target of audit records; filter or route logs on it.
pub const TARGET: &str = "audit";

/// One audited step of a role change.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord<'a> {
    pub action: AuditAction,
    /// The person or identity that acted: a requester, an approver, a Kubernetes user, or
    /// the operator.
    pub actor: &'a str,
    /// `namespace/name` of the RoleAssignment.
    pub assignment: &'a str,
    /// The User whose role is at stake.
    pub user: &'a str,
    pub from: Option<Role>,
    pub to: Role,
    pub requester: &'a str,
    pub justification: &'a str,
    pub approvals: &'a [String],
    /// What came of it, in words: the reason of a denial, the changes made.
    pub detail: &'a str,
}

/// Writes the record's log line.
pub fn log(record: &AuditRecord<'_>) {
    tracing::info!(
        target: TARGET,
        action = ?record.action,
        actor = record.actor,
        assignment = record.assignment,
        user = record.user,
        from = record.from.map(Role::as_str),
        to = record.to.as_str(),
        requester = record.requester,
        justification = record.justification,
        approvals = ?record.approvals,
        detail = record.detail,
        "role change audit"
    );
}
