//! `User`: one person's Entra ID account, from an HR-approved request.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};

use crate::sla::{SlaOutcome, SlaRecord};
use serde::{Deserialize, Serialize};

/// The desired state of one Entra ID account.
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "m365-operator.io",
    version = "v1alpha1",
    kind = "User",
    namespaced,
    status = "UserStatus",
    shortname = "m365user",
    shortname = "mu",
    category = "m365",
    validation = Rule::new("self.metadata.name.size() <= 230")
        .message("a User's name may be at most 230 characters, so that the names of its Secret and Events fit"),
    printcolumn = r#"{"name":"UPN","type":"string","jsonPath":".status.userPrincipalName"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"License","type":"string","jsonPath":".spec.license"}"#,
    printcolumn = r#"{"name":"Role","type":"string","jsonPath":".status.role"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct UserSpec {
    /// Name of the cluster-scoped Tenant the account lives in.
    #[serde(default = "default_tenant")]
    #[schemars(length(min = 1, max = 253))]
    pub tenant: String,

    /// First name, as HR recorded it; accents are fine, the UPN is transliterated.
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("self.trim().size() > 0").message("givenName must not be empty"))]
    pub given_name: String,

    /// Last name, as HR recorded it.
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("self.trim().size() > 0").message("surname must not be empty"))]
    pub surname: String,

    /// Shown in address books; defaults to "givenName surname".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = Rule::new("self.trim().size() > 0").message("displayName must not be blank"))]
    pub display_name: Option<String>,

    /// Department, as shown in the address book.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub department: Option<String>,

    /// Job title, as shown in the address book.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub job_title: Option<String>,

    /// ISO 3166 alpha-2 country code, in capitals. Entra needs it before any licence.
    #[x_kube(validation = Rule::new("self.matches('^[A-Z]{2}$')").message(
        "usageLocation must be a two-letter ISO 3166 country code in capitals, such as DE or US"
    ))]
    pub usage_location: String,

    /// Which Microsoft 365 plan the person gets; the Tenant maps it to a skuPartNumber.
    pub license: LicenseTier,

    /// Replaces the derived `firstname.lastname` part of the UPN, e.g. to resolve a clash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new(
        "self.matches('^[A-Za-z0-9_!#^~\\'-]+([.][A-Za-z0-9_!#^~\\'-]+)*$')"
    ).message(
        "upnLocalPart may use letters A-Z, digits and ' . - _ ! # ^ ~ only, without a leading, trailing or doubled dot"
    ))]
    pub upn_local_part: Option<String>,

    /// Replaces the derived mail alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9._!#^~\\'-]+$')").message(
        "mailNickname may use letters A-Z, digits and . - _ ! # ^ ~ ' only"
    ))]
    pub mail_nickname: Option<String>,

    /// The HR approval this request rests on.
    pub approval: Approval,

    /// Where the welcome mail with the first-sign-in credentials goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub welcome_mail: Option<WelcomeMail>,
}

fn default_tenant() -> String {
    "default".to_string()
}

/// The licence tiers the procedure allows.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum LicenseTier {
    E3,
    E5,
}

impl std::fmt::Display for LicenseTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LicenseTier::E3 => "E3",
            LicenseTier::E5 => "E5",
        })
    }
}

/// Who in HR approved the account, and where the request is recorded.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// Mail address of the approving HR partner.
    #[schemars(length(min = 3, max = 254))]
    #[x_kube(validation = Rule::new("self.matches('^[^@\\\\s]+@[^@\\\\s]+$')")
        .message("approval.approver must be a mail address"))]
    pub approver: String,

    /// The HR ticket or request id.
    #[schemars(length(min = 1, max = 128))]
    pub reference: String,

    /// When HR approved; the provisioning deadline counts from here.
    pub approved_at: Time,

    /// The HR system's signed approval token, where the Tenant's approval policy is strict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 16, max = 16384))]
    pub token: Option<String>,
}

