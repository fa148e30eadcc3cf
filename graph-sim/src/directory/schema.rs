//! The user properties the simulator knows: which come back by default, which a client may
//! write, and the rule each written value must follow.

/// How a written value is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Computed by the service; a client may not write it.
    ReadOnly,
    /// A string of at most this many characters, or null.
    Text(usize),
    /// A string of 1 to this many characters; null is refused.
    RequiredText(usize),
    /// `true` or `false`.
    Bool,
    /// The userPrincipalName rules.
    Upn,
    /// The mailNickname rules.
    MailNickname,
    /// Two capital letters (ISO 3166 alpha-2), or null.
    UsageLocation,
    /// An e-mail address, or null.
    Address,
    /// A list of e-mail addresses.
    Addresses,
    /// A list of at most one phone number.
    Phones,
    /// `{password, forceChangePasswordNextSignIn, forceChangePasswordNextSignInWithMfa}`.
    PasswordProfile,
    /// Comma-separated `DisablePasswordExpiration` / `DisableStrongPassword`, or null.
    PasswordPolicies,
    /// `{extensionAttribute1..15}` of strings or nulls.
    ExtensionAttributes,
}

/// One property of `microsoft.graph.user`.
#[derive(Debug)]
pub struct Property {
    /// The name exactly as Graph spells it.
    pub name: &'static str,
    /// Whether it is in the default property set returned without `$select`.
    pub default: bool,
    /// Whether it is a collection (read back as `[]` when unset, not `null`).
    pub collection: bool,
    /// How a written value is checked.
    pub rule: Rule,
}

const fn prop(name: &'static str, default: bool, collection: bool, rule: Rule) -> Property {
    Property {
        name,
        default,
        collection,
        rule,
    }
}

/// Every user property the simulator stores or computes.
pub const USER_PROPERTIES: &[Property] = &[
    prop("businessPhones", true, true, Rule::Phones),
    prop("displayName", true, false, Rule::RequiredText(256)),
    prop("givenName", true, false, Rule::Text(64)),
    prop("id", true, false, Rule::ReadOnly),
    prop("jobTitle", true, false, Rule::Text(128)),
    prop("mail", true, false, Rule::Address),
    prop("mobilePhone", true, false, Rule::Text(64)),
    prop("officeLocation", true, false, Rule::Text(128)),
    prop("preferredLanguage", true, false, Rule::Text(16)),
    prop("surname", true, false, Rule::Text(64)),
    prop("userPrincipalName", true, false, Rule::Upn),
    prop("accountEnabled", false, false, Rule::Bool),
    prop("assignedLicenses", false, true, Rule::ReadOnly),
    prop("city", false, false, Rule::Text(128)),
    prop("companyName", false, false, Rule::Text(64)),
    prop("country", false, false, Rule::Text(128)),
    prop("createdDateTime", false, false, Rule::ReadOnly),
    prop("department", false, false, Rule::Text(64)),
    prop("employeeId", false, false, Rule::Text(16)),
    prop("employeeType", false, false, Rule::Text(64)),
    prop("mailNickname", false, false, Rule::MailNickname),
    prop(
        "onPremisesExtensionAttributes",
        false,
        false,
        Rule::ExtensionAttributes,
    ),
    prop("otherMails", false, true, Rule::Addresses),
    prop("passwordPolicies", false, false, Rule::PasswordPolicies),
    prop("passwordProfile", false, false, Rule::PasswordProfile),
    prop("postalCode", false, false, Rule::Text(40)),
    prop("proxyAddresses", false, true, Rule::ReadOnly),
    prop(
        "signInSessionsValidFromDateTime",
        false,
        false,
        Rule::ReadOnly,
    ),
    prop("state", false, false, Rule::Text(128)),
    prop("streetAddress", false, false, Rule::Text(1024)),
    prop("usageLocation", false, false, Rule::UsageLocation),
];

/// Properties a `POST /users` body must carry.
pub const REQUIRED_ON_CREATE: &[&str] = &[
    "accountEnabled",
    "displayName",
    "mailNickname",
    "userPrincipalName",
    "passwordProfile",
];

/// The number of `extensionAttributeN` slots in `onPremisesExtensionAttributes`.
pub const EXTENSION_ATTRIBUTES: usize = 15;

/// The property with exactly this name (JSON bodies are case-sensitive).
pub fn property(name: &str) -> Option<&'static Property> {
    USER_PROPERTIES.iter().find(|p| p.name == name)
}

/// The property with this name in any case (query options are case-insensitive).
pub fn property_ignoring_case(name: &str) -> Option<&'static Property> {
    USER_PROPERTIES
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The default property set, in the order Graph documents it.
pub fn default_properties() -> impl Iterator<Item = &'static Property> {
    USER_PROPERTIES.iter().filter(|p| p.default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_set_is_the_documented_one() {
        let names: Vec<&str> = default_properties().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "businessPhones",
                "displayName",
                "givenName",
                "id",
                "jobTitle",
                "mail",
                "mobilePhone",
                "officeLocation",
                "preferredLanguage",
                "surname",
                "userPrincipalName"
            ]
        );
    }

    #[test]
    fn lookups_differ_in_case_sensitivity() {
        assert!(property("usageLocation").is_some());
        assert!(property("usagelocation").is_none());
        assert_eq!(
            property_ignoring_case("USAGELOCATION").unwrap().name,
            "usageLocation"
        );
    }
}
