//! Group memberships and app role assignments. Adding a member twice or removing a
//! non-member is success: the membership ends up as asked either way.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::{Call, Category, Graph, GraphError};

/// A group the user belongs to, as `memberOf` lists it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub id: String,
    #[serde(rename = "@odata.type", default)]
    pub odata_type: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub group_types: Vec<String>,
    #[serde(default)]
    pub mail_enabled: Option<bool>,
    #[serde(default)]
    pub security_enabled: Option<bool>,
    #[serde(default)]
    pub is_assignable_to_role: Option<bool>,
}

impl Membership {
    pub fn is_group(&self) -> bool {
        self.odata_type == "#microsoft.graph.group"
    }

    /// Whether Graph refuses membership changes to this group: dynamic groups compute
    /// their members, and mail-enabled security and distribution groups belong to Exchange.
    pub fn is_read_only(&self) -> bool {
        let has = |kind: &str| self.group_types.iter().any(|t| t == kind);
        // Microsoft 365 (Unified) groups are mail-enabled too, but Graph manages their members.
        has("DynamicMembership") || (self.mail_enabled == Some(true) && !has("Unified"))
    }
}

/// An app role granted to a user.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAssignment {
    pub id: String,
    pub resource_id: String,
    pub app_role_id: String,
}

impl Graph {
    /// The groups and directory roles the user is a direct member of.
    pub async fn member_of(&self, user_id: &str) -> Result<Vec<Membership>, GraphError> {
        let path = format!("/users/{user_id}/memberOf");
        let select = "id,displayName,groupTypes,mailEnabled,securityEnabled,isAssignableToRole";
        let query = [("$select", select)];
        self.all_pages(Call {
            query: &query,
            ..Call::new("list memberships", Method::GET, &path)
        })
        .await
    }

    /// Every group the user belongs to, directly or through nested groups.
    pub async fn transitive_member_of(&self, user_id: &str) -> Result<Vec<Membership>, GraphError> {
        let path = format!("/users/{user_id}/transitiveMemberOf");
        let query = [("$select", "id,displayName,groupTypes,mailEnabled")];
        self.all_pages(Call {
            query: &query,
            ..Call::new("list nested memberships", Method::GET, &path)
        })
        .await
    }

    /// Whether the account that owns `address` is in the group, directly or through nested
    /// groups. No such account is not a member.
    pub async fn address_in_group(
        &self,
        address: &str,
        group_id: &str,
    ) -> Result<bool, GraphError> {
        let Some(account) = self.find_address_owners(address).await?.into_iter().next() else {
            return Ok(false);
        };
        let groups = self.transitive_member_of(&account.id).await?;
        Ok(groups.iter().any(|g| g.id.eq_ignore_ascii_case(group_id)))
    }

    /// Makes the user a member of the group.
    pub async fn add_member(&self, group_id: &str, user_id: &str) -> Result<(), GraphError> {
        let path = format!("/groups/{group_id}/members/$ref");
        let body = json!({ "@odata.id": format!("{}/directoryObjects/{user_id}", self.base) });
        let call = Call {
            body: Some(&body),
            refers_to_new_object: true,
            ..Call::new("add group member", Method::POST, &path)
        };
        match self.send(call).await {
            Err(e) if e.category == Category::Conflict => Ok(()),
            other => other.map(drop),
        }
    }

    /// Takes the user out of the group.
    pub async fn remove_member(&self, group_id: &str, user_id: &str) -> Result<(), GraphError> {
        let path = format!("/groups/{group_id}/members/{user_id}/$ref");
        match self
            .send(Call::new("remove group member", Method::DELETE, &path))
            .await
        {
            Err(e) if is_absent_member(&e) => Ok(()),
            other => other.map(drop),
        }
    }

    /// The app roles granted to the user.
    pub async fn app_role_assignments(
        &self,
        user_id: &str,
    ) -> Result<Vec<AppRoleAssignment>, GraphError> {
        let path = format!("/users/{user_id}/appRoleAssignments");
        self.all_pages(Call::new("list app roles", Method::GET, &path))
            .await
    }

    /// Grants an app role of a service principal (`resource_id`) to the user.
    pub async fn grant_app_role(
        &self,
        user_id: &str,
        resource_id: &str,
        app_role_id: &str,
    ) -> Result<(), GraphError> {
        let path = format!("/users/{user_id}/appRoleAssignments");
        let body =
            json!({ "principalId": user_id, "resourceId": resource_id, "appRoleId": app_role_id });
        let call = Call {
            body: Some(&body),
            refers_to_new_object: true,
            ..Call::new("grant app role", Method::POST, &path)
        };
        match self.send(call).await {
            Err(e) if e.category == Category::Conflict || e.message.contains("already exists") => {
                Ok(())
            }
            other => other.map(drop),
        }
    }

    /// Withdraws one app role assignment.
    pub async fn revoke_app_role(
        &self,
        user_id: &str,
        assignment_id: &str,
    ) -> Result<(), GraphError> {
        let path = format!("/users/{user_id}/appRoleAssignments/{assignment_id}");
        match self
            .send(Call::new("revoke app role", Method::DELETE, &path))
            .await
        {
            Err(e) if e.category == Category::NotFound => Ok(()),
            other => other.map(drop),
        }
    }
}

/// Graph answers a removal of a non-member with 404, or with a 400 saying the reference
/// does not exist.
fn is_absent_member(e: &GraphError) -> bool {
    e.category == Category::NotFound || e.message.contains("do not exist")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(types: &[&str], mail_enabled: bool) -> Membership {
        Membership {
            id: "g".into(),
            odata_type: "#microsoft.graph.group".into(),
            display_name: None,
            group_types: types.iter().map(|t| t.to_string()).collect(),
            mail_enabled: Some(mail_enabled),
            security_enabled: Some(true),
            is_assignable_to_role: None,
        }
    }

    #[test]
    fn which_groups_graph_will_not_change() {
        assert!(group(&["DynamicMembership"], false).is_read_only());
        assert!(
            group(&[], true).is_read_only(),
            "mail-enabled security or distribution group"
        );
        assert!(
            !group(&["Unified"], true).is_read_only(),
            "Microsoft 365 group"
        );
        assert!(!group(&[], false).is_read_only(), "plain security group");
    }
}
