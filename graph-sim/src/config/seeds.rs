//! What the tenant owns at start besides users: subscriptions, groups, enterprise
//! applications and directory role assignments.

use serde::{Deserialize, Serialize};

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

impl SkuSeed {
    /// A subscription with this many purchased seats.
    pub fn new(part_number: &str, sku_id: &str, enabled: u32) -> Self {
        Self {
            sku_part_number: part_number.into(),
            sku_id: sku_id.into(),
            enabled,
        }
    }
}

/// A group present at start.
///
/// The kind follows Entra's flags: a security group has `securityEnabled`; a dynamic group
/// lists `DynamicMembership` in `groupTypes`; a Microsoft 365 group lists `Unified`; a
/// mail-enabled security group or distribution list has `mailEnabled` without `Unified`;
/// `isAssignableToRole` makes it role-assignable.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupSeed {
    /// The object id; a new GUID when not given.
    #[serde(default)]
    pub id: Option<String>,
    /// The display name.
    pub display_name: String,
    /// A description.
    #[serde(default)]
    pub description: Option<String>,
    /// The mail alias; derived from the display name when not given.
    #[serde(default)]
    pub mail_nickname: Option<String>,
    /// Whether it is a security group.
    #[serde(default = "yes")]
    pub security_enabled: bool,
    /// Whether it has a mail address.
    #[serde(default)]
    pub mail_enabled: bool,
    /// `Unified`, `DynamicMembership`, or nothing.
    #[serde(default)]
    pub group_types: Vec<String>,
    /// Whether directory roles may be assigned to it.
    #[serde(default)]
    pub is_assignable_to_role: bool,
    /// The rule of a dynamic group; kept and shown, not evaluated.
    #[serde(default)]
    pub membership_rule: Option<String>,
    /// Members by user id or userPrincipalName, or by group id or display name.
    #[serde(default)]
    pub members: Vec<String>,
}

/// An enterprise application (service principal) whose app roles users may be assigned.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipalSeed {
    /// The service principal's object id (the `resourceId` of assignments); a new GUID when
    /// not given.
    #[serde(default)]
    pub id: Option<String>,
    /// The application id; a new GUID when not given.
    #[serde(default)]
    pub app_id: Option<String>,
    /// The display name.
    pub display_name: String,
    /// The roles the application defines.
    #[serde(default)]
    pub app_roles: Vec<AppRoleSeed>,
}

/// One app role of an enterprise application.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleSeed {
    /// The role's GUID (the `appRoleId` of assignments).
    pub id: String,
    /// The value in tokens, e.g. `Reader`.
    pub value: String,
    /// The display name; the value when not given.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// A directory role held at start.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentSeed {
    /// The user (id or userPrincipalName) or role-assignable group (id or display name).
    pub principal: String,
    /// The role's template id, e.g. `62e90394-69f5-4237-9190-012177145e10` (Global
    /// Administrator).
    pub role_definition_id: String,
}

fn yes() -> bool {
    true
}
