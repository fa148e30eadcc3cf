//! `Tenant`: how to reach one Entra tenant, and what its licences are called.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::user::LicenseTier;
use crate::approval::ApprovalPolicy;
use crate::sla::BusinessCalendar;

/// Connection and policy settings for one Entra tenant.
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "m365-operator.io",
    version = "v1alpha1",
    kind = "Tenant",
    status = "TenantStatus",
    shortname = "m365tenant",
    category = "m365",
    printcolumn = r#"{"name":"Domain","type":"string","jsonPath":".spec.domain"}"#,
    printcolumn = r#"{"name":"Connected","type":"string","jsonPath":".status.conditions[?(@.type==\"Connected\")].status"}"#,
    printcolumn = r#"{"name":"E3 Free","type":"integer","jsonPath":".status.seats[?(@.license==\"E3\")].available"}"#,
    printcolumn = r#"{"name":"E5 Free","type":"integer","jsonPath":".status.seats[?(@.license==\"E5\")].available"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpec {
    /// The directory (tenant) id, a GUID, or one of its verified domains.
    #[schemars(length(min = 1, max = 253))]
    pub tenant_id: String,

    /// The verified domain new accounts get their UPN in.
    #[schemars(length(min = 3, max = 48))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([a-z0-9-]*[a-z0-9])?([.][a-z0-9]([a-z0-9-]*[a-z0-9])?)+$')")
        .message("domain must be a lower-case DNS name such as contoso.com"))]
    pub domain: String,

    /// Where Graph and the token service are; Microsoft's public cloud unless overridden.
    #[serde(default)]
    pub endpoints: Endpoints,

    /// The app registration the operator signs in as.
    pub credentials: Credentials,

    /// Which skuPartNumber each licence tier means in this tenant.
    #[serde(default)]
    pub licenses: LicenseMap,

    /// Graph throttling limits the operator keeps under; Graph's published limits for a
    /// small tenant when not set. Lower them to leave room for other apps in the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<RateLimits>,

    /// Who may approve new accounts. Without a policy no approval is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalPolicy>,

    /// Working hours the provisioning deadline counts in; UTC, Monday to Friday, 09:00 to
    /// 17:00 when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<BusinessCalendar>,

    /// Who mails come from and go to. Without it the operator sends no mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<MailSettings>,

    /// How Deactivations are carried out: mailbox retention, licences and the account per
    /// reason, the mass-deactivation guard, the archive. The defaults when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivation: Option<super::deactivation::DeactivationPolicy>,

    /// Who counts as a VP, who applies changes from Git, and the Entra memberships of each
    /// role. RoleAssignments wait until this is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<super::role::RolePolicy>,
}

/// Mail addresses and the welcome template.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MailSettings {
    /// The mailbox mails are sent from (its UPN); the app needs `Mail.Send`.
    #[schemars(length(min = 3, max = 254))]
    pub sender: String,
    /// HR's address, told about clashing addresses.
    #[schemars(length(min = 3, max = 254))]
    pub hr: String,
    /// IT management's address, told about licence shortages.
    #[schemars(length(min = 3, max = 254))]
    pub it_management: String,
    /// What the welcome mail gives for the first sign-in, and its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub welcome: Option<WelcomeSettings>,
}

/// The welcome mail: the credential it hands over and, optionally, its own text. Placeholders
/// `{displayName}`, `{givenName}`, `{userPrincipalName}`, `{signInUrl}`, and the credential's:
/// `{temporaryPassword}`, or `{temporaryAccessPass}` and `{validUntil}` (when the pass stops
/// working, UTC).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "!has(self.body) || ((has(self.credential) && self.credential == 'TemporaryAccessPass') \
     ? self.body.contains('{temporaryAccessPass}') && !self.body.contains('{temporaryPassword}') \
     : self.body.contains('{temporaryPassword}') && !self.body.contains('{temporaryAccessPass}'))"
).message("the welcome body must contain the placeholder of its credential and not the other \
           one: {temporaryPassword} for Password, {temporaryAccessPass} for TemporaryAccessPass"))]
#[x_kube(validation = Rule::new(
    "!has(self.temporaryAccessPass) \
     || (has(self.credential) && self.credential == 'TemporaryAccessPass')"
).message("welcome.temporaryAccessPass needs welcome.credential: TemporaryAccessPass"))]
pub struct WelcomeSettings {
    /// What the mail gives for the first sign-in: `Password`, the temporary password (the
    /// default), or `TemporaryAccessPass`, a pass issued right before the mail is sent (the
    /// app needs `UserAuthenticationMethod.ReadWrite.All`).
    #[serde(default)]
    pub credential: WelcomeCredential,
    /// How the pass is issued; what is left out, the tenant's Temporary Access Pass policy
    /// decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporary_access_pass: Option<AccessPassSettings>,
    /// Replaces the built-in subject; credentials are never filled in here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub subject: Option<String>,
    /// Replaces the built-in plain-text body; must contain the credential's placeholder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16384))]
    pub body: Option<String>,
}

/// The credential a welcome mail hands over.
#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum WelcomeCredential {
    /// The temporary password from the credentials Secret; changed at first sign-in.
    #[default]
    Password,
    /// A Temporary Access Pass, for setting up passwordless sign-in from the first day.
    TemporaryAccessPass,
}

/// How a Temporary Access Pass is issued. Both must also lie within the tenant's Temporary
/// Access Pass policy, or Entra refuses the pass.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessPassSettings {
    /// Minutes the pass works from its creation: 10 to 43200 (30 days); the policy's default
    /// lifetime when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 43200))]
    pub lifetime_minutes: Option<u32>,
    /// Whether the first sign-in uses the pass up; the policy's setting when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usable_once: Option<bool>,
}

