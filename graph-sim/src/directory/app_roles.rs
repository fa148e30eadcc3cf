//! Enterprise applications and the app roles users are assigned in them.

use serde_json::{Value, json};

use super::Directory;
use super::error::DirectoryError;
use super::user::View;
use crate::clock;
use crate::config::ServicePrincipalSeed;
use crate::ids::{self, is_guid};

/// The app role id that stands for "default access" to an application without roles.
const DEFAULT_ACCESS: &str = "00000000-0000-0000-0000-000000000000";

/// An enterprise application (service principal).
#[derive(Clone, Debug)]
pub struct ServicePrincipal {
    /// The object id, the `resourceId` of assignments.
    pub id: String,
    /// The application id.
    pub app_id: String,
    /// The display name.
    pub display_name: String,
    /// The roles it defines, as `(id, value)`.
    pub app_roles: Vec<(String, String)>,
}

/// A user's assignment to an app role.
#[derive(Clone, Debug)]
pub struct AppRoleAssignment {
    /// The assignment's id.
    pub id: String,
    /// The user's object id.
    pub principal_id: String,
    /// The user's display name when assigned.
    pub principal_display_name: String,
    /// The service principal's object id.
    pub resource_id: String,
    /// The service principal's display name.
    pub resource_display_name: String,
    /// The app role.
    pub app_role_id: String,
    /// When it was made.
    pub created: String,
}

impl ServicePrincipal {
    /// Refuses an `appRoleId` the application does not define (default access aside).
    fn check_role(&self, role: &str) -> Result<(), DirectoryError> {
        let defined = self
            .app_roles
            .iter()
            .any(|(id, _)| id.eq_ignore_ascii_case(role));
        if role == DEFAULT_ACCESS || defined {
            return Ok(());
        }
        Err(DirectoryError::invalid(
            "appRoleId",
            format!(
                "Permission being assigned was not found on application '{}'.",
                self.app_id
            ),
        ))
    }
}

impl AppRoleAssignment {
    /// The assignment as `appRoleAssignment` JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "deletedDateTime": null,
            "appRoleId": self.app_role_id,
            "createdDateTime": self.created,
            "principalDisplayName": self.principal_display_name,
            "principalId": self.principal_id,
            "principalType": "User",
            "resourceDisplayName": self.resource_display_name,
            "resourceId": self.resource_id,
        })
    }
}

impl Directory {
    /// `POST /users/{key}/appRoleAssignments` with `principalId`, `resourceId`, `appRoleId`.
    pub fn assign_app_role(
        &mut self,
        user_key: &str,
        body: &Value,
        view: View,
    ) -> Result<&AppRoleAssignment, DirectoryError> {
        let field = |name: &str| {
            body.get(name)
                .and_then(Value::as_str)
                .filter(|v| is_guid(v))
                .ok_or_else(|| DirectoryError::invalid_value(name))
        };
        let (principal, resource, role) = (
            field("principalId")?,
            field("resourceId")?,
            field("appRoleId")?,
        );
        let user = &self.users[self.referenced_index(user_key, view)?];
        if !user.id().eq_ignore_ascii_case(principal) {
            return Err(DirectoryError::invalid(
                "principalId",
                "The principalId must be the id of the user the assignment is made for.",
            ));
        }
        let sp = self.service_principal(resource)?;
        sp.check_role(role)?;
        let duplicate = self.app_role_assignments.iter().any(|a| {
            a.principal_id == user.id()
                && a.resource_id == sp.id
                && a.app_role_id.eq_ignore_ascii_case(role)
        });
        if duplicate {
            return Err(DirectoryError::AppRoleAssigned);
        }
        let assignment = AppRoleAssignment {
            id: ids::assignment_id(),
            principal_id: user.id().to_string(),
            principal_display_name: user.text("displayName").unwrap_or_default().to_string(),
            resource_id: sp.id.clone(),
            resource_display_name: sp.display_name.clone(),
            app_role_id: role.to_ascii_lowercase(),
            created: clock::rfc3339_now(),
        };
        self.app_role_assignments.push(assignment);
        Ok(&self.app_role_assignments[self.app_role_assignments.len() - 1])
    }

    /// The app role assignments of the visible user `user_key`.
    pub fn app_role_assignments_of(
        &self,
        user_key: &str,
        view: View,
    ) -> Result<Vec<&AppRoleAssignment>, DirectoryError> {
        let user = self.find_visible(user_key, view)?;
        Ok(self
            .app_role_assignments
            .iter()
            .filter(|a| a.principal_id == user.id())
            .collect())
    }

    /// `DELETE /users/{key}/appRoleAssignments/{id}`.
    pub fn remove_app_role_assignment(
        &mut self,
        user_key: &str,
        id: &str,
        view: View,
    ) -> Result<(), DirectoryError> {
        let user_id = self.find_visible(user_key, view)?.id().to_string();
        let position = self
            .app_role_assignments
            .iter()
            .position(|a| a.principal_id == user_id && a.id == id)
            .ok_or_else(|| DirectoryError::NotFound(id.to_string()))?;
        self.app_role_assignments.remove(position);
        Ok(())
    }

    /// The service principal with this object id.
    pub fn service_principal(&self, id: &str) -> Result<&ServicePrincipal, DirectoryError> {
        self.service_principals
            .iter()
            .find(|sp| sp.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| DirectoryError::NotFound(id.to_string()))
    }

    /// Adds the configured enterprise applications.
    pub(super) fn seed_service_principals(
        &mut self,
        seeds: &[ServicePrincipalSeed],
    ) -> Result<(), String> {
        for seed in seeds {
            let ids = [&seed.id, &seed.app_id]
                .into_iter()
                .flatten()
                .chain(seed.app_roles.iter().map(|r| &r.id));
            if let Some(bad) = ids.into_iter().find(|id| !is_guid(id)) {
                return Err(format!(
                    "service principal {:?}: {bad:?} is not a GUID",
                    seed.display_name
                ));
            }
            self.service_principals.push(ServicePrincipal {
                id: seed
                    .id
                    .clone()
                    .unwrap_or_else(ids::guid)
                    .to_ascii_lowercase(),
                app_id: seed.app_id.clone().unwrap_or_else(ids::guid),
                display_name: seed.display_name.clone(),
                app_roles: seed
                    .app_roles
                    .iter()
                    .map(|r| (r.id.to_ascii_lowercase(), r.value.clone()))
                    .collect(),
            });
        }
        Ok(())
    }
}
