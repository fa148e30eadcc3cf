//! Directory roles: the built-in role definitions, who holds them, and the rule that
//! application permissions cannot touch the holders.

use serde_json::{Value, json};

use super::Directory;
use super::error::DirectoryError;
use super::user::View;
use crate::config::RoleAssignmentSeed;
use crate::ids;

/// A built-in directory role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleDefinition {
    /// The role's template id, which is also its definition id.
    pub id: &'static str,
    /// The display name.
    pub name: &'static str,
}

const fn role(id: &'static str, name: &'static str) -> RoleDefinition {
    RoleDefinition { id, name }
}

/// The built-in roles the simulator knows, by their published template ids.
const ROLE_DEFINITIONS: &[RoleDefinition] = &[
    role(
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
    ),
    role("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"),
    role(
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
        "Privileged Role Administrator",
    ),
    role(
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
        "Privileged Authentication Administrator",
    ),
    role(
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
        "Authentication Administrator",
    ),
    role(
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "Helpdesk Administrator",
    ),
    role(
        "fdd7a751-b60b-444a-984c-02652fe8fa1c",
        "Groups Administrator",
    ),
    role(
        "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
        "License Administrator",
    ),
    role(
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
        "Exchange Administrator",
    ),
    role(
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
        "SharePoint Administrator",
    ),
    role(
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "Security Administrator",
    ),
    role(
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        "Application Administrator",
    ),
    role(
        "b0f54661-2d74-4c50-afa3-1ec803f12efe",
        "Billing Administrator",
    ),
    role("f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"),
];

/// The built-in role with this definition (template) id.
pub fn role_definition(id: &str) -> Option<&'static RoleDefinition> {
    ROLE_DEFINITIONS
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(id))
}

impl RoleDefinition {
    /// The activated role as `memberOf` lists it.
    pub fn directory_role_json(&self) -> Value {
        json!({
            "@odata.type": "#microsoft.graph.directoryRole",
            "id": self.id,
            "displayName": self.name,
            "roleTemplateId": self.id,
            "description": null,
        })
    }
}

/// A directory role held by a user or a role-assignable group.
#[derive(Clone, Debug)]
pub struct RoleAssignment {
    /// The assignment's id.
    pub id: String,
    /// The user or group holding the role.
    pub principal_id: String,
    /// The role's definition id.
    pub role_definition_id: String,
    /// Where the role applies; `/` for the whole tenant.
    pub directory_scope_id: String,
}

impl RoleAssignment {
    /// The assignment as `unifiedRoleAssignment` JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "principalId": self.principal_id,
            "roleDefinitionId": self.role_definition_id,
            "directoryScopeId": self.directory_scope_id,
        })
    }
}

impl Directory {
    /// Every role assignment, oldest first.
    pub fn role_assignments(&self) -> &[RoleAssignment] {
        &self.role_assignments
    }

    /// `POST /roleManagement/directory/roleAssignments`. The principal is a user or a
    /// role-assignable group; a user too new to be replicated is an invalid reference.
    pub fn assign_role(
        &mut self,
        principal: &str,
        role_definition_id: &str,
        scope: &str,
        view: View,
    ) -> Result<&RoleAssignment, DirectoryError> {
        let definition = role_definition(role_definition_id)
            .ok_or_else(|| DirectoryError::NotFound(role_definition_id.to_string()))?;
        let principal_id = self.role_principal(principal, view)?;
        let taken = self.role_assignments.iter().any(|a| {
            a.principal_id == principal_id
                && a.role_definition_id == definition.id
                && a.directory_scope_id == scope
        });
        if taken {
            return Err(DirectoryError::RoleAssigned);
        }
        self.role_assignments.push(RoleAssignment {
            id: ids::guid(),
            principal_id,
            role_definition_id: definition.id.to_string(),
            directory_scope_id: scope.to_string(),
        });
        Ok(&self.role_assignments[self.role_assignments.len() - 1])
    }

    /// `DELETE /roleManagement/directory/roleAssignments/{id}`.
    pub fn remove_role_assignment(&mut self, id: &str) -> Result<(), DirectoryError> {
        let before = self.role_assignments.len();
        self.role_assignments
            .retain(|a| !a.id.eq_ignore_ascii_case(id));
        if self.role_assignments.len() == before {
            return Err(DirectoryError::NotFound(id.to_string()));
        }
        Ok(())
    }

