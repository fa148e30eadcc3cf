//! `RoleAssignment`: one request to give a User a role, and the Tenant's role policy.
//!
//! A RoleAssignment is a change request, kept as the record of that change: who asked, why,
//! who approved, what the role was before and when the change reached Entra. Its spec cannot
//! be edited after creation except to add approvals, so the record cannot be rewritten. The
//! User's effective role is the role of the RoleAssignment applied to it last (shown in the
//! User's status); a User without one is `Pending`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, MicroTime, Time};
use kube::{CustomResource, KubeSchema};
use schemars::{Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::user::DeliveryState;

/// Condition types of a RoleAssignment.
pub mod condition {
    /// The requester may change roles.
    pub const AUTHORIZED: &str = "Authorized";
    /// The approvals the change needs are there (a VP's, for an escalation).
    pub const APPROVED: &str = "Approved";
    /// The role is in effect in Entra; or, once superseded or denied, never will be.
    pub const READY: &str = "Ready";
}

/// Condition and Event reasons of a RoleAssignment.
pub mod reason {
    pub const USER_NOT_FOUND: &str = "UserNotFound";
    pub const USER_NOT_ACTIVE: &str = "UserNotActive";
    pub const TENANT_NOT_FOUND: &str = "TenantNotFound";
    pub const TENANT_NOT_CONNECTED: &str = "TenantNotConnected";
    pub const ROLES_NOT_CONFIGURED: &str = "RolesNotConfigured";
    pub const REQUESTER_IS_ADMIN: &str = "RequesterIsAdmin";
    pub const REQUESTER_NOT_ADMIN: &str = "RequesterNotAdmin";
    pub const NOT_AN_ESCALATION: &str = "NotAnEscalation";
    pub const VP_APPROVED: &str = "VpApproved";
    pub const VP_APPROVAL_MISSING: &str = "VpApprovalMissing";
    pub const APPLYING: &str = "Applying";
    pub const APPLIED: &str = "Applied";
    pub const SUPERSEDED: &str = "Superseded";
    pub const DENIED: &str = "Denied";
    pub const GRAPH_REJECTED: &str = "GraphRejected";
}

/// Most approvals a RoleAssignment carries.
pub const MAX_APPROVALS: usize = 8;

/// Most entries a RoleAssignment's history keeps; the oldest are dropped beyond.
pub const MAX_HISTORY: usize = 32;

/// The roles, from least to most access. The order decides what is an escalation.
#[derive(
    Deserialize,
    Serialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    schemars::JsonSchema,
)]
pub enum Role {
    /// Limited access while onboarding: every User without a RoleAssignment.
    #[default]
    Pending,
    /// A regular employee.
    User,
    /// May approve requests of the business (not HR approvals, not role escalations).
    Approver,
    /// May change roles.
    Admin,
}

impl Role {
    /// Every role, from least to most access.
    pub const ALL: [Role; 4] = [Role::Pending, Role::User, Role::Approver, Role::Admin];

    /// The name status, tokens and mails use.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Pending => "Pending",
            Role::User => "User",
            Role::Approver => "Approver",
            Role::Admin => "Admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to give one User one role.
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "m365-operator.io",
    version = "v1alpha1",
    kind = "RoleAssignment",
    namespaced,
    status = "RoleAssignmentStatus",
    shortname = "m365role",
    shortname = "mrole",
    category = "m365",
    printcolumn = r#"{"name":"User","type":"string","jsonPath":".spec.user"}"#,
    printcolumn = r#"{"name":"From","type":"string","jsonPath":".status.fromRole"}"#,
    printcolumn = r#"{"name":"To","type":"string","jsonPath":".spec.role"}"#,
    printcolumn = r#"{"name":"Requester","type":"string","jsonPath":".spec.requester"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "!has(oldSelf.approvals) || (has(self.approvals) && oldSelf.approvals.all(a, self.approvals.exists(b, b == a)))"
).message("approvals can be added, not changed or removed"))]
pub struct RoleAssignmentSpec {
    /// The User whose role changes, by name, in this namespace.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self == oldSelf")
        .message("user cannot change; create another RoleAssignment"))]
    pub user: String,

    /// The role the User gets.
    #[x_kube(validation = Rule::new("self == oldSelf")
        .message("role cannot change; create another RoleAssignment"))]
    pub role: Role,

    /// Why the change is needed, for the audit trail.
    #[schemars(length(max = 1024))]
    #[x_kube(validation = Rule::new("self == oldSelf")
        .message("justification cannot change; create another RoleAssignment"))]
    #[x_kube(validation = Rule::new("self.trim().size() >= 10")
        .message("justification must say why, in at least 10 characters"))]
    pub justification: String,

    /// The user principal name of the Admin who asks. The admission webhook checks it names
    /// the person who sent the request.
    #[schemars(length(min = 3, max = 254))]
    #[x_kube(validation = Rule::new("self.matches('^[^@\\\\s]+@[^@\\\\s]+$')")
        .message("requester must be a user principal name such as ada.lovelace@contoso.com"))]
    #[x_kube(validation = Rule::new("self == oldSelf")
        .message("requester cannot change; create another RoleAssignment"))]
    pub requester: String,

    /// Approvals, each added by its approver, one per approver. An escalation needs one by a
    /// VP.
    #[serde(default)]
    #[schemars(length(max = 8))]
    #[x_kube(validation = Rule::new(
        "self.all(a, self.exists_one(b, b.approver.lowerAscii() == a.approver.lowerAscii()))"
    ).message("each approver may appear once in approvals"))]
    pub approvals: Vec<RoleApproval>,
}

