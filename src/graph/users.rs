//! Users: look up, create.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Call, Graph, GraphError, filter_literal};
use crate::password::Password;

/// Properties the operator reads; most are outside Graph's default set and need `$select`.
const SELECT: &str = "id,userPrincipalName,mail,mailNickname,accountEnabled,usageLocation,\
assignedLicenses,onPremisesExtensionAttributes";

/// The account as the operator sees it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryUser {
    pub id: String,
    pub user_principal_name: String,
    #[serde(default)]
    pub account_enabled: Option<bool>,
    #[serde(default)]
    pub usage_location: Option<String>,
    #[serde(default)]
    pub assigned_licenses: Vec<AssignedLicense>,
    #[serde(default)]
    pub on_premises_extension_attributes: Option<ExtensionAttributes>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AssignedLicense {
    pub sku_id: String,
}

/// The fifteen free-form attributes Entra keeps on every user. Cloud-only accounts may set
/// them through Graph; the operator marks the accounts it owns in one of them.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionAttributes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension_attribute15: Option<String>,
}

impl DirectoryUser {
    /// The ownership marker, if any.
    pub fn owner_marker(&self) -> Option<&str> {
        self.on_premises_extension_attributes
            .as_ref()?
            .extension_attribute15
            .as_deref()
    }

    pub fn has_license(&self, sku_id: &str) -> bool {
        self.assigned_licenses
            .iter()
            .any(|l| l.sku_id.eq_ignore_ascii_case(sku_id))
    }
}

/// Everything `POST /users` needs for a new account.
#[derive(Debug)]
pub struct NewUser<'a> {
    pub user_principal_name: &'a str,
    pub mail_nickname: &'a str,
    pub display_name: &'a str,
    pub given_name: &'a str,
    pub surname: &'a str,
    pub department: Option<&'a str>,
    pub job_title: Option<&'a str>,
    pub usage_location: &'a str,
    pub password: &'a Password,
    pub owner_marker: &'a str,
}

#[derive(Deserialize)]
struct Page<T> {
    value: Vec<T>,
}

impl Graph {
    /// The account with this UPN, if one is visible yet.
    pub async fn find_user_by_upn(&self, upn: &str) -> Result<Option<DirectoryUser>, GraphError> {
        let filter = format!("userPrincipalName eq {}", filter_literal(upn));
        let page: Page<DirectoryUser> = self
            .json(Call {
                operation: "find user by UPN",
                method: Method::GET,
                path: "/users",
                query: &[("$filter", &filter), ("$select", SELECT)],
                body: None,
                headers: &[],
            })
            .await?;
        Ok(page.value.into_iter().next())
    }

    /// The account with this object id; `None` if Graph does not know it (yet).
    pub async fn get_user(&self, id: &str) -> Result<Option<DirectoryUser>, GraphError> {
        let path = format!("/users/{id}");
        let call = Call {
            operation: "get user",
            method: Method::GET,
            path: &path,
            query: &[("$select", SELECT)],
            body: None,
            headers: &[],
        };
        match self.json(call).await {
            Ok(user) => Ok(Some(user)),
            Err(e) if e.category == super::Category::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates the account, enabled, with a password the person must change at first sign-in.
    pub async fn create_user(&self, user: &NewUser<'_>) -> Result<DirectoryUser, GraphError> {
        let mut body = json!({
            "accountEnabled": true,
            "displayName": user.display_name,
            "givenName": user.given_name,
            "surname": user.surname,
            "mailNickname": user.mail_nickname,
            "userPrincipalName": user.user_principal_name,
            "usageLocation": user.usage_location,
            "passwordProfile": {
                "password": user.password.expose(),
                "forceChangePasswordNextSignIn": true,
                "forceChangePasswordNextSignInWithMfa": false,
            },
            "onPremisesExtensionAttributes": { "extensionAttribute15": user.owner_marker },
        });
        if let Some(department) = user.department {
            body["department"] = json!(department);
        }
        if let Some(job_title) = user.job_title {
            body["jobTitle"] = json!(job_title);
        }
        let created: DirectoryUser = self
            .json(Call {
                operation: "create user",
                method: Method::POST,
                path: "/users",
                query: &[],
                body: Some(&body),
                headers: &[],
            })
            .await?;
        // The 201 carries only the default property set; what we sent is what it holds.
        Ok(DirectoryUser {
            usage_location: Some(user.usage_location.to_string()),
            account_enabled: Some(true),
            on_premises_extension_attributes: Some(ExtensionAttributes {
                extension_attribute15: Some(user.owner_marker.to_string()),
            }),
            ..created
        })
    }
}
