//! The Secret that holds a User's temporary password.
//!
//! The password is written here *before* Graph sees it, so that a crash between the two
//! never leaves an account whose password nobody knows. The Secret is owned by its User and
//! is created once; the operator never rewrites a password it already stored.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};

use crate::api::User;
use crate::password::{self, Password};

/// Key of the temporary password in the Secret.
pub const PASSWORD_KEY: &str = "password";
/// Key of the first-session JWT.
pub const FIRST_SESSION_KEY: &str = "firstSessionToken";
/// Key of the UPN the password belongs to.
pub const UPN_KEY: &str = "userPrincipalName";
/// Label on every Secret the operator manages.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "m365-operator");

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("Secret {0} exists but is not owned by this User; delete it or rename the User")]
    Foreign(String),
    #[error("Secret {0} has no {PASSWORD_KEY:?} key")]
    Incomplete(String),
    #[error("Secret {0} does not exist; the account was adopted without its temporary password")]
    Missing(String),
    #[error("the OS random source failed: {0}")]
    Random(getrandom::Error),
    #[error("reading or writing the Secret: {0}")]
    Kube(#[from] kube::Error),
}

/// Name of the credentials Secret of a User.
pub fn secret_name(user: &User) -> String {
    format!("{}-credentials", user.name_any())
}

/// The User's temporary password, generated and stored first if there is none yet.
pub async fn ensure(
    client: &kube::Client,
    user: &User,
    upn: &str,
) -> Result<Password, CredentialsError> {
    let namespace = user.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let name = secret_name(user);
    if let Some(existing) = secrets.get_opt(&name).await? {
        return stored_password(user, &existing);
    }
    let password = password::generate().map_err(CredentialsError::Random)?;
    match secrets
        .create(
            &PostParams::default(),
            &new_secret(user, &name, upn, &password),
        )
        .await
    {
        Ok(_) => Ok(password),
        // Another worker got there first: theirs is the one that counts.
        Err(kube::Error::Api(status)) if status.code == 409 => {
            stored_password(user, &secrets.get(&name).await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// The password stored for the User, for the welcome mail.
pub async fn password(client: &kube::Client, user: &User) -> Result<Password, CredentialsError> {
    let namespace = user.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let name = secret_name(user);
    let secret = secrets
        .get_opt(&name)
        .await?
        .ok_or(CredentialsError::Missing(name))?;
    stored_password(user, &secret)
}

/// Adds the first-session token to the User's credentials Secret.
pub async fn store_first_session(
    client: &kube::Client,
    user: &User,
    jwt: &str,
) -> Result<(), CredentialsError> {
    let namespace = user.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    // Only into this User's own Secret: never into one left behind by an earlier User.
    let name = secret_name(user);
    let existing = secrets
        .get_opt(&name)
        .await?
        .ok_or(CredentialsError::Missing(name.clone()))?;
    stored_password(user, &existing)?;
    let patch = serde_json::json!({ "stringData": { FIRST_SESSION_KEY: jwt } });
    secrets
        .patch(
            &secret_name(user),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(())
}

fn stored_password(user: &User, secret: &Secret) -> Result<Password, CredentialsError> {
    let name = secret.name_any();
    let owned = secret
        .owner_references()
        .iter()
        .any(|owner| Some(&owner.uid) == user.metadata.uid.as_ref());
    if !owned {
        return Err(CredentialsError::Foreign(name));
    }
    secret
        .data
        .as_ref()
        .and_then(|data| data.get(PASSWORD_KEY))
        .and_then(|value| String::from_utf8(value.0.clone()).ok())
        .map(Password::from_secret)
        .ok_or(CredentialsError::Incomplete(name))
}

fn new_secret(user: &User, name: &str, upn: &str, password: &Password) -> Secret {
    let data = BTreeMap::from([
        (
            PASSWORD_KEY.to_string(),
            ByteString(password.expose().as_bytes().to_vec()),
        ),
        (UPN_KEY.to_string(), ByteString(upn.as_bytes().to_vec())),
    ]);
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: user.namespace(),
            labels: Some(BTreeMap::from([(MANAGED_BY.0.into(), MANAGED_BY.1.into())])),
            owner_references: user.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Default::default()
    }
}