/// Request budgets per app and tenant, as Graph meters them.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct RateLimits {
    /// Resource units per 10 seconds.
    #[serde(rename = "resourceUnitsPer10Seconds")]
    #[schemars(range(min = 1))]
    pub resource_units_per_10s: u32,
    /// Writes per 150 seconds.
    #[serde(rename = "writesPer150Seconds")]
    #[schemars(range(min = 1))]
    pub writes_per_150s: u32,
}

/// Service addresses. Override them for a national cloud or a simulator.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// Graph base address, up to and including the version segment.
    #[serde(default = "default_graph")]
    #[x_kube(validation = Rule::new("isURL(self) && url(self).getScheme() in ['http', 'https']")
        .message("endpoints.graph must be an http(s) URL"))]
    #[schemars(length(max = 512))]
    pub graph: String,

    /// Identity platform authority host; the token URL is `{login}/{tenantId}/oauth2/v2.0/token`.
    #[serde(default = "default_login")]
    #[x_kube(validation = Rule::new("isURL(self) && url(self).getScheme() in ['http', 'https']")
        .message("endpoints.login must be an http(s) URL"))]
    #[schemars(length(max = 512))]
    pub login: String,

    /// Extra PEM certificate authorities to trust for both endpoints, for a TLS-intercepting
    /// proxy or a test service. Microsoft's endpoints need none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub ca_bundle: Option<String>,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            graph: default_graph(),
            login: default_login(),
            ca_bundle: None,
        }
    }
}

fn default_graph() -> String {
    "https://graph.microsoft.com/v1.0".to_string()
}

fn default_login() -> String {
    "https://login.microsoftonline.com".to_string()
}

/// The app registration and how the operator proves it is that app: exactly one of a client
/// secret, a certificate, or workload identity federation.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "[has(self.clientSecret), has(self.certificate), has(self.workloadIdentity)].filter(x, x).size() == 1"
).message("credentials needs exactly one of clientSecret, certificate or workloadIdentity"))]
pub struct Credentials {
    /// Application (client) id of the app registration.
    #[schemars(length(min = 1, max = 128))]
    pub client_id: String,

    /// The Secret key holding a client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<SecretKeyRef>,

    /// A certificate registered on the app: a `kubernetes.io/tls` Secret whose `tls.crt` and
    /// `tls.key` sign client assertions. Preferred over a client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateRef>,

    /// Workload identity federation: the operator presents its projected service-account
    /// token, and Entra trusts it through a federated credential on the app. No secret to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<WorkloadIdentity>,
}

/// A TLS Secret holding the app's certificate and private key.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateRef {
    /// Namespace of the TLS Secret.
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
    /// Name of the TLS Secret (keys `tls.crt` and `tls.key`).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// How assertions are signed: `PS256` (current) or `RS256` (older registrations).
    #[serde(default)]
    pub algorithm: AssertionAlgorithm,
}

/// Signature algorithm of client assertions.
#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum AssertionAlgorithm {
    #[default]
    PS256,
    RS256,
}

/// Where the projected service-account token is.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadIdentity {
    /// Path of the token file; defaults to `$AZURE_FEDERATED_TOKEN_FILE`, which the Azure
    /// workload identity webhook sets. Re-read on every token request, since it rotates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub token_file: Option<String>,
}

/// One key of one Secret. A Tenant is cluster-scoped, so the namespace is explicit.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Namespace of the Secret.
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key within the Secret; `clientSecret` by default.
    #[serde(default = "default_secret_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

fn default_secret_key() -> String {
    "clientSecret".to_string()
}

/// skuPartNumber per tier. Ids differ between tenants; part numbers do not, so the operator
/// resolves the skuId from `subscribedSkus` at run time.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct LicenseMap {
    /// skuPartNumber of E3; `ENTERPRISEPACK` (Office 365 E3) by default.
    #[serde(rename = "E3", default = "default_e3")]
    #[schemars(length(min = 1, max = 64))]
    pub e3: String,
    /// skuPartNumber of E5; `ENTERPRISEPREMIUM` (Office 365 E5) by default.
    #[serde(rename = "E5", default = "default_e5")]
    #[schemars(length(min = 1, max = 64))]
    pub e5: String,
}

impl Default for LicenseMap {
    fn default() -> Self {
        Self {
            e3: default_e3(),
            e5: default_e5(),
        }
    }
}

impl LicenseMap {
    /// The skuPartNumber this tenant uses for a tier.
    pub fn sku_part_number(&self, tier: LicenseTier) -> &str {
        match tier {
            LicenseTier::E3 => &self.e3,
            LicenseTier::E5 => &self.e5,
        }
    }
}

impl TenantStatus {
    /// The seat counts last read for a tier, if the tenant subscribes to it.
    pub fn seats_for(&self, tier: LicenseTier) -> Option<&SeatCount> {
        self.seats.iter().find(|s| s.license == tier)
    }
}

fn default_e3() -> String {
    "ENTERPRISEPACK".to_string()
}

fn default_e5() -> String {
    "ENTERPRISEPREMIUM".to_string()
}

/// What the operator last saw of the tenant.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    #[serde(default)]
    #[schemars(schema_with = "super::conditions::schema")]
    pub conditions: Vec<Condition>,

    /// Seats per configured licence tier, from `subscribedSkus`.
    #[serde(default)]
    pub seats: Vec<SeatCount>,

    /// When the seats were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats_checked_at: Option<Time>,
}

/// Seat counts of one subscription.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatCount {
    pub license: LicenseTier,
    pub sku_part_number: String,
    /// The subscription's id in this tenant, resolved from the part number.
    pub sku_id: String,
    /// `prepaidUnits.enabled`.
    pub enabled: i64,
    /// `consumedUnits`.
    pub consumed: i64,
    /// What is left to assign.
    pub available: i64,
}
