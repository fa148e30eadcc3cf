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
    /// No visible user has this id or userPrincipalName.
    NotFound(String),
    /// A license change the service refuses.
    License(LicenseError),
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
        }
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
