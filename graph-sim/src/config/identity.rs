//! App registrations: how each one may authenticate and which application permissions an
//! administrator granted it.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The audience Entra expects in a federated (workload identity) assertion.
pub const FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";

/// The application permissions an app gets when its configuration names none: every one the
/// operator uses, so a default tenant lets it do its whole job.
pub const DEFAULT_PERMISSIONS: &[&str] = &[
    "User.ReadWrite.All",
    "Organization.Read.All",
    "LicenseAssignment.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "RoleManagement.ReadWrite.Directory",
    "Mail.Send",
    "Mail.ReadBasic.All",
    "UserAuthenticationMethod.ReadWrite.All",
];

/// An app registration: its client id and the credentials it may authenticate with.
///
/// `ClientCredential { client_id, client_secret, ..ClientCredential::default() }` builds one
/// with the default permissions and no certificate or federated credential.
#[derive(Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCredential {
    /// The application (client) id.
    pub client_id: String,
    /// The client secret the application authenticates with; empty when it has none.
    #[serde(default)]
    pub client_secret: String,
    /// When the client secret stops working (`AADSTS7000222` afterwards); never when unset.
    #[serde(default)]
    pub client_secret_expires_at: Option<DateTime<Utc>>,
    /// PEM certificates (`-----BEGIN CERTIFICATE-----`, RSA keys) whose private keys may sign
    /// client assertions for this app.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Federated identity credentials: external tokens this app accepts as assertions.
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredential>,
    /// Granted application permissions, e.g. `User.ReadWrite.All`.
    #[serde(default = "default_permissions")]
    pub permissions: Vec<String>,
}

/// A federated identity credential: a token from `issuer` about `subject` for one of
/// `audiences` stands in for a client secret.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FederatedCredential {
    /// The token issuer, e.g. the cluster's service-account issuer URL.
    pub issuer: String,
    /// The subject, matched case-sensitively, e.g. `system:serviceaccount:ns:name`.
    pub subject: String,
    /// Accepted audiences; `api://AzureADTokenExchange` when not given.
    #[serde(default = "default_audiences")]
    pub audiences: Vec<String>,
}

/// A token issuer trusted for federation, with the public keys its tokens are signed with.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FederatedIssuer {
    /// The `iss` claim of its tokens.
    pub issuer: String,
    /// PEM public keys (`PUBLIC KEY`, RSA or EC P-256) or certificates.
    pub public_keys: Vec<String>,
}

impl Default for ClientCredential {
    fn default() -> Self {
        Self {
            client_id: String::new(),
            client_secret: String::new(),
            client_secret_expires_at: None,
            certificates: Vec::new(),
            federated_credentials: Vec::new(),
            permissions: default_permissions(),
        }
    }
}

impl ClientCredential {
    /// Whether the app was granted `permission` (names compare without case).
    pub fn has_permission(&self, permission: &str) -> bool {
        self.permissions
            .iter()
            .any(|p| p.eq_ignore_ascii_case(permission))
    }
}

fn default_permissions() -> Vec<String> {
    DEFAULT_PERMISSIONS.iter().map(|p| p.to_string()).collect()
}

fn default_audiences() -> Vec<String> {
    vec![FEDERATED_AUDIENCE.to_string()]
}

impl fmt::Debug for ClientCredential {
    // Keeps the secret out of logs and panic messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredential")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("client_secret_expires_at", &self.client_secret_expires_at)
            .field("certificates", &self.certificates.len())
            .field("federated_credentials", &self.federated_credentials)
            .field("permissions", &self.permissions)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_without_permissions_gets_the_operators_set() {
        let client: ClientCredential = serde_json::from_str(r#"{"clientId": "a"}"#).unwrap();
        assert_eq!(client.client_secret, "");
        assert!(client.has_permission("user.readwrite.all"));
        assert!(client.has_permission("Mail.Send"));
        let narrow: ClientCredential =
            serde_json::from_str(r#"{"clientId": "a", "permissions": ["User.Read.All"]}"#).unwrap();
        assert!(!narrow.has_permission("User.ReadWrite.All"));
    }

    #[test]
    fn federated_credentials_default_to_the_token_exchange_audience() {
        let credential: FederatedCredential =
            serde_json::from_str(r#"{"issuer": "https://kube", "subject": "system:sa"}"#).unwrap();
        assert_eq!(credential.audiences, [FEDERATED_AUDIENCE]);
    }
}
