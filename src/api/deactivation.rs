//! `Deactivation`: ending (or pausing) one person's access, as HR requested it, and the
//! Tenant's policy for it.
//!
//! A Deactivation names a User in its own namespace and a reason. The operator then blocks
//! sign-in, revokes every token, takes the account out of its groups, handles the licence as
//! the reason says, archives what it removed, and after the mailbox retention window does
//! what the policy says (for a termination: deletes the account). Every step is recorded in
//! status with its time. An extended leave ends with `spec.reactivate: true`, which restores
//! sign-in, groups and licence from the archive.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::{Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::sla::{SlaOutcome, SlaRecord};

/// The annotation a person sets to let a Deactivation past the mass-deactivation guard.
pub const CONFIRM_MASS_DEACTIVATION: &str = "m365-operator.io/confirm-mass-deactivation";

/// Condition types of a Deactivation.
pub mod condition {
    /// The deactivation (or the reactivation) is done for now.
    pub const READY: &str = "Ready";
    /// The mass-deactivation guard holds it until a person confirms.
    pub const PAUSED: &str = "Paused";
}

/// Condition and Event reasons of a Deactivation.
pub mod reason {
    /// Waiting for `spec.effectiveAt`.
    pub const SCHEDULED: &str = "Scheduled";
    /// Held by the mass-deactivation guard.
    pub const MASS_DEACTIVATION_GUARD: &str = "MassDeactivationGuard";
    /// Not held by the guard.
    pub const NOT_PAUSED: &str = "NotPaused";
    /// The named User does not exist.
    pub const USER_NOT_FOUND: &str = "UserNotFound";
    /// The User's Tenant does not exist.
    pub const TENANT_NOT_FOUND: &str = "TenantNotFound";
    /// The operator cannot reach the Tenant's Graph.
    pub const TENANT_NOT_CONNECTED: &str = "TenantNotConnected";
    /// The User has no Entra account, or Entra does not show it.
    pub const ACCOUNT_MISSING: &str = "AccountMissing";
    /// No free seat to restore a licence with.
    pub const LICENSE_UNAVAILABLE: &str = "LicenseUnavailable";
    /// Steps are running.
    pub const IN_PROGRESS: &str = "InProgress";
    /// Access is off and the record archived.
    pub const DEACTIVATED: &str = "Deactivated";
    /// The retention window ended and the policy's last step ran.
    pub const COMPLETED: &str = "Completed";
    /// The leave ended and access is back.
    pub const REACTIVATED: &str = "Reactivated";
    /// Some memberships could not be changed through Graph.
    pub const GROUPS_NOT_CHANGED: &str = "GroupsNotChanged";
    /// A person's licence decision was carried out.
    pub const LICENSE_DECIDED: &str = "LicenseDecided";
}

/// Most groups a status lists; memberships beyond are left but not recorded (see README).
pub const MAX_GROUPS: usize = 500;

/// Most token ids a status keeps on its denylist.
pub const MAX_DENIED_TOKENS: usize = 32;

/// A request to take away one person's access.
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "m365-operator.io",
    version = "v1alpha1",
    kind = "Deactivation",
    namespaced,
    status = "DeactivationStatus",
    shortname = "m365deactivation",
    shortname = "mdeact",
    category = "m365",
    printcolumn = r#"{"name":"User","type":"string","jsonPath":".spec.user"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".spec.reason"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.reason == 'ExtendedLeave' ? has(self.leave) : !has(self.leave)")
    .message("leave dates are required for reason ExtendedLeave and allowed for it only"))]
#[x_kube(validation = Rule::new("!has(self.reactivate) || !self.reactivate || self.reason == 'ExtendedLeave'")
    .message("only an ExtendedLeave can be ended with reactivate; other reasons are final"))]
#[x_kube(validation = Rule::new("!has(self.licenseDecision) || self.reason == 'SecurityIncident'")
    .message("licenseDecision is for reason SecurityIncident only; the policy decides the others"))]
