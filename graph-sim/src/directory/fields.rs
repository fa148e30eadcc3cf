//! Checks a written user body, property by property, against the schema and the value rules.

use serde_json::{Map, Value};

use super::error::DirectoryError;
use super::rules;
use super::schema::{self, EXTENSION_ATTRIBUTES, Property, Rule};

/// Annotations clients may send along with the properties; they carry no data.
const ANNOTATIONS: &[&str] = &["@odata.type"];

/// Longest value of one `extensionAttributeN`.
const EXTENSION_ATTRIBUTE_MAX: usize = 1024;

/// Checks every property of `body`: known, writable, and valid for its rule. UPN domains must
/// be among `verified_domains`.
pub fn check_body(
    body: &Map<String, Value>,
    verified_domains: &[String],
) -> Result<(), DirectoryError> {
    for (name, value) in body {
        if ANNOTATIONS.contains(&name.as_str()) {
            continue;
        }
        let property = schema::property(name).ok_or_else(|| {
            DirectoryError::invalid(
                name,
                format!("Property '{name}' does not exist on type 'microsoft.graph.user'."),
            )
        })?;
        check_value(property, value, verified_domains)?;
    }
    Ok(())
}

/// The properties of `body` that are stored as given (annotations and the password profile
/// aside, which need their own handling).
pub fn storable(body: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    body.iter()
        .filter(|(name, _)| !ANNOTATIONS.contains(&name.as_str()) && *name != "passwordProfile")
}

fn check_value(
    property: &Property,
    value: &Value,
    verified_domains: &[String],
) -> Result<(), DirectoryError> {
    let name = property.name;
    let valid = match property.rule {
        Rule::ReadOnly => {
            let message = format!("Property '{name}' is read-only and cannot be set.");
            return Err(DirectoryError::invalid(name, message));
        }
        Rule::Upn => return check_upn(value, verified_domains),
        Rule::PasswordProfile => return check_password_profile(value),
        Rule::ExtensionAttributes => return check_extension_attributes(value),
        Rule::Text(max) => value.is_null() || text_within(value, 0, max),
        Rule::RequiredText(max) => text_within(value, 1, max),
        Rule::Bool => value.is_boolean(),
        Rule::MailNickname => value.as_str().is_some_and(rules::mail_nickname_is_valid),
        Rule::UsageLocation => {
            value.is_null() || value.as_str().is_some_and(rules::usage_location_is_valid)
        }
        Rule::Address => value.is_null() || value.as_str().is_some_and(rules::address_is_valid),
        Rule::Addresses => {
            strings(value).is_some_and(|a| a.iter().all(|s| rules::address_is_valid(s)))
        }
        Rule::Phones => {
            strings(value).is_some_and(|p| p.len() <= 1 && p.iter().all(|s| s.len() <= 64))
        }
        Rule::PasswordPolicies => {
            value.is_null() || value.as_str().is_some_and(password_policies_valid)
        }
    };
    if valid {
        Ok(())
    } else {
        Err(DirectoryError::invalid_value(name))
    }
}

fn check_upn(value: &Value, verified_domains: &[String]) -> Result<(), DirectoryError> {
    let upn = value
        .as_str()
        .filter(|upn| rules::upn_is_well_formed(upn))
        .ok_or_else(|| {
            DirectoryError::invalid(
                "userPrincipalName",
                "Property userPrincipalName is invalid.",
            )
        })?;
    let domain = rules::domain_part(upn).unwrap_or_default();
    if verified_domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(domain))
    {
        return Ok(());
    }
    Err(DirectoryError::invalid(
        "userPrincipalName",
        "The domain portion of the userPrincipalName property is invalid. You must use one of the \
         verified domain names in your organization.",
    ))
}

fn check_password_profile(value: &Value) -> Result<(), DirectoryError> {
    let invalid = || DirectoryError::invalid_value("passwordProfile");
    let profile = value.as_object().ok_or_else(invalid)?;
    for (key, field) in profile {
        let valid = match key.as_str() {
            "password" => field.is_string(),
            "forceChangePasswordNextSignIn" | "forceChangePasswordNextSignInWithMfa" => {
                field.is_boolean()
            }
            _ => false,
        };
        if !valid {
            return Err(invalid());
        }
    }
    Ok(())
}

fn check_extension_attributes(value: &Value) -> Result<(), DirectoryError> {
    let invalid = || DirectoryError::invalid_value("onPremisesExtensionAttributes");
    let attributes = value.as_object().ok_or_else(invalid)?;
    for (key, field) in attributes {
        let known = extension_attribute_names().any(|n| n == *key);
        let fits = field.is_null() || text_within(field, 0, EXTENSION_ATTRIBUTE_MAX);
        if !known || !fits {
            return Err(invalid());
        }
    }
    Ok(())
}

/// `extensionAttribute1` to `extensionAttribute15`.
pub fn extension_attribute_names() -> impl Iterator<Item = String> {
    (1..=EXTENSION_ATTRIBUTES).map(|n| format!("extensionAttribute{n}"))
}

