//! The signing key ring: one current ES256 key that signs, and retired keys whose public
//! halves stay published until the tokens they signed have expired.

use std::fmt;
use std::time::Duration;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jiff::{SignedDuration, Timestamp};
use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::{Jwk, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use serde::{Deserialize, Serialize};

use super::{ALGORITHM, TOKEN_LIFETIME, TokenError};

/// One key pair. The private half never leaves this module except to sign.
#[derive(Clone)]
pub(super) struct SigningKey {
    /// The RFC 7638 thumbprint of the public key: stable, and derived from the key itself.
    kid: String,
    created_at: Timestamp,
    retired_at: Option<Timestamp>,
    pkcs8: Vec<u8>,
    encoding: EncodingKey,
    /// The public half, as published.
    public: Jwk,
}

impl SigningKey {
    fn generate(now: Timestamp) -> Result<Self, TokenError> {
        // aws-lc-rs draws the key from the operating system's random source.
        let document = EcdsaKeyPair::generate_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .map_err(|_| TokenError::Key)?;
        Self::from_pkcs8(document.as_ref().to_vec(), now, None)
    }

    fn from_pkcs8(
        pkcs8: Vec<u8>,
        created_at: Timestamp,
        retired_at: Option<Timestamp>,
    ) -> Result<Self, TokenError> {
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
            .map_err(|_| TokenError::Key)?;
        let encoding = EncodingKey::from_ec_der(&pkcs8);
        let mut public =
            Jwk::from_encoding_key(&encoding, ALGORITHM).map_err(|_| TokenError::Key)?;
        let kid = public
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|_| TokenError::Key)?;
        public.common.key_id = Some(kid.clone());
        public.common.public_key_use = Some(PublicKeyUse::Signature);
        public.common.key_algorithm = Some(KeyAlgorithm::ES256);
        Ok(Self {
            kid,
            created_at,
            retired_at,
            pkcs8,
            encoding,
            public,
        })
    }

    pub(super) fn kid(&self) -> &str {
        &self.kid
    }

    pub(super) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    pub(super) fn public_jwk(&self) -> &Jwk {
        &self.public
    }
}

/// The operator's signing keys. `Debug` shows key ids and dates only.
#[derive(Clone)]
pub struct KeyRing {
    /// Current key last; older keys before it, oldest first.
    keys: Vec<SigningKey>,
}

impl KeyRing {
    /// A ring with one new key.
    pub fn generate(now: Timestamp) -> Result<Self, TokenError> {
        Ok(Self {
            keys: vec![SigningKey::generate(now)?],
        })
    }

    /// Makes a new key current and retires the one before it. Retired keys stay published
    /// for `retention` (at least [`TOKEN_LIFETIME`], so that every token they signed can be
    /// verified until it expires) and are dropped after. Returns the new key's id.
    pub fn rotate(&mut self, now: Timestamp, retention: Duration) -> Result<&str, TokenError> {
        let new = SigningKey::generate(now)?;
        for key in &mut self.keys {
            key.retired_at.get_or_insert(now);
        }
        let keep =
            SignedDuration::try_from(retention.max(TOKEN_LIFETIME)).unwrap_or(SignedDuration::MAX);
        self.keys.retain(|key| {
            let retired = key.retired_at.expect("every older key was just retired");
            now.duration_since(retired) <= keep
        });
        self.keys.push(new);
        Ok(self.current_kid())
    }

    /// The id of the key that signs now.
    pub fn current_kid(&self) -> &str {
        self.current().kid()
    }

    /// Every published key id, current last.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(SigningKey::kid)
    }

    pub(super) fn current(&self) -> &SigningKey {
        self.keys
            .last()
            .expect("a key ring always has a current key")
    }

    pub(super) fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    pub(super) fn find(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|key| key.kid == kid)
    }

    /// The ring as stored in its Secret: private keys included.
    pub(super) fn to_stored(&self) -> Vec<u8> {
        let stored = StoredRing {
            keys: self
                .keys
                .iter()
                .map(|key| StoredKey {
                    kid: key.kid.clone(),
                    created_at: key.created_at,
                    retired_at: key.retired_at,
                    pkcs8: STANDARD.encode(&key.pkcs8),
                })
                .collect(),
        };
        serde_json::to_vec(&stored).expect("the stored ring always serialises")
    }

    /// Reads a stored ring back. The problem is a fixed phrase: parser messages could quote
    /// the key material they choked on.
    pub(super) fn from_stored(bytes: &[u8]) -> Result<Self, &'static str> {
        let stored: StoredRing =
            serde_json::from_slice(bytes).map_err(|_| "not a key ring in the expected format")?;
        let mut keys = Vec::with_capacity(stored.keys.len());
        for entry in stored.keys {
            let pkcs8 = STANDARD
                .decode(&entry.pkcs8)
                .map_err(|_| "a private key is not base64")?;
            let key = SigningKey::from_pkcs8(pkcs8, entry.created_at, entry.retired_at)
                .map_err(|_| "a private key is not a P-256 PKCS#8 key")?;
            if key.kid != entry.kid {
                return Err("a key id does not match its key");
            }
            keys.push(key);
        }
        match keys.last() {
            None => Err("the ring holds no key"),
            Some(current) if current.retired_at.is_some() => Err("the newest key is retired"),
            Some(_) => Ok(Self { keys }),
        }
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for key in &self.keys {
            list.entry(&format_args!(
                "{} (created {}, retired {})",
                key.kid,
                key.created_at,
                key.retired_at
                    .map_or_else(|| "never".to_string(), |t| t.to_string())
            ));
        }
        list.finish()
    }
}

