//! First-session tokens: the short-lived JWT a new hire's first sign-in is vouched for with.
//!
//! The operator signs these itself, with ES256 keys it keeps in one Kubernetes Secret
//! ([`store`]). Anyone can check a token against the public keys it publishes as a JWKS
//! ([`jwks`]), as any OpenID-style verifier would; [`verify`] does the same in process, for
//! introspection and tests.
//!
//! Keys rotate ([`KeyRing::rotate`]): a new key signs from then on, and the retired keys stay
//! published until every token they signed has expired. Private key material never appears
//! in `Debug`, `Display`, logs or errors, and an issued token is wrapped in [`Sensitive`].

pub mod jwks;
mod jwt;
mod keys;
pub mod shared;
pub mod store;

use std::fmt;
use std::time::Duration;

pub use jwt::{Claims, FirstSession, IssuedToken, issue_first_session, verify, verify_at};
pub use keys::KeyRing;
pub use shared::SigningKeys;

/// How long a first-session token is valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The one signature algorithm the operator signs with.
pub const ALGORITHM: jsonwebtoken::Algorithm = jsonwebtoken::Algorithm::ES256;

/// A credential that never prints itself: `Debug` and `Display` show a placeholder, so it
/// cannot slip into a log line, an Event or an error by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(String);

impl Sensitive {
    /// Wraps a credential.
    pub fn new(value: String) -> Self {
        Sensitive(value)
    }

    /// The credential itself, for the one place that hands it over.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sensitive(redacted)")
    }
}

impl fmt::Display for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

/// Why a key could not be kept or a token not issued or accepted. No variant carries key
/// material or a token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the operating system's random source failed")]
    Random,
    #[error("generating or loading a signing key failed")]
    Key,
    #[error("Secret {secret} does not hold a usable signing key ring: {problem}")]
    StoreCorrupt {
        secret: String,
        problem: &'static str,
    },
    #[error("Secret {0} was changed meanwhile by someone else; read it again and retry")]
    Conflict(String),
    #[error("reading or writing the signing keys: {0}")]
    Kube(#[source] kube::Error),
    #[error("signing the token failed")]
    Signing,
    #[error("the token is not a well-formed JWT of this issuer")]
    Malformed,
    #[error("the token names signing key {kid:?}, which this issuer does not publish")]
    UnknownKey { kid: String },
    #[error("the token's signature does not verify")]
    SignatureInvalid,
    #[error("the token expired at {0}")]
    Expired(jiff::Timestamp),
}

impl TokenError {
    /// A CamelCase category for Event reasons, metric labels and introspection answers.
    pub fn category(&self) -> &'static str {
        match self {
            TokenError::Random | TokenError::Key | TokenError::Signing => "SigningFailed",
            TokenError::StoreCorrupt { .. } => "SigningKeysCorrupt",
            TokenError::Conflict(_) => "SigningKeysConflict",
            TokenError::Kube(_) => "KubernetesApiError",
            TokenError::Malformed => "TokenMalformed",
            TokenError::UnknownKey { .. } => "TokenKeyUnknown",
            TokenError::SignatureInvalid => "TokenSignatureInvalid",
            TokenError::Expired(_) => "TokenExpired",
        }
    }
}

/// 16 bytes from the OS random source, base64url: unique ids that cannot be guessed.
fn random_id() -> Result<String, TokenError> {
    use base64::Engine;
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| TokenError::Random)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_values_never_format_themselves() {
        let token = Sensitive::new("eyJhbGciOiJFUzI1NiJ9.e30.c2ln".into());
        let shown = format!("{token:?} {token}");
        assert!(!shown.contains("eyJ"), "{shown}");
        assert_eq!(token.expose(), "eyJhbGciOiJFUzI1NiJ9.e30.c2ln");
    }

    #[test]
    fn random_ids_differ() {
        let (a, b) = (random_id().unwrap(), random_id().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
    }
}