#[x_kube(validation = Rule::new(
    "!has(oldSelf.reactivate) || !oldSelf.reactivate || (has(self.reactivate) && self.reactivate)"
).message("a reactivation cannot be withdrawn; create a new Deactivation"))]
pub struct DeactivationSpec {
    /// The User to deactivate, by name, in this namespace.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self == oldSelf")
        .message("user cannot change; create another Deactivation"))]
    pub user: String,

    /// Why access ends; decides what happens to the licence and the account.
    #[x_kube(validation = Rule::new("self == oldSelf")
        .message("reason cannot change; create another Deactivation"))]
    pub reason: DeactivationReason,

    /// Who in HR asked, and where the request is recorded.
    pub requester: Requester,

    /// When access ends; at once when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_at: Option<Time>,

    /// The leave, for reason ExtendedLeave: more than 90 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leave: Option<Leave>,

    /// Free text for the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub note: Option<String>,

    /// Ends an ExtendedLeave: sign-in, groups and licence are restored from the archive. Cannot
    /// be undone; a new leave is a new Deactivation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reactivate: bool,

    /// For a SecurityIncident, what a person decided about the licence, which is kept until
    /// then: `Release` frees it, `Keep` keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_decision: Option<LicenseDecision>,
}

/// Why access ends.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub enum DeactivationReason {
    /// The person leaves the company: the licence is freed and, after the mailbox retention
    /// window, the account is deleted. Completes within one business hour.
    Termination,
    /// The person is away for more than 90 days: everything is kept for the return.
    ExtendedLeave,
    /// The account may be compromised: acts at once, ahead of any other Graph work; the
    /// licence is kept until a person decides.
    SecurityIncident,
}

impl std::fmt::Display for DeactivationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeactivationReason::Termination => "Termination",
            DeactivationReason::ExtendedLeave => "ExtendedLeave",
            DeactivationReason::SecurityIncident => "SecurityIncident",
        })
    }
}

/// Who asked for the deactivation.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Requester {
    /// Mail address of the HR partner (or security officer) who asked.
    #[schemars(length(min = 3, max = 254))]
    #[x_kube(validation = Rule::new("self.matches('^[^@\\\\s]+@[^@\\\\s]+$')")
        .message("requester.email must be a mail address"))]
    pub email: String,

    /// The HR ticket or case id.
    #[schemars(length(min = 1, max = 128))]
    pub reference: String,
}

/// The dates of an extended leave.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.end - self.start > duration('2160h')")
    .message("an extended leave lasts more than 90 days (end - start > 90 days)"))]
pub struct Leave {
    /// First day of the leave, `YYYY-MM-DD`.
    #[schemars(schema_with = "date_schema")]
    pub start: String,
    /// Expected day of return, `YYYY-MM-DD`.
    #[schemars(schema_with = "date_schema")]
    pub end: String,
}

/// A calendar date; the API server checks the format and CEL compares such values as times.
fn date_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "format": "date", "maxLength": 10 })
}

/// A person's decision about a security incident's licence.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum LicenseDecision {
    /// Keep the licence (and the mailbox with it).
    Keep,
    /// Free the licence; the mailbox data stays for the retention window.
    Release,
}

/// Where a Deactivation stands, as the operator last recorded it.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeactivationStatus {
    /// Where the deactivation stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<DeactivationPhase>,

    /// The `metadata.generation` status was last written for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The Tenant of the User, recorded when the deactivation starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub tenant: Option<String>,

    /// The Entra object id of the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub object_id: Option<String>,

    /// The account's user principal name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 113))]
    pub user_principal_name: Option<String>,

    /// When the operator started acting (after the schedule and the mass-deactivation guard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,

    /// From when the User counts as Inactive; written before sign-in is blocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_since: Option<Time>,

    /// Every step done, with its time, in order.
    #[serde(default)]
    #[schemars(schema_with = "steps_schema")]
    pub steps: Vec<StepRecord>,

    /// What introspection refuses for this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Revocation>,

    /// The groups the account was a direct member of, and what became of each membership.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500))]
    pub groups: Vec<GroupRecord>,

    /// The account was in more groups than status lists; the others were left unrecorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub groups_truncated: bool,

    /// The licences the account held when the deactivation began.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub licenses: Vec<LicenseRecord>,

    /// What was done with the licences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_outcome: Option<LicenseOutcome>,

    /// The mailbox is kept until then; nothing deletes the account before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_until: Option<Time>,

    /// Where the archived record is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveRef>,

    /// For a termination: due one business hour after it takes effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<SlaRecord>,

    /// Whether the termination promise was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_outcome: Option<SlaOutcome>,

    /// `Ready`, and `Paused` while the mass-deactivation guard holds it.
    #[serde(default)]
    #[schemars(schema_with = "super::conditions::schema")]
    pub conditions: Vec<Condition>,
}