/// The Secret's JSON. Deliberately without `Debug`: it holds private keys.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredRing {
    keys: Vec<StoredKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredKey {
    kid: String,
    created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retired_at: Option<Timestamp>,
    /// Standard base64 of the PKCS#8 DER document.
    pkcs8: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn the_key_id_is_the_rfc7638_thumbprint() {
        use aws_lc_rs::digest;
        let ring = KeyRing::generate(at("2026-12-01T09:00:00Z")).unwrap();
        let jwk = serde_json::to_value(ring.current().public_jwk()).unwrap();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        let digest = digest::digest(&digest::SHA256, canonical.as_bytes());
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
        assert_eq!(ring.current_kid(), expected);
    }

    #[test]
    fn rotation_retires_old_keys_and_drops_them_after_the_retention() {
        let day = Duration::from_secs(24 * 3600);
        let mut ring = KeyRing::generate(at("2026-12-01T09:00:00Z")).unwrap();
        let first = ring.current_kid().to_string();
        let second = ring
            .rotate(at("2026-12-02T09:00:00Z"), 2 * day)
            .unwrap()
            .to_string();
        assert_ne!(first, second);
        assert_eq!(
            ring.kids().collect::<Vec<_>>(),
            [first.as_str(), second.as_str()]
        );
        // Two days after its retirement the first key is still within its retention.
        let third = ring
            .rotate(at("2026-12-04T09:00:00Z"), 2 * day)
            .unwrap()
            .to_string();
        assert_eq!(ring.kids().count(), 3);
        let fourth = ring
            .rotate(at("2026-12-04T09:00:01Z"), 2 * day)
            .unwrap()
            .to_string();
        assert_eq!(ring.kids().collect::<Vec<_>>(), [&second, &third, &fourth]);
    }

    #[test]
    fn retention_never_drops_a_key_whose_tokens_may_still_be_valid() {
        let mut ring = KeyRing::generate(at("2026-12-01T09:00:00Z")).unwrap();
        let first = ring.current_kid().to_string();
        ring.rotate(at("2026-12-01T10:00:00Z"), Duration::ZERO)
            .unwrap();
        ring.rotate(at("2026-12-02T09:00:00Z"), Duration::ZERO)
            .unwrap();
        assert!(ring.find(&first).is_some(), "23 hours after retirement");
        ring.rotate(at("2026-12-02T10:00:01Z"), Duration::ZERO)
            .unwrap();
        assert!(ring.find(&first).is_none());
    }

    #[test]
    fn the_stored_form_reads_back_to_the_same_keys() {
        let mut ring = KeyRing::generate(at("2026-12-01T09:00:00Z")).unwrap();
        ring.rotate(at("2026-12-02T09:00:00Z"), Duration::ZERO)
            .unwrap();
        let back = KeyRing::from_stored(&ring.to_stored()).unwrap();
        assert_eq!(
            back.kids().collect::<Vec<_>>(),
            ring.kids().collect::<Vec<_>>()
        );
        assert_eq!(back.current().pkcs8, ring.current().pkcs8);
        assert_eq!(format!("{back:?}"), format!("{ring:?}"));
    }

    #[test]
    fn a_damaged_store_is_refused_without_echoing_it() {
        let ring = KeyRing::generate(at("2026-12-01T09:00:00Z")).unwrap();
        let mut stored: serde_json::Value = serde_json::from_slice(&ring.to_stored()).unwrap();
        stored["keys"][0]["kid"] = "someone-elses".into();
        let problem = KeyRing::from_stored(&serde_json::to_vec(&stored).unwrap()).unwrap_err();
        assert_eq!(problem, "a key id does not match its key");
        stored["keys"][0]["pkcs8"] = "bm90IGEga2V5".into();
        let problem = KeyRing::from_stored(&serde_json::to_vec(&stored).unwrap()).unwrap_err();
        assert_eq!(problem, "a private key is not a P-256 PKCS#8 key");
        assert!(KeyRing::from_stored(br#"{"keys":[]}"#).is_err());
    }

    #[test]
    fn debug_shows_no_key_material() {
        let ring = KeyRing::generate(at("2026-12-01T09:00:00Z")).unwrap();
        let shown = format!("{ring:?} {:?}", ring.current().encoding_key());
        assert!(shown.contains(ring.current_kid()), "{shown}");
        let private = STANDARD.encode(&ring.current().pkcs8);
        let leaked = (0..private.len() - 12).find(|&i| shown.contains(&private[i..i + 12]));
        assert_eq!(leaked, None, "{shown}");
        let decimal = format!("{:?}", &ring.current().pkcs8[8..16]);
        assert!(!shown.contains(decimal.trim_matches(['[', ']'])), "{shown}");
        let published = serde_json::to_value(ring.current().public_jwk()).unwrap();
        assert!(
            published.get("d").is_none(),
            "the published key has no private part"
        );
    }
}
