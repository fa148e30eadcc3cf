//! Who holds which role, and who may change it. Pure rules over the cluster's objects, shared
//! by the admission webhook (which checks them before an object is stored) and the
//! RoleAssignment controller (which checks them again before anything reaches Entra).

pub mod admission;
pub mod grants;
pub mod identity;

use std::sync::Arc;

use kube::ResourceExt;

use crate::api::role::{Role, RoleAssignment, RolePhase, RolePolicy};
use crate::api::{Phase, User};

/// A User's role and the RoleAssignment it comes from, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectiveRole {
    pub role: Role,
    /// The applied RoleAssignment that set it; `None` for a User that never had one.
    pub assignment: Option<String>,
}

/// The role of the User named `user` in `namespace`: that of the RoleAssignment applied to
/// it last, `Pending` without one. A request approved late thus wins over a newer one applied
/// before it: changes take effect in the order they reach Entra, as the audit record shows.
pub fn effective_role(
    assignments: &[Arc<RoleAssignment>],
    namespace: &str,
    user: &str,
) -> EffectiveRole {
    assignments
        .iter()
        .filter(|a| a.namespace().as_deref() == Some(namespace) && a.spec.user == user)
        .filter(|a| phase_of(a) == Some(RolePhase::Applied))
        .max_by_key(|a| applied_order(a))
        .map(|a| EffectiveRole {
            role: a.spec.role,
            assignment: Some(a.name_any()),
        })
        .unwrap_or(EffectiveRole {
            role: Role::Pending,
            assignment: None,
        })
}

/// The order applied requests count in: when they were applied, then by name.
pub fn applied_order(assignment: &RoleAssignment) -> (Option<jiff::Timestamp>, String) {
    let applied = assignment
        .status
        .as_ref()
        .and_then(|s| s.applied_at.as_ref());
    (applied.map(|t| t.0), assignment.name_any())
}

pub fn phase_of(assignment: &RoleAssignment) -> Option<RolePhase> {
    assignment.status.as_ref().and_then(|s| s.phase)
}

/// Why a requester may not change roles.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequesterProblem {
    #[error("requester {0} is not the address of any User of this tenant")]
    Unknown(String),
    #[error("requester {requester} is not an Active user (the User is {phase})")]
    NotActive { requester: String, phase: String },
    #[error("requester {requester} has role {role}; only an Admin may change roles")]
    NotAdmin { requester: String, role: Role },
}

/// Accepts the requester if they are an Active User of `tenant` whose effective role is
/// Admin, or one of the policy's bootstrap admins.
pub fn check_requester(
    requester: &str,
    tenant: &str,
    policy: &RolePolicy,
    users: &[Arc<User>],
    assignments: &[Arc<RoleAssignment>],
) -> Result<(), RequesterProblem> {
    if policy
        .bootstrap_admins
        .iter()
        .any(|a| a.eq_ignore_ascii_case(requester))
    {
        return Ok(());
    }
    let user = users
        .iter()
        .find(|u| {
            u.spec.tenant == tenant
                && upn_of(u).is_some_and(|upn| upn.eq_ignore_ascii_case(requester))
        })
        .ok_or_else(|| RequesterProblem::Unknown(requester.to_string()))?;
    let phase = user.status.as_ref().and_then(|s| s.phase);
    if phase != Some(Phase::Active) {
        return Err(RequesterProblem::NotActive {
            requester: requester.to_string(),
            phase: phase.map_or("not provisioned".into(), |p| format!("{p:?}")),
        });
    }
    let role = effective_role(
        assignments,
        &user.namespace().unwrap_or_default(),
        &user.name_any(),
    )
    .role;
    match role {
        Role::Admin => Ok(()),
        role => Err(RequesterProblem::NotAdmin {
            requester: requester.to_string(),
            role,
        }),
    }
}

fn upn_of(user: &User) -> Option<&str> {
    user.status
        .as_ref()
        .and_then(|s| s.user_principal_name.as_deref())
}