/// The lifecycle of a Deactivation.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum DeactivationPhase {
    /// Waiting for `spec.effectiveAt`.
    Scheduled,
    /// Waiting for something outside the operator: the User, its account, the Tenant.
    Pending,
    /// Held by the mass-deactivation guard until a person confirms.
    Paused,
    /// Steps in progress.
    Deactivating,
    /// Access is off and the record archived; the retention window runs.
    Deactivated,
    /// The retention window ended and the policy's last step is done.
    Completed,
    /// An extended leave is ending: restoring from the archive.
    Reactivating,
    /// The leave ended and access is back.
    Reactivated,
}

/// The steps, in the order they run. The last three undo an extended leave.
#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, schemars::JsonSchema,
)]
pub enum Step {
    /// `accountEnabled: false`.
    SignInBlocked,
    /// Entra sessions and the operator's own tokens.
    TokensRevoked,
    /// Every direct group membership Graph can change.
    GroupsLeft,
    /// The licence released or kept, as the reason says.
    LicenseHandled,
    /// The record written to the archive.
    Archived,
    /// The retention window passed and the policy's last step ran.
    RetentionEnded,
    /// Licences held before are assigned again.
    LicenseRestored,
    /// Groups left are joined again.
    GroupsRestored,
    /// `accountEnabled: true`.
    SignInRestored,
}

impl Step {
    /// The step's name, as status and Events spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::SignInBlocked => "SignInBlocked",
            Step::TokensRevoked => "TokensRevoked",
            Step::GroupsLeft => "GroupsLeft",
            Step::LicenseHandled => "LicenseHandled",
            Step::Archived => "Archived",
            Step::RetentionEnded => "RetentionEnded",
            Step::LicenseRestored => "LicenseRestored",
            Step::GroupsRestored => "GroupsRestored",
            Step::SignInRestored => "SignInRestored",
        }
    }
}

/// One step done.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    /// Which step.
    pub name: Step,
    /// When it was done.
    pub completed_at: Time,
    /// What the step found or did, in a few words.
    #[schemars(length(max = 256))]
    pub message: String,
}

/// Which tokens of the account introspection refuses.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Revocation {
    /// Tokens issued at or before this second are refused, whatever happens later.
    pub tokens_valid_after: Time,
    /// Ids (`jti`) of tokens the operator issued for the account, refused for good.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 128)))]
    pub denied_token_ids: Vec<String>,
}

/// One direct group membership.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupRecord {
    /// The group's object id.
    #[schemars(length(max = 64))]
    pub id: String,
    /// The group's name, for people reading status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub display_name: Option<String>,
    /// What became of the membership.
    pub state: MembershipState,
    /// Why Graph would not change it, when it would not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<GroupRefusal>,
}

/// What became of a membership.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum MembershipState {
    /// Recorded; not changed yet.
    Member,
    /// The account left the group.
    Left,
    /// Graph cannot change this membership; the account is still a member.
    Kept,
    /// Joined again at reactivation.
    Rejoined,
}

/// Why Graph cannot change a membership.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum GroupRefusal {
    /// Members follow a rule (`DynamicMembership`).
    Dynamic,
    /// A mail-enabled security group or distribution list: Exchange owns its members.
    MailEnabled,
    /// Role-assignable, and the app lacks `RoleManagement.ReadWrite.Directory`.
    RoleAssignable,
    /// Graph answered 403 for another reason.
    Forbidden,
}

/// One licence the account held.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LicenseRecord {
    /// The subscription's id.
    #[schemars(length(max = 64))]
    pub sku_id: String,
    /// Its part number, when the Tenant's seat counts name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub sku_part_number: Option<String>,
}

/// What happened to the licences.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum LicenseOutcome {
    /// Removed; the mailbox data stays for the retention window.
    Released,
    /// Kept, with the mailbox.
    Kept,
    /// Kept until a person sets `spec.licenseDecision`.
    AwaitingDecision,
}

