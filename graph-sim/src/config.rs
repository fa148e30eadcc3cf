//! The simulated tenant as the CLI loads it from YAML or JSON.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::is_guid;

/// The simulated tenant: its identity, the app registrations allowed to get tokens, the
/// subscriptions it owns and the users it starts with.
///
/// Every field has a default, so an empty document is a usable configuration.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Config {
    /// The directory (tenant) id; token requests may name the tenant by it.
    pub tenant_id: String,
    /// Domains users may be created in; token requests may also name the tenant by one of them.
    pub verified_domains: Vec<String>,
    /// App registrations that may use the client-credentials grant.
    pub clients: Vec<ClientCredential>,
    /// Subscriptions of the tenant, with their number of purchased seats.
    pub skus: Vec<SkuSeed>,
    /// Users present at start, in the shape of a `POST /users` body. The password is optional
    /// and not held to the complexity rules; `assignedLicenses` may be given and takes seats.
    pub users: Vec<serde_json::Value>,
    /// How long a newly created user stays invisible to reads (eventual consistency).
    pub replication_lag_ms: u64,
    /// Lifetime of issued access tokens, reported as `expires_in`.
    pub token_lifetime_seconds: u64,
}

/// A client id with its client secret.
#[derive(Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCredential {
    /// The application (client) id.
    pub client_id: String,
    /// The client secret the application authenticates with.
    pub client_secret: String,
}

/// A subscription the tenant owns.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SkuSeed {
    /// The product's part number, e.g. `ENTERPRISEPACK`.
    pub sku_part_number: String,
    /// The product's GUID, which `assignLicense` refers to.
    pub sku_id: String,
    /// Purchased seats (`prepaidUnits.enabled`).
    #[serde(default)]
    pub enabled: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            tenant_id: "11111111-2222-3333-4444-555555555555".into(),
            verified_domains: vec!["contoso.example".into()],
            clients: vec![ClientCredential {
                client_id: "00000000-0000-0000-0000-0000000000c1".into(),
                client_secret: "sim-client-secret".into(),
            }],
            skus: vec![
                sku("ENTERPRISEPACK", "6fd2c87f-b296-42f0-b197-1e91e994b900", 25),
                sku(
                    "ENTERPRISEPREMIUM",
                    "c7df2760-2c81-4ef7-b578-5b5392b571df",
                    5,
                ),
            ],
            users: Vec::new(),
            replication_lag_ms: 0,
            token_lifetime_seconds: 3599,
        }
    }
}

fn sku(part_number: &str, sku_id: &str, enabled: u32) -> SkuSeed {
    SkuSeed {
        sku_part_number: part_number.into(),
        sku_id: sku_id.into(),
        enabled,
    }
}

impl Config {
    /// Checks what the simulator relies on; users are checked when they are seeded.
    pub(crate) fn check(&self) -> Result<(), String> {
        if !is_guid(&self.tenant_id) {
            return Err(format!("tenantId {:?} is not a GUID", self.tenant_id));
        }
        if self.verified_domains.is_empty() {
            return Err("verifiedDomains must name at least one domain".into());
        }
        for seed in &self.skus {
            if !is_guid(&seed.sku_id) {
                return Err(format!("skuId {:?} is not a GUID", seed.sku_id));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for ClientCredential {
    // Keeps the secret out of logs and panic messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredential")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_document_gives_the_default_tenant() {
        let config: Config = serde_json::from_str("{}").unwrap();
        assert_eq!(config.tenant_id, "11111111-2222-3333-4444-555555555555");
        assert_eq!(config.verified_domains, ["contoso.example"]);
        assert_eq!(config.skus.len(), 2);
        assert_eq!(config.skus[1].sku_part_number, "ENTERPRISEPREMIUM");
        assert_eq!(config.token_lifetime_seconds, 3599);
        assert_eq!(config.check(), Ok(()));
    }

    #[test]
    fn camel_case_keys_override_defaults() {
        let json = r#"{"replicationLagMs": 1500, "skus": [
            {"skuPartNumber": "SPE_E3", "skuId": "05e9a617-0261-4cee-bb44-138d3ef5d965"}]}"#;
        let config: Config = serde_json::from_str(json).unwrap();
        assert_eq!(config.replication_lag_ms, 1500);
        assert_eq!(config.skus[0].enabled, 0);
        assert_eq!(config.clients[0].client_secret, "sim-client-secret");
    }

    #[test]
    fn debug_output_hides_client_secrets() {
        let text = format!("{:?}", Config::default());
        assert!(!text.contains("sim-client-secret"), "{text}");
    }

    #[test]
    fn check_rejects_a_tenant_id_that_is_not_a_guid() {
        let config = Config {
            tenant_id: "contoso".into(),
            ..Config::default()
        };
        assert!(config.check().unwrap_err().contains("tenantId"));
    }
}
