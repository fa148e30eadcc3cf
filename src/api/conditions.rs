//! Status conditions as the Kubernetes API conventions describe them: constant types and
//! CamelCase reasons, `observedGeneration` on each, and `lastTransitionTime` that moves only
//! when the status flips.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::{Schema, SchemaGenerator, json_schema};

/// Condition types. `Ready` summarises; the others say why.
pub mod kind {
    /// The object needs nothing more from the operator.
    pub const READY: &str = "Ready";
    /// The Entra account exists and belongs to this User.
    pub const PROVISIONED: &str = "Provisioned";
    /// The configured licence is assigned to the account.
    pub const LICENSED: &str = "Licensed";
    /// The operator can obtain a Graph token for the tenant and read its subscriptions.
    pub const CONNECTED: &str = "Connected";
    /// The HR approval was checked against the Tenant's policy and accepted.
    pub const APPROVED: &str = "Approved";
    /// True while the derived address belongs to another account.
    pub const DUPLICATE_EMAIL: &str = "DuplicateEmail";
    /// True while the tenant has no free seat of the User's licence.
    pub const LICENSE_UNAVAILABLE: &str = "LicenseUnavailable";
}

/// Condition reasons, shared by Events and metrics.
pub mod reason {
    pub const ACCOUNT_CREATED: &str = "AccountCreated";
    pub const ACCOUNT_ADOPTED: &str = "AccountAdopted";
    pub const ACCOUNT_PENDING: &str = "AccountPending";
    pub const ACCOUNT_MISSING: &str = "AccountMissing";
    pub const UPN_TAKEN: &str = "UserPrincipalNameTaken";
    pub const INVALID_NAME: &str = "InvalidName";
    pub const TENANT_NOT_FOUND: &str = "TenantNotFound";
    pub const TENANT_NOT_CONNECTED: &str = "TenantNotConnected";
    pub const LICENSE_ASSIGNED: &str = "LicenseAssigned";
    pub const LICENSE_REMOVED: &str = "LicenseRemoved";
    pub const LICENSE_PENDING: &str = "LicensePending";
    pub const LICENSE_UNAVAILABLE: &str = "LicenseUnavailable";
    pub const SKU_NOT_FOUND: &str = "SkuNotFound";
    pub const GRAPH_REJECTED: &str = "GraphRejected";
    pub const GRAPH_UNAVAILABLE: &str = "GraphUnavailable";
    pub const CREDENTIALS_INVALID: &str = "CredentialsInvalid";
    pub const CREDENTIALS_MISSING: &str = "CredentialsMissing";
    pub const CONNECTED: &str = "Connected";
    pub const PROVISIONED: &str = "Provisioned";
    pub const IN_PROGRESS: &str = "InProgress";
    pub const APPROVED: &str = "Approved";
    pub const NOT_CHECKED: &str = "NotChecked";
    pub const DUPLICATE_EMAIL: &str = "DuplicateEmail";
    pub const ADDRESS_FREE: &str = "AddressFree";
    pub const SEATS_AVAILABLE: &str = "SeatsAvailable";
    pub const WELCOME_MAIL_PENDING: &str = "WelcomeMailPending";
    pub const WELCOME_MAIL_SENT: &str = "WelcomeMailSent";
    /// The welcome mail waits: Entra would not issue the Temporary Access Pass it is to carry.
    pub const ACCESS_PASS_REFUSED: &str = "TemporaryAccessPassRefused";
    pub const DEADLINE_MISSED: &str = "ProvisioningDeadlineMissed";
    pub const DEACTIVATED: &str = "Deactivated";
}

/// A condition as the operator wants it now; [`merge`] turns it into a `metav1.Condition`.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub type_: &'static str,
    pub status: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Desired {
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason,
            message: message.into(),
        }
    }
}

/// Builds the condition list to write: one entry per desired type, keeping the earlier
/// `lastTransitionTime` when the status did not flip, so that re-applying an unchanged status
/// changes nothing. Conditions the operator no longer reports are dropped.
pub fn merge(
    previous: &[Condition],
    desired: &[Desired],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    desired
        .iter()
        .map(|want| {
            let status = if want.status { "True" } else { "False" };
            let transition = previous
                .iter()
                .find(|c| c.type_ == want.type_ && c.status == status)
                .map(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            Condition {
                type_: want.type_.to_string(),
                status: status.to_string(),
                reason: want.reason.to_string(),
                message: want.message.clone(),
                observed_generation: generation,
                last_transition_time: transition,
            }
        })
        .collect()
}

/// Whether the condition of this type is `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == "True")
}

/// Schema for a condition list that merges by `type` under server-side apply.
pub fn schema(generator: &mut SchemaGenerator) -> Schema {
    let item = generator.subschema_for::<Condition>();
    json_schema!({
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "maxItems": 16,
        "items": item,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(secs: i64) -> Time {
        Time(jiff::Timestamp::from_second(secs).unwrap())
    }

    #[test]
    fn transition_time_is_kept_while_status_holds() {
        let first = merge(
            &[],
            &[Desired::new(kind::READY, false, "A", "x")],
            Some(1),
            &time(10),
        );
        let again = merge(
            &first,
            &[Desired::new(kind::READY, false, "B", "y")],
            Some(2),
            &time(20),
        );
        assert_eq!(again[0].last_transition_time, time(10));
        assert_eq!(again[0].reason, "B");
        assert_eq!(again[0].observed_generation, Some(2));
    }

    #[test]
    fn transition_time_moves_when_status_flips() {
        let first = merge(
            &[],
            &[Desired::new(kind::READY, false, "A", "x")],
            Some(1),
            &time(10),
        );
        let flipped = merge(
            &first,
            &[Desired::new(kind::READY, true, "A", "x")],
            Some(1),
            &time(30),
        );
        assert_eq!(flipped[0].status, "True");
        assert_eq!(flipped[0].last_transition_time, time(30));
        assert!(is_true(&flipped, kind::READY));
    }
}
