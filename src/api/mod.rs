//! The custom resources m365-operator serves, in API group `m365-operator.io`, version
//! `v1alpha1`.
//!
//! - [`User`] (namespaced): one person's Entra ID account, as HR approved it.
//! - [`Tenant`] (cluster-scoped): how to reach one Entra tenant and what its licences are called.

pub mod conditions;
pub mod deactivation;
pub mod tenant;
pub mod user;

pub use tenant::{Tenant, TenantSpec, TenantStatus};
pub use user::{LicenseTier, Phase, User, UserSpec, UserStatus};

use kube::CustomResourceExt;

/// The API group of every kind this operator serves.
pub const GROUP: &str = "m365-operator.io";

/// Every CustomResourceDefinition, in the order `kubectl apply` should see them, as one YAML
/// stream. `crds/` holds exactly this text; a test fails when the two drift apart.
pub fn crds_yaml() -> String {
    let crds = [
        Tenant::crd(),
        User::crd(),
        deactivation::Deactivation::crd(),
    ];
    crds.iter()
        .map(|crd| serde_yaml_ng::to_string(crd).expect("a CRD always serialises"))
        .map(|doc| format!("---\n{doc}"))
        .collect()
}
