//! Creating and updating users: the order checks run in, the properties the service fills in,
//! uniqueness of names and addresses, and how addresses move when a name changes.

use serde_json::{Map, Value, json};

use super::error::DirectoryError;
use super::fields::{self, merge_extension_attributes, strong_passwords_disabled};
use super::rules::{local_part, password_complies};
use super::schema::REQUIRED_ON_CREATE;
use super::user::{User, View};
use super::{Directory, Origin};
use crate::{clock, ids};

impl Directory {
    /// Creates a user from a `POST /users` body, or from a seed (see [`Origin`]).
    pub fn create(&mut self, body: &Value, origin: Origin) -> Result<&User, DirectoryError> {
        let body = with_origin_defaults(as_object(body)?, origin);
        fields::check_body(&body, &self.verified_domains)?;
        check_required(&body, origin)?;
        if origin == Origin::Api {
            check_password(&body, &body)?;
        }
        let upn = text(&body, "userPrincipalName").unwrap_or_default();
        let mail = text(&body, "mail").unwrap_or(upn);
        if let Some(target) = self.conflict(upn, mail, None) {
            return Err(DirectoryError::Conflict { target });
        }
        let props = new_props(&body, mail);
        Ok(self.insert(props, origin == Origin::Seed))
    }

    /// Applies a `PATCH /users/{id}` body to the visible user named by `key`.
    /// Administrators are out of reach of application permissions.
    pub fn update(&mut self, key: &str, body: &Value, view: View) -> Result<(), DirectoryError> {
        let index = self.visible_index(key, view)?;
        self.check_not_privileged(index)?;
        let changes = as_object(body)?;
        fields::check_body(changes, &self.verified_domains)?;
        let user = &self.users[index];
        if changes
            .get("passwordProfile")
            .is_some_and(|p| p.get("password").is_some())
        {
            check_password(changes, &user.props)?;
        }
        let new_mail = new_primary_address(user, changes);
        if text(changes, "userPrincipalName").is_some() || new_mail.is_some() {
            let upn = text(changes, "userPrincipalName").unwrap_or(user.upn());
            let mail = new_mail.as_deref().or(user.text("mail")).unwrap_or(upn);
            if let Some(target) = self.conflict(upn, mail, Some(user.seq)) {
                return Err(DirectoryError::Conflict { target });
            }
        }
        apply(&mut self.users[index].props, changes, new_mail);
        self.touch(index);
        Ok(())
    }

    /// Which property clashes with another user's, if any. Addresses are compared without case
    /// and include users replication has not shown yet: uniqueness is enforced at the source.
    /// Deleted users hold on to nothing, so their names may be reused.
    pub(super) fn conflict(
        &self,
        upn: &str,
        mail: &str,
        except: Option<u64>,
    ) -> Option<&'static str> {
        let others = || self.users().filter(move |u| Some(u.seq) != except);
        if others().any(|u| u.upn().eq_ignore_ascii_case(upn)) {
            return Some("userPrincipalName");
        }
        let taken = |a: &str| a.eq_ignore_ascii_case(upn) || a.eq_ignore_ascii_case(mail);
        others()
            .any(|u| u.addresses().any(taken))
            .then_some("proxyAddresses")
    }
}

fn as_object(body: &Value) -> Result<&Map<String, Value>, DirectoryError> {
    body.as_object()
        .ok_or_else(|| DirectoryError::invalid("", "The request body must be a JSON object."))
}

/// Seeds describe users that already exist, so they may leave out what an administrator would
/// have had to type.
fn with_origin_defaults(body: &Map<String, Value>, origin: Origin) -> Map<String, Value> {
    let mut body = body.clone();
    if origin == Origin::Seed {
        body.entry("accountEnabled").or_insert(Value::Bool(true));
        if let Some(upn) = text(&body, "userPrincipalName")
            .map(local_part)
            .map(str::to_string)
        {
            body.entry("mailNickname").or_insert(Value::String(upn));
        }
    }
    body
}

fn check_required(body: &Map<String, Value>, origin: Origin) -> Result<(), DirectoryError> {
    let required: &[&str] = match origin {
        Origin::Api => REQUIRED_ON_CREATE,
        Origin::Seed => &["displayName", "userPrincipalName"],
    };
    let missing = required
        .iter()
        .find(|name| body.get(**name).is_none_or(Value::is_null));
    let no_password = origin == Origin::Api
        && body
            .get("passwordProfile")
            .and_then(|p| p.get("password"))
            .is_none();
    match (missing, no_password) {
        (Some(name), _) => Err(required_error(name)),
        (None, true) => Err(required_error("passwordProfile.password")),
        (None, false) => Ok(()),
    }
}

