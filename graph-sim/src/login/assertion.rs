//! Client assertions: a JWT signed with a registered certificate (`x5t` / `x5t#S256`), or a
//! token from a trusted issuer that a federated identity credential accepts.
//!
//! A certificate assertion is one that names a thumbprint or whose issuer is the client
//! itself; any other is taken as federated, as Entra does.

use std::collections::HashSet;

use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde_json::Value;

use super::credentials::Credentials;
use super::error::AadError;
use crate::config::ClientCredential;

/// How far ahead of the service's clock `nbf` may be (a client's clock running fast).
const ALLOWED_SKEW_SECONDS: i64 = 300;

/// The claims the checks read, from an assertion not yet verified.
struct Claims {
    iss: String,
    sub: String,
    aud: Vec<String>,
    exp: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
}

/// What the token request expects of an assertion.
pub struct Expected<'a> {
    /// Token URLs that count as the audience of a certificate assertion.
    pub token_urls: &'a [String],
    /// Now, in seconds since the epoch.
    pub now: i64,
}

/// Checks `assertion` for `client`; `Ok` means the client is authenticated.
pub fn verify(
    credentials: &Credentials,
    client: &ClientCredential,
    assertion: &str,
    expected: &Expected<'_>,
) -> Result<(), AadError> {
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| AadError::malformed_assertion("The assertion is not a JWT."))?;
    let claims = unverified_claims(assertion)?;
    let names_thumbprint = header.x5t.is_some() || header.x5t_s256.is_some();
    if names_thumbprint || claims.iss.eq_ignore_ascii_case(&client.client_id) {
        verify_certificate(credentials, client, assertion, &header, &claims, expected)
    } else {
        verify_federated(
            credentials,
            client,
            assertion,
            &header,
            &claims,
            expected.now,
        )
    }
}

fn verify_certificate(
    credentials: &Credentials,
    client: &ClientCredential,
    assertion: &str,
    header: &Header,
    claims: &Claims,
    expected: &Expected<'_>,
) -> Result<(), AadError> {
    let thumbprint = header
        .x5t_s256
        .as_deref()
        .or(header.x5t.as_deref())
        .unwrap_or_default();
    let certificate = credentials
        .certificate(
            &client.client_id,
            header.x5t_s256.as_deref(),
            header.x5t.as_deref(),
        )
        .ok_or_else(|| {
            AadError::invalid_assertion_signature("The key was not found.", thumbprint)
        })?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(AadError::malformed_assertion(
            "Client assertions must be signed with RS256 or PS256.",
        ));
    }
    if !signature_holds(assertion, header.alg, &certificate.key) {
        return Err(AadError::invalid_assertion_signature(
            "The signature does not verify with the registered certificate.",
            thumbprint,
        ));
    }
    check_certificate_claims(credentials, &client.client_id, claims, expected)
}

/// The claims of a verified certificate assertion: who, for whom, when, and only once.
fn check_certificate_claims(
    credentials: &Credentials,
    client_id: &str,
    claims: &Claims,
    expected: &Expected<'_>,
) -> Result<(), AadError> {
    if !claims.iss.eq_ignore_ascii_case(client_id) || !claims.sub.eq_ignore_ascii_case(client_id) {
        return Err(AadError::assertion_client_mismatch());
    }
    let audience_ok = claims
        .aud
        .iter()
        .any(|a| expected.token_urls.iter().any(|u| same_url(a, u)));
    if !audience_ok {
        return Err(AadError::malformed_assertion(
            "The audience of the assertion is not the token endpoint of the tenant.",
        ));
    }
    check_lifetime(claims, expected.now)?;
    let jti = claims
        .jti
        .as_deref()
        .filter(|j| !j.is_empty())
        .ok_or_else(|| AadError::malformed_assertion("The assertion has no 'jti' claim."))?;
    let expires = claims.exp.unwrap_or(expected.now);
    if !credentials.first_use(client_id, jti, expires, expected.now) {
        return Err(AadError::malformed_assertion(
            "The assertion's 'jti' was already used; each assertion may be presented once.",
        ));
    }
    Ok(())
}

fn verify_federated(
    credentials: &Credentials,
    client: &ClientCredential,
    assertion: &str,
    header: &Header,
    claims: &Claims,
    now: i64,
) -> Result<(), AadError> {
    let by_issuer: Vec<_> = client
        .federated_credentials
        .iter()
        .filter(|f| f.issuer == claims.iss)
        .collect();
    if by_issuer.is_empty() {
        return Err(AadError::federated_issuer_mismatch(&claims.iss));
    }
    let keys = credentials.issuer(&claims.iss).map(|i| i.keys.as_slice());
    let verified = keys
        .unwrap_or_default()
        .iter()
        .any(|key| signature_holds(assertion, header.alg, key));
    if !verified {
        return Err(AadError::invalid_assertion_signature(
            "No signing key of the issuer verifies the assertion.",
            "",
        ));
    }
    check_lifetime(claims, now)?;
    let by_subject: Vec<_> = by_issuer
        .into_iter()
        .filter(|f| f.subject == claims.sub)
        .collect();
    if by_subject.is_empty() {
        return Err(AadError::federated_subject_mismatch(&claims.sub));
    }
    let audience_ok = by_subject
        .iter()
        .any(|f| f.audiences.iter().any(|a| claims.aud.contains(a)));
    if !audience_ok {
        return Err(AadError::federated_audience_mismatch(
            &claims.aud.join(", "),
        ));
    }
    Ok(())
}

/// Whether `key` verifies the signature of `assertion` made with `alg`; claims are checked
/// elsewhere, so each refusal gets its own error.
fn signature_holds(assertion: &str, alg: Algorithm, key: &DecodingKey) -> bool {
    if alg.family() != key.family() {
        return false;
    }
    let mut validation = Validation::new(alg);
    validation.required_spec_claims = HashSet::new();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(assertion, key, &validation).is_ok()
}

fn check_lifetime(claims: &Claims, now: i64) -> Result<(), AadError> {
    let exp = claims
        .exp
        .ok_or_else(|| AadError::malformed_assertion("The assertion has no 'exp' claim."))?;
    let too_early = claims
        .nbf
        .is_some_and(|nbf| nbf > now + ALLOWED_SKEW_SECONDS);
    if exp <= now || too_early {
        return Err(AadError::assertion_out_of_time(now, claims.nbf, exp));
    }
    Ok(())
}

fn unverified_claims(assertion: &str) -> Result<Claims, AadError> {
    let malformed = || AadError::malformed_assertion("The assertion's claims cannot be read.");
    let claims: Value =
        jsonwebtoken::dangerous::insecure_decode_claims(assertion).map_err(|_| malformed())?;
    let text = |name: &str| claims[name].as_str().unwrap_or_default().to_string();
    let aud = match &claims["aud"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    // NumericDate may carry a fraction (MSAL for Python writes `time.time()` as is).
    let seconds = |name: &str| {
        let value = &claims[name];
        value.as_i64().or_else(|| value.as_f64().map(|s| s as i64))
    };
    Ok(Claims {
        iss: text("iss"),
        sub: text("sub"),
        aud,
        exp: seconds("exp"),
        nbf: seconds("nbf"),
        jti: claims["jti"].as_str().map(str::to_string),
    })
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}
