//! The registered certificates and trusted federation issuers, parsed once at start, and the
//! assertion ids already used.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lc_rs::digest::{self, SHA1_FOR_LEGACY_USE_ONLY, SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::config::Config;

/// A certificate registered on an app, by its thumbprints.
pub struct RegisteredCertificate {
    /// The app it belongs to.
    pub client_id: String,
    /// `x5t`: base64url of the SHA-1 of the DER certificate.
    pub x5t: String,
    /// `x5t#S256`: base64url of its SHA-256.
    pub x5t_s256: String,
    /// Its RSA public key.
    pub key: DecodingKey,
}

/// An issuer whose tokens federated credentials may accept, with its keys.
pub struct TrustedIssuer {
    /// The `iss` value.
    pub issuer: String,
    /// Its signing keys.
    pub keys: Vec<DecodingKey>,
}

/// What the token endpoint checks assertions against.
pub struct Credentials {
    certificates: Vec<RegisteredCertificate>,
    issuers: Vec<TrustedIssuer>,
    /// Assertion ids (`client|jti`) seen, with the expiry of their assertion.
    used: Mutex<HashMap<String, i64>>,
}

impl Credentials {
    /// Parses the certificates and issuer keys of `config`; a PEM that does not parse is a
    /// configuration error.
    pub fn load(config: &Config) -> Result<Self, String> {
        let mut certificates = Vec::new();
        for client in &config.clients {
            for pem in &client.certificates {
                let certificate = registered(&client.client_id, pem)
                    .map_err(|e| format!("client {}: certificate: {e}", client.client_id))?;
                certificates.push(certificate);
            }
        }
        let issuers = config
            .federated_issuers
            .iter()
            .map(|i| {
                let keys = i
                    .public_keys
                    .iter()
                    .map(|pem| public_key(pem))
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("federated issuer {}: {e}", i.issuer))?;
                Ok(TrustedIssuer {
                    issuer: i.issuer.clone(),
                    keys,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            certificates,
            issuers,
            used: Mutex::default(),
        })
    }

    /// The certificate of `client_id` with this `x5t#S256` or, failing that, `x5t`. Clients
    /// differ on padding the base64url (MSAL pads), and Entra accepts both.
    pub fn certificate(
        &self,
        client_id: &str,
        x5t_s256: Option<&str>,
        x5t: Option<&str>,
    ) -> Option<&RegisteredCertificate> {
        let unpadded = |t: Option<&str>| t.map(|t| t.trim_end_matches('=').to_string());
        let (x5t_s256, x5t) = (unpadded(x5t_s256), unpadded(x5t));
        self.certificates.iter().find(|c| {
            c.client_id.eq_ignore_ascii_case(client_id)
                && (x5t_s256.as_deref() == Some(c.x5t_s256.as_str())
                    || x5t.as_deref() == Some(c.x5t.as_str()))
        })
    }

    /// The trusted issuer with exactly this `iss`.
    pub fn issuer(&self, issuer: &str) -> Option<&TrustedIssuer> {
        self.issuers.iter().find(|i| i.issuer == issuer)
    }

    /// Records the assertion id `jti` of `client_id`, valid until `expires` (seconds since
    /// the epoch); `false` when it was used before.
    pub fn first_use(&self, client_id: &str, jti: &str, expires: i64, now: i64) -> bool {
        let mut used = self
            .used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        used.retain(|_, until| *until >= now);
        let key = format!("{}|{jti}", client_id.to_ascii_lowercase());
        used.insert(key, expires).is_none()
    }
}

fn registered(client_id: &str, pem: &str) -> Result<RegisteredCertificate, String> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    let key = DecodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|e| format!("not an RSA certificate: {e}"))?;
    let thumbprint = |algorithm| URL_SAFE_NO_PAD.encode(digest::digest(algorithm, der.as_ref()));
    Ok(RegisteredCertificate {
        client_id: client_id.to_string(),
        x5t: thumbprint(&SHA1_FOR_LEGACY_USE_ONLY),
        x5t_s256: thumbprint(&SHA256),
        key,
    })
}

/// An RSA or EC public key (or certificate) from PEM.
fn public_key(pem: &str) -> Result<DecodingKey, String> {
    DecodingKey::from_rsa_pem(pem.as_bytes())
        .or_else(|_| DecodingKey::from_ec_pem(pem.as_bytes()))
        .map_err(|e| format!("not an RSA or EC public key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assertion_id_is_good_once_until_it_expires() {
        let credentials = Credentials::load(&Config::default()).unwrap();
        assert!(credentials.first_use("app", "jti-1", 100, 50));
        assert!(!credentials.first_use("APP", "jti-1", 100, 60));
        assert!(credentials.first_use("other", "jti-1", 100, 60));
        assert!(
            credentials.first_use("app", "jti-1", 300, 101),
            "forgotten after expiry"
        );
    }

    #[test]
    fn a_certificate_that_is_not_pem_is_a_configuration_error() {
        let mut config = Config::default();
        config.clients[0].certificates = vec!["not a certificate".into()];
        let error = Credentials::load(&config).err().unwrap();
        assert!(error.contains("certificate"), "{error}");
    }
}