/// Whether going from `from` to `to` gives more access, and so needs a VP's approval.
pub fn is_escalation(from: Role, to: Role) -> bool {
    to > from
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::UserStatus;
    use crate::api::role::{RoleAssignmentSpec, RoleAssignmentStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn assignment(
        name: &str,
        user: &str,
        role: Role,
        applied: i64,
        phase: Option<RolePhase>,
    ) -> Arc<RoleAssignment> {
        let mut a = RoleAssignment::new(
            name,
            RoleAssignmentSpec {
                user: user.into(),
                role,
                justification: "needed for the quarterly close".into(),
                requester: "ada.admin@contoso.example".into(),
                approvals: vec![],
            },
        );
        a.metadata.namespace = Some("team".into());
        a.status = phase.map(|phase| RoleAssignmentStatus {
            phase: Some(phase),
            applied_at: Some(MicroTime(jiff::Timestamp::from_second(applied).unwrap())),
            ..Default::default()
        });
        Arc::new(a)
    }

    fn user(name: &str, upn: &str, phase: Phase) -> Arc<User> {
        let mut user = crate::api::user::fixture::user("team", name, "contoso");
        user.status = Some(UserStatus {
            phase: Some(phase),
            user_principal_name: Some(upn.into()),
            ..Default::default()
        });
        Arc::new(user)
    }

    #[test]
    fn the_request_applied_last_decides_and_none_means_pending() {
        let none = effective_role(&[], "team", "ada");
        assert_eq!(none.role, Role::Pending);
        let all = [
            assignment("older", "ada", Role::Admin, 100, Some(RolePhase::Applied)),
            assignment("newer", "ada", Role::User, 200, Some(RolePhase::Applied)),
            assignment(
                "waiting",
                "ada",
                Role::Approver,
                300,
                Some(RolePhase::AwaitingApproval),
            ),
            assignment("other", "bob", Role::Admin, 400, Some(RolePhase::Applied)),
        ];
        let role = effective_role(&all, "team", "ada");
        assert_eq!(role.role, Role::User);
        assert_eq!(role.assignment.as_deref(), Some("newer"));
    }

    #[test]
    fn only_active_admins_and_bootstrap_admins_may_request() {
        let policy = RolePolicy {
            bootstrap_admins: vec!["Root@Contoso.example".into()],
            ..Default::default()
        };
        let users = [
            user("ada", "ada.admin@contoso.example", Phase::Active),
            user("eve", "eve.employee@contoso.example", Phase::Active),
            user("new", "new.hire@contoso.example", Phase::Provisioning),
        ];
        let assignments = [
            assignment(
                "ada-admin",
                "ada",
                Role::Admin,
                100,
                Some(RolePhase::Applied),
            ),
            assignment("eve-user", "eve", Role::User, 100, Some(RolePhase::Applied)),
            assignment(
                "new-admin",
                "new",
                Role::Admin,
                100,
                Some(RolePhase::Applied),
            ),
        ];
        let check = |who: &str| check_requester(who, "contoso", &policy, &users, &assignments);
        assert_eq!(check("ADA.admin@contoso.example"), Ok(()));
        assert_eq!(check("root@contoso.example"), Ok(()));
        assert!(matches!(
            check("eve.employee@contoso.example"),
            Err(RequesterProblem::NotAdmin {
                role: Role::User,
                ..
            })
        ));
        assert!(matches!(
            check("new.hire@contoso.example"),
            Err(RequesterProblem::NotActive { .. })
        ));
        assert!(matches!(
            check("mallory@contoso.example"),
            Err(RequesterProblem::Unknown(_))
        ));
        let elsewhere = check_requester(
            "ada.admin@contoso.example",
            "fabrikam",
            &policy,
            &users,
            &assignments,
        );
        assert!(matches!(elsewhere, Err(RequesterProblem::Unknown(_))));
    }

    #[test]
    fn escalation_follows_the_order_of_access() {
        assert!(is_escalation(Role::Pending, Role::User));
        assert!(is_escalation(Role::User, Role::Admin));
        assert!(!is_escalation(Role::Admin, Role::Approver));
        assert!(!is_escalation(Role::User, Role::User));
    }
}
