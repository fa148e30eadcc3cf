//! Client assertions: the signed JWTs an app presents instead of a client secret, either
//! signed with its own certificate or issued by Kubernetes for workload identity federation.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// How long a certificate assertion is valid: Entra accepts more, but a short window limits
/// what a leaked assertion is worth.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(600);

/// The form value that says `client_assertion` is a JWT.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Why a certificate could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("tls.crt holds no PEM certificate")]
    NoCertificate,
    #[error("tls.crt is not valid base64 PEM")]
    BadPem,
    #[error("tls.key is not an RSA private key in PEM (PKCS#1 or PKCS#8)")]
    BadKey,
}

/// An app certificate ready to sign assertions. Never prints its key.
#[derive(Clone)]
pub struct ClientCertificate {
    key: EncodingKey,
    algorithm: Algorithm,
    /// Base64url SHA-1 of the certificate (header `x5t`, older registrations).
    x5t: String,
    /// Base64url SHA-256 of the certificate (header `x5t#S256`).
    x5t_s256: String,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("algorithm", &self.algorithm)
            .field("x5t#S256", &self.x5t_s256)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: u64,
    iat: u64,
    exp: u64,
}

impl ClientCertificate {
    /// From the PEM contents of a TLS Secret. `pss` picks PS256 over RS256.
    pub fn from_pem(cert_pem: &str, key_pem: &str, pss: bool) -> Result<Self, CertificateError> {
        let der = first_certificate_der(cert_pem)?;
        let key =
            EncodingKey::from_rsa_pem(key_pem.as_bytes()).map_err(|_| CertificateError::BadKey)?;
        Ok(ClientCertificate {
            key,
            algorithm: if pss {
                Algorithm::PS256
            } else {
                Algorithm::RS256
            },
            x5t: URL_SAFE_NO_PAD.encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, &der)),
            x5t_s256: URL_SAFE_NO_PAD.encode(digest(&SHA256, &der)),
        })
    }

    /// A fresh assertion for the token endpoint at `audience`.
    pub fn assertion(
        &self,
        client_id: &str,
        audience: &str,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(self.algorithm);
        // PS256 registrations are matched by the SHA-256 thumbprint, RS256 ones by SHA-1.
        match self.algorithm {
            Algorithm::PS256 => header.x5t_s256 = Some(self.x5t_s256.clone()),
            _ => header.x5t = Some(self.x5t.clone()),
        }
        let now = unix_now();
        let claims = AssertionClaims {
            aud: audience,
            iss: client_id,
            sub: client_id,
            jti: random_id(),
            nbf: now,
            iat: now,
            exp: now + ASSERTION_LIFETIME.as_secs(),
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
    }
}

/// The projected service-account token file of workload identity federation. The kubelet
/// rotates it, so it is read afresh for every token request.
#[derive(Clone, Debug)]
pub struct FederatedTokenFile(pub PathBuf);

impl FederatedTokenFile {
    pub fn read(&self) -> std::io::Result<String> {
        Ok(std::fs::read_to_string(&self.0)?.trim().to_string())
    }
}

fn first_certificate_der(pem: &str) -> Result<Vec<u8>, CertificateError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem.find(BEGIN).ok_or(CertificateError::NoCertificate)? + BEGIN.len();
    let end = pem[start..]
        .find(END)
        .ok_or(CertificateError::NoCertificate)?
        + start;
    let body: String = pem[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(body).map_err(|_| CertificateError::BadPem)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// 128 random bits as hex, for `jti`; Entra rejects a replayed assertion id.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    // A failing OS random source would also fail TLS; a zero id is then the least of it.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_bodies_are_found_between_markers() {
        let pem = "junk\n-----BEGIN CERTIFICATE-----\nAAEC\nAw==\n-----END CERTIFICATE-----\n";
        assert_eq!(first_certificate_der(pem).unwrap(), vec![0, 1, 2, 3]);
        assert!(matches!(
            first_certificate_der("nothing"),
            Err(CertificateError::NoCertificate)
        ));
    }

    #[test]
    fn assertion_ids_do_not_repeat() {
        assert_ne!(random_id(), random_id());
        assert_eq!(random_id().len(), 32);
    }
}