/// Where an archive is.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveRef {
    /// Always `ConfigMap`.
    #[schemars(length(max = 32))]
    pub kind: String,
    /// Namespace of the ConfigMap.
    #[schemars(length(max = 63))]
    pub namespace: String,
    /// Name of the ConfigMap.
    #[schemars(length(max = 253))]
    pub name: String,
}

fn steps_schema(generator: &mut SchemaGenerator) -> Schema {
    let item = generator.subschema_for::<StepRecord>();
    json_schema!({
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "maxItems": 16,
        "items": item,
    })
}

impl DeactivationStatus {
    /// When `step` was done, if it was.
    pub fn completed(&self, step: Step) -> Option<&Time> {
        self.steps
            .iter()
            .find(|s| s.name == step)
            .map(|s| &s.completed_at)
    }

    /// Records `step` as done at `at`; a step already recorded keeps its first time.
    pub fn complete(&mut self, step: Step, at: Time, message: impl Into<String>) {
        if self.completed(step).is_some() {
            return;
        }
        self.steps.push(StepRecord {
            name: step,
            completed_at: at,
            message: message.into(),
        });
    }

    /// Whether the account counts as deactivated: from just before sign-in is blocked until
    /// a reactivation has finished.
    pub fn in_effect(&self) -> bool {
        self.inactive_since.is_some() && self.phase != Some(DeactivationPhase::Reactivated)
    }
}

impl Deactivation {
    /// Whether a person confirmed this one past the mass-deactivation guard.
    pub fn mass_deactivation_confirmed(&self) -> bool {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(CONFIRM_MASS_DEACTIVATION))
            .is_some_and(|v| v == "true")
    }
}

/// The Tenant's deactivation policy (`spec.deactivation`).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeactivationPolicy {
    /// How long the mailbox of a deactivated account is kept before anything may delete the
    /// account: a number and a unit, `d`, `h`, `m` or `s`; `30d` when not set.
    #[serde(default = "default_retention")]
    #[schemars(length(min = 2, max = 8))]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]{1,5}(d|h|m|s)$')")
        .message("mailboxRetention must be a number and a unit (d, h, m or s), such as 30d"))]
    pub mailbox_retention: String,

    /// What happens for a termination.
    #[serde(default = "ReasonPolicy::termination")]
    pub termination: ReasonPolicy,

    /// What happens for an extended leave.
    #[serde(default = "ReasonPolicy::extended_leave")]
    pub extended_leave: ReasonPolicy,

    /// What happens for a security incident.
    #[serde(default = "ReasonPolicy::security_incident")]
    pub security_incident: ReasonPolicy,

    /// Pauses deactivations that come in unusually many at once.
    #[serde(default)]
    pub mass_deactivation: MassDeactivationGuard,

    /// Namespace of the archive ConfigMaps; each Deactivation's own namespace when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub archive_namespace: Option<String>,
}

impl Default for DeactivationPolicy {
    fn default() -> Self {
        Self {
            mailbox_retention: default_retention(),
            termination: ReasonPolicy::termination(),
            extended_leave: ReasonPolicy::extended_leave(),
            security_incident: ReasonPolicy::security_incident(),
            mass_deactivation: MassDeactivationGuard::default(),
            archive_namespace: None,
        }
    }
}

impl DeactivationPolicy {
    /// The policy for one reason.
    pub fn for_reason(&self, reason: DeactivationReason) -> &ReasonPolicy {
        match reason {
            DeactivationReason::Termination => &self.termination,
            DeactivationReason::ExtendedLeave => &self.extended_leave,
            DeactivationReason::SecurityIncident => &self.security_incident,
        }
    }

    /// The mailbox retention window.
    pub fn retention(&self) -> std::time::Duration {
        parse_span(&self.mailbox_retention).unwrap_or(DEFAULT_RETENTION)
    }
}

const DEFAULT_RETENTION: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

fn default_retention() -> String {
    "30d".to_string()
}

/// Reads `30d`, `12h`, `5m` or `90s`.
pub fn parse_span(text: &str) -> Option<std::time::Duration> {
    let unit = text.chars().last()?;
    let number: u64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let seconds = match unit {
        'd' => 24 * 3600,
        'h' => 3600,
        'm' => 60,
        's' => 1,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(number.checked_mul(seconds)?))
}

