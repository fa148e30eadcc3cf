//! The custom resources m365-operator serves, in API group `m365-operator.io`, version
//! `v1alpha1`.
//!
//! - [`User`] (namespaced): one person's Entra ID account, as HR approved it.
//! - [`role::RoleAssignment`] (namespaced): one request to change a User's role.
//! - [`Tenant`] (cluster-scoped): how to reach one Entra tenant and what its licences are called.

pub mod conditions;
pub mod deactivation;
pub mod role;
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
        role::RoleAssignment::crd(),
    ];
    crds.iter()
        .map(|crd| {
            let mut value = serde_json::to_value(crd).expect("a CRD always serialises");
            drop_unsigned_formats(&mut value);
            serde_yaml_ng::to_string(&value).expect("a CRD always serialises")
        })
        .map(|doc| format!("---\n{doc}"))
        .collect()
}

/// schemars marks unsigned integers `format: uint32`, which the API server does not know and
/// warns about on every apply; the `minimum: 0` beside it already says what it means.
fn drop_unsigned_formats(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if map
                .get("format")
                .and_then(|f| f.as_str())
                .is_some_and(|f| f.starts_with("uint"))
            {
                map.remove("format");
            }
            map.values_mut().for_each(drop_unsigned_formats);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_unsigned_formats),
        _ => {}
    }
}