/// Recipient of the welcome mail: the person's private address or their manager.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct WelcomeMail {
    /// Mail address the welcome mail with the temporary password goes to.
    #[schemars(length(min = 3, max = 254))]
    #[x_kube(validation = Rule::new("self.matches('^[^@\\\\s]+@[^@\\\\s]+$')")
        .message("welcomeMail.recipient must be a mail address"))]
    pub recipient: String,
}

/// Where the account stands, as the operator last observed it.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,

    /// The Entra object id, recorded the moment Graph answers the create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_nickname: Option<String>,

    /// skuPartNumber of the licence assigned to the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_license: Option<String>,

    /// Secret in the User's namespace that holds the temporary password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    #[serde(default)]
    #[schemars(schema_with = "super::conditions::schema")]
    pub conditions: Vec<Condition>,

    /// Free addresses HR can pick (as `spec.upnLocalPart`) when the derived one is taken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub alternates: Vec<String>,

    /// The provisioning promise: due two business hours after the approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<SlaRecord>,

    /// Whether the provisioning promise was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_outcome: Option<SlaOutcome>,

    /// The first-session token in the credentials Secret: its id and expiry, never the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_session: Option<FirstSessionToken>,

    /// The effective role: that of the newest applied RoleAssignment, `Pending` without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<super::role::Role>,

    /// The applied RoleAssignment the role comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_assignment: Option<String>,

    /// Mails the operator sent, or is sending, about this User; each kind goes out once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "notifications_schema")]
    pub notifications: Vec<Notification>,
}

/// Id and expiry of the first-session token.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirstSessionToken {
    pub jti: String,
    pub expires_at: Time,
}

/// One mail and where its delivery stands. `Sending` is written before the mail goes out, so
/// after a crash the operator knows to look in the sender's Sent Items before sending again.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub kind: NotificationKind,
    /// Stamped on the message, so it can be found in Sent Items.
    pub message_id: String,
    pub state: DeliveryState,
    /// When the state was last set.
    pub at: Time,
}

/// Why a mail is sent.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum NotificationKind {
    /// The new hire's credentials and first steps.
    Welcome,
    /// HR is told the derived address is taken, with alternates.
    DuplicateEmail,
    /// IT management is told a licence is short.
    LicenseShortage,
}

/// Delivery of one mail.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum DeliveryState {
    Sending,
    Sent,
}

fn notifications_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let item = generator.subschema_for::<Notification>();
    schemars::json_schema!({
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["kind"],
        "maxItems": 8,
        "items": item,
    })
}

/// The lifecycle phase shown by `kubectl get`.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum Phase {
    /// Waiting for something outside the operator (tenant, approval, a person's fix).
    Pending,
    /// The operator is creating or licensing the account.
    Provisioning,
    /// The account exists, is licensed and can sign in.
    Active,
    /// The account is deactivated.
    Inactive,
    /// Provisioning cannot go on without a change to the manifest.
    Failed,
}

impl User {
    /// The display name Entra shows: the spec's, or "givenName surname".
    pub fn display_name(&self) -> String {
        self.spec.display_name.clone().unwrap_or_else(|| {
            format!(
                "{} {}",
                self.spec.given_name.trim(),
                self.spec.surname.trim()
            )
        })
    }
}

/// A valid, HR-approved User for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) mod fixture {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::{Approval, LicenseTier, User, UserSpec};

    /// The User `name` in `namespace` of Tenant `tenant`, for Ann Lee, approved at the Unix
    /// epoch, with no status.
    pub(crate) fn user(namespace: &str, name: &str, tenant: &str) -> User {
        let mut user = User::new(
            name,
            UserSpec {
                tenant: tenant.into(),
                given_name: "Ann".into(),
                surname: "Lee".into(),
                display_name: None,
                department: None,
                job_title: None,
                usage_location: "DE".into(),
                license: LicenseTier::E3,
                upn_local_part: None,
                mail_nickname: None,
                approval: Approval {
                    approver: "hr@contoso.example".into(),
                    reference: "HR-1".into(),
                    approved_at: Time(jiff::Timestamp::UNIX_EPOCH),
                    token: None,
                },
                welcome_mail: None,
            },
        );
        user.metadata.namespace = Some(namespace.into());
        user
    }
}
