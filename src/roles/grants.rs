//! What a role means in Entra, and the changes that make an account match it.
//!
//! Only the groups and app roles a Tenant's policy names under some role are managed; any
//! other membership of the account is none of the operator's business and is left alone.

use std::collections::BTreeSet;

use crate::api::role::{AppRoleRef, Role, RolePolicy};

/// An app role the account holds, with the id Graph needs to withdraw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldAppRole {
    pub assignment_id: String,
    pub app_role: AppRoleRef,
}

/// What the account holds now, among everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holdings {
    pub groups: BTreeSet<String>,
    pub app_roles: Vec<HeldAppRole>,
}

/// The changes that give the account exactly its role's managed memberships.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub join: Vec<String>,
    pub leave: Vec<String>,
    pub grant: Vec<AppRoleRef>,
    /// Assignment ids to withdraw.
    pub withdraw: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.join.is_empty()
            && self.leave.is_empty()
            && self.grant.is_empty()
            && self.withdraw.is_empty()
    }

    /// A one-line account of the plan for the audit record.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "memberships already matched the role".into();
        }
        let app_roles: Vec<String> = self
            .grant
            .iter()
            .map(|r| format!("{}/{}", r.resource_id, r.app_role_id))
            .collect();
        format!(
            "joined groups [{}], left groups [{}], granted app roles [{}], withdrew {} app role assignment(s)",
            self.join.join(", "),
            self.leave.join(", "),
            app_roles.join(", "),
            self.withdraw.len()
        )
    }
}

/// Every group the policy manages, under any role. Ids compare ignoring case, as Graph's do.
fn managed_groups(policy: &RolePolicy) -> BTreeSet<String> {
    policy
        .grants
        .values()
        .flat_map(|g| g.groups.iter().map(|id| id.to_lowercase()))
        .collect()
}

fn managed_app_roles(policy: &RolePolicy) -> BTreeSet<AppRoleRef> {
    policy
        .grants
        .values()
        .flat_map(|g| g.app_roles.iter().map(normalised))
        .collect()
}

fn normalised(app_role: &AppRoleRef) -> AppRoleRef {
    AppRoleRef {
        resource_id: app_role.resource_id.to_lowercase(),
        app_role_id: app_role.app_role_id.to_lowercase(),
    }
}

/// The changes that take an account holding `held` to exactly what `role` grants.
pub fn plan(policy: &RolePolicy, role: Role, held: &Holdings) -> Plan {
    let wanted = policy.grants.get(&role).cloned().unwrap_or_default();
    let wanted_groups: BTreeSet<String> = wanted.groups.iter().map(|g| g.to_lowercase()).collect();
    let wanted_roles: BTreeSet<AppRoleRef> = wanted.app_roles.iter().map(normalised).collect();
    let held_groups: BTreeSet<String> = held.groups.iter().map(|g| g.to_lowercase()).collect();
    let held_roles: BTreeSet<AppRoleRef> = held
        .app_roles
        .iter()
        .map(|h| normalised(&h.app_role))
        .collect();
    let managed_roles = managed_app_roles(policy);
    Plan {
        join: wanted_groups.difference(&held_groups).cloned().collect(),
        leave: managed_groups(policy)
            .difference(&wanted_groups)
            .filter(|g| held_groups.contains(*g))
            .cloned()
            .collect(),
        grant: wanted_roles.difference(&held_roles).cloned().collect(),
        withdraw: held
            .app_roles
            .iter()
            .filter(|h| {
                let role = normalised(&h.app_role);
                managed_roles.contains(&role) && !wanted_roles.contains(&role)
            })
            .map(|h| h.assignment_id.clone())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::role::RoleGrants;

    fn app_role(resource: &str, role: &str) -> AppRoleRef {
        AppRoleRef {
            resource_id: resource.into(),
            app_role_id: role.into(),
        }
    }

    fn policy() -> RolePolicy {
        let mut policy = RolePolicy::default();
        policy.grants.insert(
            Role::Admin,
            RoleGrants {
                groups: vec!["G-ADMINS".into(), "g-staff".into()],
                app_roles: vec![app_role("portal", "admin")],
            },
        );
        policy.grants.insert(
            Role::User,
            RoleGrants {
                groups: vec!["g-staff".into()],
                app_roles: vec![app_role("portal", "reader")],
            },
        );
        policy
    }

    #[test]
    fn a_downgrade_leaves_what_the_higher_role_gave_and_keeps_unmanaged_groups() {
        let held = Holdings {
            groups: ["g-admins", "g-staff", "g-choir"].map(String::from).into(),
            app_roles: vec![HeldAppRole {
                assignment_id: "assignment-1".into(),
                app_role: app_role("portal", "admin"),
            }],
        };
        let plan = plan(&policy(), Role::User, &held);
        assert_eq!(plan.join, Vec::<String>::new());
        assert_eq!(plan.leave, vec!["g-admins".to_string()]);
        assert_eq!(plan.grant, vec![app_role("portal", "reader")]);
        assert_eq!(plan.withdraw, vec!["assignment-1".to_string()]);
    }

    #[test]
    fn a_role_without_grants_removes_every_managed_membership() {
        let held = Holdings {
            groups: ["g-staff".to_string()].into(),
            app_roles: vec![],
        };
        let plan = plan(&policy(), Role::Pending, &held);
        assert_eq!(plan.leave, vec!["g-staff".to_string()]);
        assert!(plan.join.is_empty() && plan.grant.is_empty());
    }

    #[test]
    fn a_matching_account_needs_nothing() {
        let held = Holdings {
            groups: ["g-admins", "G-STAFF"].map(String::from).into(),
            app_roles: vec![HeldAppRole {
                assignment_id: "a".into(),
                app_role: app_role("PORTAL", "admin"),
            }],
        };
        let plan = plan(&policy(), Role::Admin, &held);
        assert!(plan.is_empty(), "{plan:?}");
        assert_eq!(plan.summary(), "memberships already matched the role");
    }
}