/// What happens to the licence and the account for one reason.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReasonPolicy {
    /// What happens to the licence.
    pub license: LicenseHandling,
    /// What happens when the retention window ends.
    pub after_retention: AfterRetention,
}

impl ReasonPolicy {
    fn termination() -> Self {
        Self {
            license: LicenseHandling::Release,
            after_retention: AfterRetention::DeleteAccount,
        }
    }

    fn extended_leave() -> Self {
        Self {
            license: LicenseHandling::Keep,
            after_retention: AfterRetention::KeepAccount,
        }
    }

    fn security_incident() -> Self {
        Self {
            license: LicenseHandling::KeepUntilDecided,
            after_retention: AfterRetention::KeepAccount,
        }
    }
}

/// What happens to the licence.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum LicenseHandling {
    /// Remove it at once; Microsoft keeps the mailbox data for 30 days after.
    Release,
    /// Keep it, and the mailbox with it.
    Keep,
    /// Keep it until a person sets the Deactivation's `spec.licenseDecision`.
    KeepUntilDecided,
}

/// What happens when the retention window ends.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum AfterRetention {
    /// `DELETE /users/{id}`: Entra keeps it restorable for another 30 days.
    DeleteAccount,
    /// Leave the disabled account as it is.
    KeepAccount,
}

/// The mass-deactivation guard: more than `threshold` deactivations of one tenant starting
/// within `windowMinutes` pause the later ones until a person confirms each with the
/// annotation `m365-operator.io/confirm-mass-deactivation: "true"`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MassDeactivationGuard {
    /// How many may start within the window without a confirmation.
    #[serde(default = "default_threshold")]
    #[schemars(range(min = 1, max = 10000))]
    pub threshold: u32,
    /// The window, in minutes.
    #[serde(default = "default_window_minutes")]
    #[schemars(range(min = 1, max = 10080))]
    pub window_minutes: u32,
}

impl Default for MassDeactivationGuard {
    fn default() -> Self {
        Self {
            threshold: default_threshold(),
            window_minutes: default_window_minutes(),
        }
    }
}

fn default_threshold() -> u32 {
    10
}

fn default_window_minutes() -> u32 {
    60
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn the_crd_builds() {
        let crd = serde_json::to_value(Deactivation::crd()).unwrap();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(
            spec["properties"]["leave"]["properties"]["start"]["format"],
            "date"
        );
        assert!(spec["x-kubernetes-validations"].as_array().unwrap().len() >= 3);
    }

    #[test]
    fn spans_read_as_durations() {
        assert_eq!(
            parse_span("30d"),
            Some(std::time::Duration::from_secs(2_592_000))
        );
        assert_eq!(parse_span("2s"), Some(std::time::Duration::from_secs(2)));
        assert_eq!(parse_span("5x"), None);
        assert_eq!(parse_span("d"), None);
    }

    #[test]
    fn the_default_policy_follows_the_reason() {
        let policy: DeactivationPolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(policy.retention(), DEFAULT_RETENTION);
        let license = |r| policy.for_reason(r).license;
        assert_eq!(
            license(DeactivationReason::Termination),
            LicenseHandling::Release
        );
        assert_eq!(
            license(DeactivationReason::ExtendedLeave),
            LicenseHandling::Keep
        );
        assert_eq!(
            license(DeactivationReason::SecurityIncident),
            LicenseHandling::KeepUntilDecided
        );
        assert_eq!(
            policy.termination.after_retention,
            AfterRetention::DeleteAccount
        );
        assert_eq!(policy.mass_deactivation.threshold, 10);
    }

    #[test]
    fn a_step_keeps_its_first_time() {
        let mut status = DeactivationStatus::default();
        let at = |s| Time(jiff::Timestamp::from_second(s).unwrap());
        status.complete(Step::SignInBlocked, at(10), "blocked");
        status.complete(Step::SignInBlocked, at(20), "again");
        assert_eq!(status.completed(Step::SignInBlocked), Some(&at(10)));
        assert_eq!(status.steps.len(), 1);
    }
}
