//! The simulated tenant as the CLI loads it from YAML or JSON.

mod authentication;
mod identity;
mod limits;
mod seeds;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use authentication::{LIFETIME_RANGE, TemporaryAccessPassPolicy};
pub use identity::{
    ClientCredential, DEFAULT_PERMISSIONS, FEDERATED_AUDIENCE, FederatedCredential, FederatedIssuer,
};
pub use limits::ThrottleLimits;
pub use seeds::{AppRoleSeed, GroupSeed, RoleAssignmentSeed, ServicePrincipalSeed, SkuSeed};

use crate::faults::Faults;
use crate::ids::is_guid;

/// Thirty days, how long Entra keeps a deleted user restorable.
const DELETED_RETENTION_SECONDS: u64 = 30 * 24 * 3600;
/// Seven days, how long a delta token stays usable.
const DELTA_TOKEN_LIFETIME_SECONDS: u64 = 7 * 24 * 3600;

/// The simulated tenant: its identity, the app registrations allowed to get tokens, the
/// subscriptions it owns, the users, groups and roles it starts with, and how strict the
/// service is (throttling, faults, retention).
///
/// Every field has a default, so an empty document is a usable configuration.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Config {
    /// The directory (tenant) id; token requests may name the tenant by it.
    pub tenant_id: String,
    /// Domains users may be created in; token requests may also name the tenant by one of them.
    pub verified_domains: Vec<String>,
    /// App registrations that may use the client-credentials grant, with their secrets,
    /// certificates, federated credentials and granted application permissions.
    pub clients: Vec<ClientCredential>,
    /// Token issuers that federated credentials may name, with the keys they sign with.
    pub federated_issuers: Vec<FederatedIssuer>,
    /// Subscriptions of the tenant, with their number of purchased seats.
    pub skus: Vec<SkuSeed>,
    /// Users present at start, in the shape of a `POST /users` body. The password is optional
    /// and not held to the complexity rules; `assignedLicenses` may be given and takes seats.
    pub users: Vec<serde_json::Value>,
    /// Groups present at start, with their members.
    pub groups: Vec<GroupSeed>,
    /// Enterprise applications whose app roles users may be assigned.
    pub service_principals: Vec<ServicePrincipalSeed>,
    /// Directory role assignments present at start; their principals count as administrators.
    pub role_assignments: Vec<RoleAssignmentSeed>,
    /// How long a newly created user stays invisible to reads (eventual consistency).
    pub replication_lag_ms: u64,
    /// Lifetime of issued access tokens, reported as `expires_in`.
    pub token_lifetime_seconds: u64,
    /// How long a deleted user stays restorable before it is deleted for good.
    pub deleted_retention_seconds: u64,
    /// How long a `/users/delta` token stays usable; older ones get `410 syncStateNotFound`.
    pub delta_token_lifetime_seconds: u64,
    /// Throttling limits; the defaults are the published ones.
    pub throttling: ThrottleLimits,
    /// The Temporary Access Pass policy: whether passes may be issued, and their bounds.
    pub temporary_access_pass: TemporaryAccessPassPolicy,
    /// Faults in force from the start, as `PUT /_sim/faults` would set them.
    pub faults: Faults,
    /// Where to write the PEM of the certificate authority behind the simulator's TLS
    /// certificate, so that clients outside the process can trust it.
    pub ca_cert_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            tenant_id: "11111111-2222-3333-4444-555555555555".into(),
            verified_domains: vec!["contoso.example".into()],
            clients: vec![ClientCredential {
                client_id: "00000000-0000-0000-0000-0000000000c1".into(),
                client_secret: "sim-client-secret".into(),
                ..ClientCredential::default()
            }],
            federated_issuers: Vec::new(),
            skus: vec![
                SkuSeed::new("ENTERPRISEPACK", "6fd2c87f-b296-42f0-b197-1e91e994b900", 25),
                SkuSeed::new(
                    "ENTERPRISEPREMIUM",
                    "c7df2760-2c81-4ef7-b578-5b5392b571df",
                    5,
                ),
            ],
            users: Vec::new(),
            groups: Vec::new(),
            service_principals: Vec::new(),
            role_assignments: Vec::new(),
            replication_lag_ms: 0,
            token_lifetime_seconds: 3599,
            deleted_retention_seconds: DELETED_RETENTION_SECONDS,
            delta_token_lifetime_seconds: DELTA_TOKEN_LIFETIME_SECONDS,
            throttling: ThrottleLimits::default(),
            temporary_access_pass: TemporaryAccessPassPolicy::default(),
            faults: Faults::default(),
            ca_cert_file: None,
        }
    }
}

impl Config {
    /// Checks what the simulator relies on; users, groups and roles are checked when they are
    /// seeded, credentials when they are loaded.
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
        self.throttling.check()?;
        self.temporary_access_pass.check()?;
        self.faults.check()
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
        assert_eq!(config.deleted_retention_seconds, 2_592_000);
        assert_eq!(config.delta_token_lifetime_seconds, 604_800);
        assert_eq!(config.throttling.writes, 3000);
        assert_eq!(config.check(), Ok(()));
    }

    #[test]
    fn camel_case_keys_override_defaults() {
        let json = r#"{"replicationLagMs": 1500, "skus": [
            {"skuPartNumber": "SPE_E3", "skuId": "05e9a617-0261-4cee-bb44-138d3ef5d965"}],
            "throttling": {"writes": 5, "writeWindowMs": 1000},
            "faults": {"serverErrorRate": 0.5, "seed": 7}}"#;
        let config: Config = serde_json::from_str(json).unwrap();
        assert_eq!(config.replication_lag_ms, 1500);
        assert_eq!(config.skus[0].enabled, 0);
        assert_eq!(config.clients[0].client_secret, "sim-client-secret");
        assert_eq!(
            (
                config.throttling.writes,
                config.throttling.resource_units_small
            ),
            (5, 3500)
        );
        assert_eq!(config.faults.seed, Some(7));
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

    #[test]
    fn check_rejects_rates_outside_zero_to_one() {
        let config = Config {
            faults: Faults {
                throttle_rate: 1.5,
                ..Faults::default()
            },
            ..Config::default()
        };
        assert!(config.check().unwrap_err().contains("throttleRate"));
    }
}