/// One person's approval of the change.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleApproval {
    /// The user principal name of the approver. The admission webhook checks it names the
    /// person who added the approval.
    #[schemars(length(min = 3, max = 254))]
    #[x_kube(validation = Rule::new("self.matches('^[^@\\\\s]+@[^@\\\\s]+$')")
        .message("approver must be a user principal name"))]
    pub approver: String,

    /// A ticket or review the approval is recorded in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub reference: Option<String>,
}

/// Where a RoleAssignment stands, and its audit record.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RolePhase>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The User's effective role when this change was decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_role: Option<Role>,

    /// The Entra object id of the User's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub object_id: Option<String>,

    /// When Entra first matched the role, to the microsecond: the latest applied request
    /// for a User is the one in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<MicroTime>,

    /// For a downgrade: the operator's tokens for the account issued at or before this second
    /// are refused by introspection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_valid_after: Option<Time>,

    /// The id of the first-session token issued with the new role, if one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token_id: Option<String>,

    /// The mail telling the User about the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<RoleNotification>,

    /// Every step of the request, oldest first: the audit record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "history_schema")]
    pub history: Vec<AuditEntry>,

    #[serde(default)]
    #[schemars(schema_with = "super::conditions::schema")]
    pub conditions: Vec<Condition>,
}

/// The lifecycle of a RoleAssignment.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum RolePhase {
    /// Waiting for the User, its account or the Tenant.
    Pending,
    /// An escalation waiting for a VP's approval.
    AwaitingApproval,
    /// Changing memberships in Entra.
    Applying,
    /// The role is in effect.
    Applied,
    /// Refused; final. The history says why.
    Denied,
    /// A newer RoleAssignment for the same User was applied; this one no longer counts.
    Superseded,
}

impl RolePhase {
    /// Whether the request is decided for good.
    pub fn is_final(self) -> bool {
        matches!(self, RolePhase::Denied | RolePhase::Superseded)
    }
}

/// The notification mail to the User, sent once.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleNotification {
    /// Stamped on the message, so it can be found in Sent Items after a restart.
    pub message_id: String,
    pub state: DeliveryState,
    pub at: Time,
}

/// One audited step: who did what, when, with what outcome.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub at: Time,
    pub action: AuditAction,
    /// The person (user principal name) or component that acted.
    #[schemars(length(max = 254))]
    pub actor: String,
    /// What was decided and why, in words.
    #[schemars(length(max = 1024))]
    pub detail: String,
}

/// The kinds of audited steps.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum AuditAction {
    /// The request was seen for the first time.
    Requested,
    /// An approval was accepted.
    Approved,
    /// An approval was not accepted (not a VP, or the requester's own).
    ApprovalRejected,
    /// The request was refused for good.
    Denied,
    /// Entra matches the new role.
    Applied,
    /// The operator's earlier tokens for the account were revoked.
    TokensRevoked,
    /// The User was told by mail.
    Notified,
    /// A newer request took over.
    Superseded,
    /// What a request had changed in Entra was taken back, because it can no longer go on
    /// without an approval.
    Reverted,
}

