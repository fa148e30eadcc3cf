//! Users: look up, create.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use serde::de::DeserializeOwned;

use super::{ADVANCED_QUERY, Call, Graph, GraphError, filter_literal};
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

/// One page of a Graph collection.
#[derive(Deserialize)]
pub(super) struct Page<T> {
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
}

impl Graph {
    /// The account with this UPN, if one is visible yet.
    pub async fn find_user_by_upn(&self, upn: &str) -> Result<Option<DirectoryUser>, GraphError> {
        let filter = format!("userPrincipalName eq {}", filter_literal(upn));
        let query = [("$filter", filter.as_str()), ("$select", SELECT)];
        let call = Call {
            query: &query,
            ..Call::new("find user by UPN", Method::GET, "/users")
        };
        let page: Page<DirectoryUser> = self.json(call).await?;
        Ok(page.value.into_iter().next())
    }

    /// Every account that holds `address` as UPN, primary mail or any proxy address. Graph
    /// treats an `or` across these properties as an advanced query.
    pub async fn find_address_owners(
        &self,
        address: &str,
    ) -> Result<Vec<DirectoryUser>, GraphError> {
        let literal = filter_literal(address);
        let proxy = filter_literal(&format!("smtp:{address}"));
        let filter = format!(
            "userPrincipalName eq {literal} or mail eq {literal} or proxyAddresses/any(p:p eq {proxy})"
        );
        self.advanced_user_query("find address owners", &filter)
            .await
    }

    /// The accounts carrying this ownership marker, whatever their UPN. Graph filters on
    /// extension attributes only as an advanced query.
    pub async fn find_users_by_owner_marker(
        &self,
        marker: &str,
    ) -> Result<Vec<DirectoryUser>, GraphError> {
        let filter = format!(
            "onPremisesExtensionAttributes/extensionAttribute15 eq {}",
            filter_literal(marker)
        );
        self.advanced_user_query("find users by owner marker", &filter)
            .await
    }

    /// Every account matching `filter` as an advanced query: Graph wants `$count=true` and
    /// the `ConsistencyLevel: eventual` header with it.
    async fn advanced_user_query(
        &self,
        operation: &'static str,
        filter: &str,
    ) -> Result<Vec<DirectoryUser>, GraphError> {
        let query = [("$filter", filter), ("$select", SELECT), ("$count", "true")];
        let call = Call {
            query: &query,
            headers: ADVANCED_QUERY,
            ..Call::new(operation, Method::GET, "/users")
        };
        self.all_pages(call).await
    }

    /// Every account whose UPN starts with `prefix`, across all pages.
    pub async fn find_users_by_upn_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<DirectoryUser>, GraphError> {
        let filter = format!("startsWith(userPrincipalName,{})", filter_literal(prefix));
        let query = [("$filter", filter.as_str()), ("$select", SELECT)];
        let call = Call {
            query: &query,
            ..Call::new("find users by UPN prefix", Method::GET, "/users")
        };
        self.all_pages(call).await
    }

    /// The account with this object id; `None` if Graph does not know it (yet).
    pub async fn get_user(&self, id: &str) -> Result<Option<DirectoryUser>, GraphError> {
        let path = format!("/users/{id}");
        let call = Call {
            query: &[("$select", SELECT)],
            ..Call::new("get user", Method::GET, &path)
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
        let call = Call {
            body: Some(&body),
            ..Call::new("create user", Method::POST, "/users")
        };
        let created: DirectoryUser = self.json(call).await?;
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

    /// Changes properties of an account (Graph answers 204).
    pub async fn update_user(
        &self,
        id: &str,
        changes: &serde_json::Value,
    ) -> Result<(), GraphError> {
        let path = format!("/users/{id}");
        let call = Call {
            body: Some(changes),
            refers_to_new_object: true,
            ..Call::new("update user", Method::PATCH, &path)
        };
        self.send(call).await.map(drop)
    }

    /// Invalidates the account's refresh tokens and session cookies. Access tokens already
    /// issued stay valid until they expire, as Entra documents.
    pub async fn revoke_sign_in_sessions(&self, id: &str) -> Result<(), GraphError> {
        let path = format!("/users/{id}/revokeSignInSessions");
        let call = Call {
            refers_to_new_object: true,
            ..Call::new("revoke sessions", Method::POST, &path)
        };
        self.send(call).await.map(drop)
    }

    /// When the account's sign-in sessions were last revoked, if ever.
    pub async fn sessions_valid_from(
        &self,
        id: &str,
    ) -> Result<Option<jiff::Timestamp>, GraphError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Sessions {
            sign_in_sessions_valid_from_date_time: Option<String>,
        }
        let path = format!("/users/{id}");
        let query = [("$select", "id,signInSessionsValidFromDateTime")];
        let call = Call {
            query: &query,
            ..Call::new("read sessions valid from", Method::GET, &path)
        };
        let sessions: Sessions = self.json(call).await?;
        Ok(sessions
            .sign_in_sessions_valid_from_date_time
            .and_then(|t| t.parse().ok()))
    }

    /// Deletes the account; Entra keeps it restorable for 30 days. An account that is gone
    /// already counts as deleted.
    pub async fn delete_user(&self, id: &str) -> Result<(), GraphError> {
        let path = format!("/users/{id}");
        match self
            .send(Call::new("delete user", Method::DELETE, &path))
            .await
        {
            Err(e) if e.category == super::Category::NotFound => Ok(()),
            other => other.map(drop),
        }
    }

    /// Reads every page of a list, following `@odata.nextLink`.
    pub(super) async fn all_pages<T: DeserializeOwned>(
        &self,
        first: Call<'_>,
    ) -> Result<Vec<T>, GraphError> {
        let operation = first.operation;
        let mut page: Page<T> = self.json(first).await?;
        let mut items = std::mem::take(&mut page.value);
        while let Some(next) = page.next_link.take() {
            page = self.json_at(operation, &next).await?;
            items.append(&mut page.value);
        }
        Ok(items)
    }
}