/// All fifteen extension attributes, each from `update` when it names it, else from `current`,
/// else null — Graph always returns the full set.
pub fn merge_extension_attributes(current: Option<&Value>, update: Option<&Value>) -> Value {
    let pick = |source: Option<&Value>, key: &str| source.and_then(|s| s.get(key)).cloned();
    let merged = extension_attribute_names()
        .map(|key| {
            let value = pick(update, &key)
                .or_else(|| pick(current, &key))
                .unwrap_or(Value::Null);
            (key, value)
        })
        .collect();
    Value::Object(merged)
}

/// Whether `DisableStrongPassword` is among the password policies.
pub fn strong_passwords_disabled(policies: Option<&Value>) -> bool {
    policies.and_then(Value::as_str).is_some_and(|p| {
        p.split(',')
            .any(|part| part.trim() == "DisableStrongPassword")
    })
}

fn password_policies_valid(policies: &str) -> bool {
    policies.split(',').map(str::trim).all(|p| {
        matches!(
            p,
            "None" | "DisablePasswordExpiration" | "DisableStrongPassword"
        )
    })
}

fn text_within(value: &Value, min: usize, max: usize) -> bool {
    value
        .as_str()
        .is_some_and(|s| (min..=max).contains(&s.chars().count()))
}

fn strings(value: &Value) -> Option<Vec<&str>> {
    value.as_array()?.iter().map(Value::as_str).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(body: Value) -> Result<(), DirectoryError> {
        check_body(body.as_object().unwrap(), &["contoso.example".into()])
    }

    fn target(result: Result<(), DirectoryError>) -> String {
        match result {
            Err(DirectoryError::InvalidValue { target, .. }) => target,
            other => panic!("expected an invalid value, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_valid_body_passes() {
        let body = json!({
            "@odata.type": "#microsoft.graph.user",
            "accountEnabled": true, "displayName": "Jane", "mailNickname": "jane",
            "userPrincipalName": "jane@Contoso.Example", "usageLocation": "DE",
            "passwordProfile": {"password": "x", "forceChangePasswordNextSignIn": true},
            "onPremisesExtensionAttributes": {
                "extensionAttribute7": "owned-by:op", "extensionAttribute1": null,
            },
            "businessPhones": ["+49 30 1234"], "otherMails": ["jane@elsewhere.example"]
        });
        assert_eq!(check(body), Ok(()));
    }

    #[test]
    fn unknown_read_only_and_ill_typed_properties_are_refused() {
        assert_eq!(
            target(check(json!({"favouriteColour": "blue"}))),
            "favouriteColour"
        );
        assert_eq!(target(check(json!({"id": "x"}))), "id");
        assert_eq!(
            target(check(json!({"proxyAddresses": []}))),
            "proxyAddresses"
        );
        assert_eq!(
            target(check(json!({"accountEnabled": "yes"}))),
            "accountEnabled"
        );
        assert_eq!(target(check(json!({"displayName": ""}))), "displayName");
        assert_eq!(
            target(check(json!({"usageLocation": "de"}))),
            "usageLocation"
        );
        assert_eq!(
            target(check(json!({"businessPhones": ["1", "2"]}))),
            "businessPhones"
        );
    }

    #[test]
    fn extension_attributes_are_limited_to_the_fifteen_slots() {
        let bad = json!({"onPremisesExtensionAttributes": {"extensionAttribute16": "x"}});
        assert_eq!(target(check(bad)), "onPremisesExtensionAttributes");
        let long =
            json!({"onPremisesExtensionAttributes": {"extensionAttribute1": "x".repeat(1025)}});
        assert_eq!(target(check(long)), "onPremisesExtensionAttributes");
    }

    #[test]
    fn an_unverified_domain_is_reported_apart_from_a_malformed_upn() {
        let unverified = check(json!({"userPrincipalName": "jane@fabrikam.example"}));
        let Err(DirectoryError::InvalidValue { message, .. }) = unverified else {
            panic!()
        };
        assert!(message.starts_with("The domain portion"), "{message}");
        let malformed = check(json!({"userPrincipalName": "jané@contoso.example"}));
        let Err(DirectoryError::InvalidValue { message, .. }) = malformed else {
            panic!()
        };
        assert_eq!(message, "Property userPrincipalName is invalid.");
    }

    #[test]
    fn merging_extension_attributes_keeps_untouched_slots() {
        let current = json!({"extensionAttribute1": "a", "extensionAttribute2": "b"});
        let update = json!({"extensionAttribute2": null, "extensionAttribute3": "c"});
        let merged = merge_extension_attributes(Some(&current), Some(&update));
        assert_eq!(merged.as_object().unwrap().len(), 15);
        assert_eq!(merged["extensionAttribute1"], "a");
        assert_eq!(merged["extensionAttribute2"], Value::Null);
        assert_eq!(merged["extensionAttribute3"], "c");
    }

    #[test]
    fn password_policy_flags() {
        assert!(strong_passwords_disabled(Some(&json!(
            "DisablePasswordExpiration, DisableStrongPassword"
        ))));
        assert!(!strong_passwords_disabled(Some(&json!(
            "DisablePasswordExpiration"
        ))));
        assert!(!strong_passwords_disabled(None));
    }
}