fn history_schema(generator: &mut SchemaGenerator) -> Schema {
    let item = generator.subschema_for::<AuditEntry>();
    json_schema!({
        "type": "array",
        "x-kubernetes-list-type": "atomic",
        "maxItems": MAX_HISTORY,
        "items": item,
    })
}

/// A Tenant's rules for roles: who counts as a VP, who may act for GitOps, and what each
/// role means in Entra.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolePolicy {
    /// Mail addresses (user principal names) of the VPs who may approve escalations.
    #[serde(default)]
    #[schemars(length(max = 100), inner(length(min = 3, max = 254)))]
    #[x_kube(validation = Rule::new("self.all(a, a.matches('^[^@\\\\s]+@[^@\\\\s]+$'))")
        .message("vpApprovers must be user principal names such as vera.vp@contoso.com"))]
    pub vp_approvers: Vec<String>,

    /// Object id of an Entra group whose members (nested included) may approve escalations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub vp_group: Option<String>,

    /// Requesters accepted as Admins although no RoleAssignment made them one: the way to
    /// give a tenant its first Admin. Remove them once an Admin exists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10), inner(length(min = 3, max = 254)))]
    #[x_kube(validation = Rule::new("self.all(a, a.matches('^[^@\\\\s]+@[^@\\\\s]+$'))")
        .message("bootstrapAdmins must be user principal names such as ida.admin@contoso.com"))]
    pub bootstrap_admins: Vec<String>,

    /// How the admission webhook maps the authenticated Kubernetes user to a user principal
    /// name.
    #[serde(default)]
    pub identities: IdentityMapping,

    /// What each role means in Entra: the groups and app roles of its members. Roles left
    /// out mean no memberships. Groups and app roles named under any role are managed: the
    /// operator adds and removes them so the account holds exactly its role's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "grants_schema")]
    pub grants: BTreeMap<Role, RoleGrants>,
}

/// How a Kubernetes user name corresponds to a user principal name.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityMapping {
    /// What the API server's user names are (after the prefix).
    #[serde(default)]
    pub username: UsernameForm,

    /// A prefix the API server puts before user names, such as `oidc:` from
    /// `--oidc-username-prefix`; removed before comparing.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 64))]
    pub username_prefix: String,

    /// Kubernetes users and groups that apply reviewed changes from Git (a GitOps
    /// controller's service account). Their requests are trusted to carry the requester and
    /// approvers of the merged pull request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(length(min = 1, max = 253)))]
    #[x_kube(validation = Rule::new("!self.exists(u, u == 'system:anonymous')")
        .message("gitopsUsers must not trust system:anonymous: anyone could then name any requester"))]
    pub gitops_users: Vec<String>,

    /// Groups whose members count as GitOps identities; never one every user or service
    /// account is in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(length(min = 1, max = 253)))]
    #[x_kube(validation = Rule::new(
        "!self.exists(g, g in ['system:authenticated', 'system:unauthenticated', 'system:serviceaccounts'])"
    ).message("gitopsGroups must not be system:authenticated, system:unauthenticated or system:serviceaccounts: everyone in them could then name any requester"))]
    pub gitops_groups: Vec<String>,
}

/// The form of a Kubernetes user name.
#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum UsernameForm {
    /// The whole user principal name, as OIDC sign-in with Entra gives it.
    #[default]
    UserPrincipalName,
    /// The part of the user principal name before `@`, in the Tenant's domain.
    LocalPart,
}

/// The Entra memberships of one role.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleGrants {
    /// Object ids of security groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), inner(length(min = 1, max = 64)))]
    pub groups: Vec<String>,

    /// App roles of enterprise applications.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub app_roles: Vec<AppRoleRef>,
}

/// One app role of one enterprise application (service principal).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleRef {
    /// Object id of the service principal.
    #[schemars(length(min = 1, max = 64))]
    pub resource_id: String,
    /// Id of the app role.
    #[schemars(length(min = 1, max = 64))]
    pub app_role_id: String,
}

fn grants_schema(generator: &mut SchemaGenerator) -> Schema {
    let grants = generator.subschema_for::<RoleGrants>();
    let properties: serde_json::Map<String, serde_json::Value> = Role::ALL
        .iter()
        .map(|role| (role.as_str().to_string(), grants.clone().to_value()))
        .collect();
    json_schema!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    })
}