    /// The roles `object_id` holds directly, or (for a user) through the role-assignable
    /// groups it is a direct member of.
    pub fn roles_of(&self, object_id: &str, transitive: bool) -> Vec<&'static RoleDefinition> {
        let mut principals = vec![object_id.to_string()];
        if transitive {
            principals.extend(
                self.member_of(object_id)
                    .into_iter()
                    .filter(|g| g.is_role_assignable())
                    .map(|g| g.id.clone()),
            );
        }
        let mut roles: Vec<&'static RoleDefinition> = self
            .role_assignments
            .iter()
            .filter(|a| {
                principals
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(&a.principal_id))
            })
            .filter_map(|a| role_definition(&a.role_definition_id))
            .collect();
        roles.dedup_by_key(|r| r.id);
        roles
    }

    /// Refuses the change when the user at `index` holds a directory role: application
    /// permissions cannot act on administrators.
    pub(super) fn check_not_privileged(&self, index: usize) -> Result<(), DirectoryError> {
        if self.roles_of(self.users[index].id(), true).is_empty() {
            Ok(())
        } else {
            Err(DirectoryError::Forbidden)
        }
    }

    /// Adds the configured role assignments.
    pub(super) fn seed_role_assignments(
        &mut self,
        seeds: &[RoleAssignmentSeed],
    ) -> Result<(), String> {
        let settled = View {
            now: std::time::Instant::now(),
            lag: std::time::Duration::ZERO,
        };
        for seed in seeds {
            let principal = self
                .groups
                .iter()
                .find(|g| g.display_name() == seed.principal)
                .map_or(seed.principal.as_str(), |g| g.id.as_str())
                .to_string();
            self.assign_role(&principal, &seed.role_definition_id, "/", settled)
                .map_err(|e| format!("role assignment for {:?}: {e}", seed.principal))?;
        }
        Ok(())
    }

    fn role_principal(&self, key: &str, view: View) -> Result<String, DirectoryError> {
        if let Ok(group) = self.group(key) {
            if !group.is_role_assignable() {
                return Err(DirectoryError::invalid(
                    "principalId",
                    "Only groups that are assignable to roles may hold a directory role.",
                ));
            }
            return Ok(group.id.clone());
        }
        let index = self.referenced_index(key, view)?;
        Ok(self.users[index].id().to_string())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::{Config, GroupSeed};

    const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";

    #[test]
    fn a_role_through_a_role_assignable_group_makes_its_members_privileged() {
        let admins: GroupSeed = serde_json::from_value(json!({
            "displayName": "Admins", "isAssignableToRole": true,
            "members": ["ann@contoso.example"]
        }))
        .unwrap();
        let config = Config {
            users: vec![
                json!({"displayName": "Ann", "userPrincipalName": "ann@contoso.example"}),
                json!({"displayName": "Bob", "userPrincipalName": "bob@contoso.example"}),
            ],
            groups: vec![admins],
            role_assignments: vec![RoleAssignmentSeed {
                principal: "Admins".into(),
                role_definition_id: GLOBAL_ADMIN.into(),
            }],
            ..Config::default()
        };
        let d = Directory::new(&config).unwrap();
        assert_eq!(d.check_not_privileged(0), Err(DirectoryError::Forbidden));
        assert_eq!(d.check_not_privileged(1), Ok(()));
        let ann = d.users[0].id().to_string();
        assert!(d.roles_of(&ann, false).is_empty());
        assert_eq!(d.roles_of(&ann, true)[0].name, "Global Administrator");
    }

    #[test]
    fn the_same_role_twice_is_a_conflict() {
        let config = Config {
            users: vec![json!({"displayName": "Ann", "userPrincipalName": "ann@contoso.example"})],
            ..Config::default()
        };
        let mut d = Directory::new(&config).unwrap();
        let view = View {
            now: std::time::Instant::now(),
            lag: std::time::Duration::ZERO,
        };
        let ann = "ann@contoso.example";
        assert!(d.assign_role(ann, GLOBAL_ADMIN, "/", view).is_ok());
        assert_eq!(
            d.assign_role(ann, GLOBAL_ADMIN, "/", view).unwrap_err(),
            DirectoryError::RoleAssigned
        );
        assert_eq!(
            d.assign_role(ann, "00000000-0000-0000-0000-00000000dead", "/", view)
                .unwrap_err(),
            DirectoryError::NotFound("00000000-0000-0000-0000-00000000dead".into())
        );
    }
}
