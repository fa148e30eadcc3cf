//! Why the directory refused a change or a lookup.

use std::fmt;

/// A refusal by the directory, independent of how it is reported over HTTP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryError {
    /// A property is missing, unknown, read-only or has a value its rule refuses.
    InvalidValue {
        /// The property at fault, or empty when the body as a whole is wrong.
        target: String,
        /// What the service says about it.
        message: String,
    },
    /// Another object already holds this userPrincipalName or e-mail address.
    Conflict {
        /// `userPrincipalName` or `proxyAddresses`.
        target: &'static str,
    },
    /// No visible object has this id (or userPrincipalName).
    NotFound(String),
    /// A license change the service refuses.
    License(LicenseError),
    /// The object exists but is out of reach: a membership Graph cannot manage, a
    /// role-assignable group without the permission, an administrator acted on by an app.
    Forbidden,
    /// The referenced object is too new for replication to have shown it to the part of the
    /// directory that checks references.
    InvalidReference,
    /// The member is already in the group.
    AlreadyMember,
    /// The object to remove is not a member of the group.
    NotMember,
    /// The user already holds this app role.
    AppRoleAssigned,
    /// The principal already holds this directory role.
    RoleAssigned,
    /// A Temporary Access Pass the service will not issue.
    AccessPass(AccessPassError),
}

/// Why a Temporary Access Pass was not issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessPassError {
    /// The body is not a pass request: a field of the wrong type, an unreadable start time.
    Invalid(String),
    /// `lifetimeInMinutes` outside the 10 to 43200 minutes Graph accepts for any pass.
    LifetimeOutOfRange(i64),
    /// The tenant's authentication methods policy has the method switched off.
    DisabledByPolicy,
    /// The request asks for more than the tenant's policy allows.
    OutsidePolicy(String),
}

/// Why `assignLicense` was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LicenseError {
    /// The user has no usageLocation, so no license may be assigned.
    InvalidUsageLocation,
    /// The tenant owns no subscription with this skuId.
    UnknownSku(String),
    /// Every purchased seat of this skuId is consumed.
    NoSeats(String),
    /// The user does not hold the license the request removes.
    NotAssigned(String),
    /// The request both adds and removes this skuId.
    AddedAndRemoved(String),
}

impl DirectoryError {
    /// A value refused with Graph's generic wording for `property`.
    pub fn invalid_value(property: &str) -> Self {
        Self::invalid(
            property,
            format!("Invalid value specified for property '{property}' of resource 'User'."),
        )
    }

    /// A value refused with a specific message.
    pub fn invalid(target: &str, message: impl Into<String>) -> Self {
        Self::InvalidValue {
            target: target.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidValue { message, .. } => f.write_str(message),
            Self::Conflict { target } => write!(
                f,
                "Another object with the same value for property {target} already exists."
            ),
            Self::NotFound(key) => write!(
                f,
                "Resource '{key}' does not exist or one of its queried reference-property objects \
                 are not present."
            ),
            Self::License(license) => license.fmt(f),
            Self::Forbidden => f.write_str("Insufficient privileges to complete the operation."),
            Self::InvalidReference => f.write_str("Not a valid reference update."),
            Self::AlreadyMember => f.write_str(
                "One or more added object references already exist for the following modified \
                 properties: 'members'.",
            ),
            Self::NotMember => f.write_str(
                "One or more removed object references do not exist for the following modified \
                 properties: 'members'.",
            ),
            Self::AppRoleAssigned => {
                f.write_str("Permission being assigned already exists on the object.")
            }
            Self::RoleAssigned => f.write_str(
                "A conflicting object with one or more of the specified property values is \
                 present in the directory.",
            ),
            Self::AccessPass(refusal) => refusal.fmt(f),
        }
    }
}

impl fmt::Display for AccessPassError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(message) | Self::OutsidePolicy(message) => f.write_str(message),
            Self::LifetimeOutOfRange(minutes) => write!(
                f,
                "lifetimeInMinutes {minutes} is invalid: it must be between 10 and 43200."
            ),
            // Entra's own wording, which clients match on.
            Self::DisabledByPolicy => f.write_str(
                "Converged UserCredentialPolicy does not allow creating or updating this \
                 authentication method. AuthMethodType [TemporaryAccessPass].",
            ),
        }
    }
}

impl From<AccessPassError> for DirectoryError {
    fn from(error: AccessPassError) -> Self {
        Self::AccessPass(error)
    }
}

impl fmt::Display for LicenseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUsageLocation => f.write_str(
                "License assignment cannot be done for user with invalid usage location.",
            ),
            Self::UnknownSku(sku) => {
                write!(
                    f,
                    "License {sku} does not correspond to a valid company License."
                )
            }
            Self::NoSeats(sku) => {
                write!(
                    f,
                    "Subscription with SKU {sku} does not have any available licenses."
                )
            }
            Self::NotAssigned(sku) => {
                write!(
                    f,
                    "User does not have a corresponding license for SKU {sku}."
                )
            }
            Self::AddedAndRemoved(sku) => {
                write!(
                    f,
                    "License {sku} cannot be both added and removed in one request."
                )
            }
        }
    }
}

impl From<LicenseError> for DirectoryError {
    fn from(error: LicenseError) -> Self {
        Self::License(error)
    }
}