fn required_error(name: &str) -> DirectoryError {
    DirectoryError::invalid(
        name,
        format!("Property '{name}' is required when creating a user."),
    )
}

/// Checks the password in `changes` against the rules, with the alias and policies taken from
/// `changes` where it sets them and from `current` otherwise.
fn check_password(
    changes: &Map<String, Value>,
    current: &Map<String, Value>,
) -> Result<(), DirectoryError> {
    let pick = |name: &str| changes.get(name).or_else(|| current.get(name));
    let password = changes["passwordProfile"]["password"]
        .as_str()
        .unwrap_or_default();
    let nickname = pick("mailNickname")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let upn = pick("userPrincipalName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let strong = !strong_passwords_disabled(pick("passwordPolicies"));
    if password_complies(password, strong, &[nickname, local_part(upn)]) {
        return Ok(());
    }
    Err(DirectoryError::invalid(
        "passwordProfile.password",
        "The specified password does not comply with password complexity requirements. Please \
         provide a different password.",
    ))
}

/// The stored properties of a new user: what the body gave, plus what the service fills in.
fn new_props(body: &Map<String, Value>, mail: &str) -> Map<String, Value> {
    let mut props: Map<String, Value> = fields::storable(body)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    props.insert("id".into(), ids::guid().into());
    props.insert("mail".into(), mail.into());
    props.insert("proxyAddresses".into(), json!([format!("SMTP:{mail}")]));
    props.insert("assignedLicenses".into(), json!([]));
    props.insert("createdDateTime".into(), clock::rfc3339_now().into());
    props.entry("businessPhones").or_insert(json!([]));
    props.entry("otherMails").or_insert(json!([]));
    let attributes = merge_extension_attributes(None, body.get("onPremisesExtensionAttributes"));
    props.insert("onPremisesExtensionAttributes".into(), attributes);
    props.insert(
        "passwordProfile".into(),
        without_password(None, body.get("passwordProfile")),
    );
    props
}

/// The password profile's flags, merged over `current`; the password itself is never stored.
fn without_password(current: Option<&Value>, update: Option<&Value>) -> Value {
    let mut profile = current
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (key, value) in update.and_then(Value::as_object).into_iter().flatten() {
        if key != "password" {
            profile.insert(key.clone(), value.clone());
        }
    }
    for flag in [
        "forceChangePasswordNextSignIn",
        "forceChangePasswordNextSignInWithMfa",
    ] {
        profile.entry(flag).or_insert(Value::Bool(false));
    }
    Value::Object(profile)
}

/// The new primary SMTP address, when the update sets `mail` or renames the user. Renaming
/// moves mail along with the UPN, as Exchange's default address policy does.
fn new_primary_address(user: &User, changes: &Map<String, Value>) -> Option<String> {
    let renamed =
        text(changes, "userPrincipalName").filter(|upn| !upn.eq_ignore_ascii_case(user.upn()));
    text(changes, "mail").or(renamed).map(str::to_string)
}

fn apply(props: &mut Map<String, Value>, changes: &Map<String, Value>, new_mail: Option<String>) {
    for (name, value) in fields::storable(changes) {
        let value = match name.as_str() {
            "onPremisesExtensionAttributes" => {
                merge_extension_attributes(props.get(name), Some(value))
            }
            _ => value.clone(),
        };
        props.insert(name.clone(), value);
    }
    if let Some(update) = changes.get("passwordProfile") {
        let profile = without_password(props.get("passwordProfile"), Some(update));
        props.insert("passwordProfile".into(), profile);
    }
    if let Some(mail) = new_mail {
        set_primary_address(props, mail);
    }
}

/// Makes `mail` the primary (`SMTP:`) proxy address and keeps earlier ones as secondaries
/// (`smtp:`), so mail to the old address still arrives.
fn set_primary_address(props: &mut Map<String, Value>, mail: String) {
    let old = props
        .get("proxyAddresses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let secondaries = old
        .iter()
        .filter_map(Value::as_str)
        .map(|p| p.split_once(':').map_or(p, |(_, address)| address))
        .filter(|address| !address.eq_ignore_ascii_case(&mail))
        .map(|address| Value::String(format!("smtp:{address}")));
    let proxies: Vec<Value> = std::iter::once(Value::String(format!("SMTP:{mail}")))
        .chain(secondaries)
        .collect();
    props.insert("proxyAddresses".into(), Value::Array(proxies));
    props.insert("mail".into(), Value::String(mail));
}

fn text<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}
