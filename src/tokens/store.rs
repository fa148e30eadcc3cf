//! The Secret the signing keys live in, so that every replica and every restart signs with
//! the same keys and publishes the same JWKS.
//!
//! The Secret holds one entry, [`KEY_RING_KEY`]: a JSON document with each key's id, creation
//! and retirement time and its PKCS#8 private key. Updates replace the Secret at the
//! `resourceVersion` they read, so two replicas rotating at once cannot lose a key.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

use super::{KeyRing, TokenError};
use crate::credentials::MANAGED_BY;

/// The Secret's name unless configured otherwise.
pub const DEFAULT_SECRET_NAME: &str = "m365-operator-signing-keys";

/// The Secret entry that holds the key ring.
pub const KEY_RING_KEY: &str = "keyring.json";

/// The key ring in `namespace/name`, generated and stored first if the Secret does not exist.
pub async fn load_or_create(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<KeyRing, TokenError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    if let Some(existing) = secrets.get_opt(name).await.map_err(TokenError::Kube)? {
        return ring_in(&existing);
    }
    let ring = KeyRing::generate(Timestamp::now())?;
    match secrets
        .create(&PostParams::default(), &secret_for(name, &ring))
        .await
    {
        Ok(_) => Ok(ring),
        // Another replica stored its ring first: that one is the ring everyone uses.
        Err(kube::Error::Api(status)) if status.code == 409 => {
            ring_in(&secrets.get(name).await.map_err(TokenError::Kube)?)
        }
        Err(e) => Err(TokenError::Kube(e)),
    }
}

/// Rotates the stored ring (see [`KeyRing::rotate`]) and returns it as stored.
///
/// Fails with [`TokenError::Conflict`] when the Secret changed since it was read; the caller
/// reads again and decides whether a rotation is still due.
pub async fn rotate(
    client: &Client,
    namespace: &str,
    name: &str,
    now: Timestamp,
    retention: Duration,
) -> Result<KeyRing, TokenError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let current = secrets.get(name).await.map_err(TokenError::Kube)?;
    let mut ring = ring_in(&current)?;
    ring.rotate(now, retention)?;
    let mut updated = secret_for(name, &ring);
    updated.metadata.resource_version = current.metadata.resource_version;
    match secrets
        .replace(name, &PostParams::default(), &updated)
        .await
    {
        Ok(_) => Ok(ring),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            Err(TokenError::Conflict(format!("{namespace}/{name}")))
        }
        Err(e) => Err(TokenError::Kube(e)),
    }
}

fn ring_in(secret: &Secret) -> Result<KeyRing, TokenError> {
    let name = format!(
        "{}/{}",
        secret.metadata.namespace.as_deref().unwrap_or_default(),
        secret.metadata.name.as_deref().unwrap_or_default()
    );
    let corrupt = |problem| TokenError::StoreCorrupt {
        secret: name.clone(),
        problem,
    };
    let stored = secret
        .data
        .as_ref()
        .and_then(|data| data.get(KEY_RING_KEY))
        .ok_or_else(|| corrupt("it has no keyring.json entry"))?;
    KeyRing::from_stored(&stored.0).map_err(corrupt)
}

fn secret_for(name: &str, ring: &KeyRing) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(BTreeMap::from([(MANAGED_BY.0.into(), MANAGED_BY.1.into())])),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([(
            KEY_RING_KEY.to_string(),
            ByteString(ring.to_stored()),
        )])),
        ..Default::default()
    }
}
