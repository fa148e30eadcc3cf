//! Issuing and checking first-session tokens.

use jiff::Timestamp;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{ALGORITHM, KeyRing, Sensitive, TOKEN_LIFETIME, TokenError, random_id};

/// The `token_use` claim of first-session tokens, so that no other token the operator may
/// sign one day can pass for one.
pub const FIRST_SESSION_USE: &str = "first_session";

/// Longest key id repeated in an error: the id comes from an unchecked token.
const MAX_KID_SHOWN: usize = 64;

/// Whom a first-session token is for.
#[derive(Clone, Debug, PartialEq)]
pub struct FirstSession {
    /// The operator's issuer URL, as published in the discovery document.
    pub issuer: String,
    /// The account's Entra object id.
    pub subject: String,
    /// The account's user principal name.
    pub upn: String,
    /// The role the person starts with.
    pub role: String,
    /// Who the token is meant for, when that is a single service.
    pub audience: Option<String>,
}

/// The claims of a first-session token.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Claims {
    /// The issuer: the operator's URL.
    pub iss: String,
    /// Entra object id.
    pub sub: String,
    /// The account's user principal name.
    pub upn: String,
    /// The role the person starts with.
    pub role: String,
    /// The audience, when the token is meant for one service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch: `iat` + 24 hours.
    pub exp: i64,
    /// A random token id, for the revocation list.
    pub jti: String,
    /// Always [`FIRST_SESSION_USE`].
    pub token_use: String,
}

/// A signed token and what the operator must remember about it.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    /// The compact JWT; hand it over, never log it.
    pub jwt: Sensitive,
    /// The token id, for revocation.
    pub jti: String,
    /// When the token stops being valid.
    pub expires_at: Timestamp,
}

/// Signs a 24-hour first-session token with the ring's current key.
pub fn issue_first_session(
    ring: &KeyRing,
    session: &FirstSession,
    now: Timestamp,
) -> Result<IssuedToken, TokenError> {
    let iat = now.as_second();
    let exp = iat + TOKEN_LIFETIME.as_secs() as i64;
    let claims = Claims {
        iss: session.issuer.clone(),
        sub: session.subject.clone(),
        upn: session.upn.clone(),
        role: session.role.clone(),
        aud: session.audience.clone(),
        iat,
        exp,
        jti: random_id()?,
        token_use: FIRST_SESSION_USE.to_string(),
    };
    let key = ring.current();
    let mut header = Header::new(ALGORITHM);
    header.kid = Some(key.kid().to_string());
    let jwt = jsonwebtoken::encode(&header, &claims, key.encoding_key())
        .map_err(|_| TokenError::Signing)?;
    Ok(IssuedToken {
        jwt: Sensitive::new(jwt),
        jti: claims.jti,
        expires_at: Timestamp::from_second(exp).map_err(|_| TokenError::Signing)?,
    })
}

/// Checks a first-session token against the ring, now.
pub fn verify(ring: &KeyRing, jwt: &str) -> Result<Claims, TokenError> {
    verify_at(ring, jwt, Timestamp::now())
}

/// Checks signature, key, algorithm, kind and expiry as of `now`. Issuer and audience are the
/// caller's to compare: they depend on who asks.
pub fn verify_at(ring: &KeyRing, jwt: &str, now: Timestamp) -> Result<Claims, TokenError> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| TokenError::Malformed)?;
    if header.alg != ALGORITHM {
        return Err(TokenError::Malformed);
    }
    let kid = header.kid.ok_or(TokenError::Malformed)?;
    let Some(key) = ring.find(&kid) else {
        let kid = kid.chars().take(MAX_KID_SHOWN).collect();
        return Err(TokenError::UnknownKey { kid });
    };
    let decoding = DecodingKey::from_jwk(key.public_jwk()).map_err(|_| TokenError::Key)?;
    let mut validation = Validation::new(ALGORITHM);
    // Expiry is checked below against `now`, not the library's clock.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(jwt, &decoding, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => TokenError::SignatureInvalid,
            _ => TokenError::Malformed,
        })?
        .claims;
    if claims.token_use != FIRST_SESSION_USE {
        return Err(TokenError::Malformed);
    }
    if now.as_second() >= claims.exp {
        let expired_at = Timestamp::from_second(claims.exp).map_err(|_| TokenError::Malformed)?;
        return Err(TokenError::Expired(expired_at));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::jwk::JwkSet;

    use super::*;
    use crate::tokens::jwks::jwks;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn session() -> FirstSession {
        FirstSession {
            issuer: "https://m365-operator.contoso.example".into(),
            subject: "7c1e0f6a-0000-0000-0000-00000000c0de".into(),
            upn: "zoe.muller@contoso.example".into(),
            role: "employee".into(),
            audience: None,
        }
    }

    const ISSUED: &str = "2026-12-01T09:00:00Z";

    fn ring_and_token() -> (KeyRing, IssuedToken) {
        let ring = KeyRing::generate(at(ISSUED)).unwrap();
        let token = issue_first_session(&ring, &session(), at(ISSUED)).unwrap();
        (ring, token)
    }

    #[test]
    fn a_third_party_verifies_the_token_with_the_published_jwks() {
        let (ring, token) = ring_and_token();
        let published: JwkSet = serde_json::from_value(jwks(&ring)).unwrap();
        let header = jsonwebtoken::decode_header(token.jwt.expose()).unwrap();
        let jwk = published.find(header.kid.as_deref().unwrap()).unwrap();
        let key = DecodingKey::from_jwk(jwk).unwrap();
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.set_issuer(&[session().issuer]);
        let claims =
            jsonwebtoken::decode::<serde_json::Value>(token.jwt.expose(), &key, &validation)
                .unwrap()
                .claims;
        assert_eq!(claims["sub"], session().subject);
        assert_eq!(claims["upn"], "zoe.muller@contoso.example");
        assert_eq!(claims["role"], "employee");
        assert_eq!(claims["jti"], token.jti.as_str());
    }

    #[test]
    fn tokens_last_exactly_24_hours() {
        let (ring, token) = ring_and_token();
        let claims = verify_at(&ring, token.jwt.expose(), at(ISSUED)).unwrap();
        assert_eq!(claims.iat, at(ISSUED).as_second());
        assert_eq!(claims.exp - claims.iat, 24 * 3600);
        assert_eq!(token.expires_at, at("2026-12-02T09:00:00Z"));
        assert!(verify_at(&ring, token.jwt.expose(), at("2026-12-02T08:59:59Z")).is_ok());
        let expired = verify_at(&ring, token.jwt.expose(), at("2026-12-02T09:00:00Z"));
        assert!(matches!(expired, Err(TokenError::Expired(t)) if t == token.expires_at));
    }

    #[test]
    fn token_ids_are_unique() {
        let ring = KeyRing::generate(at(ISSUED)).unwrap();
        let a = issue_first_session(&ring, &session(), at(ISSUED)).unwrap();
        let b = issue_first_session(&ring, &session(), at(ISSUED)).unwrap();
        assert_ne!(a.jti, b.jti);
    }

    #[test]
    fn a_tampered_token_is_rejected() {
        let (ring, token) = ring_and_token();
        let parts: Vec<&str> = token.jwt.expose().split('.').collect();
        // Claims swapped for a different role, signature kept.
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["role"] = "global-admin".into();
        let forged_claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
        let result = verify_at(&ring, &forged, at(ISSUED));
        assert!(
            matches!(result, Err(TokenError::SignatureInvalid)),
            "{result:?}"
        );
        // A signature with one byte changed.
        let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        signature[10] ^= 1;
        let broken = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode(signature)
        );
        let result = verify_at(&ring, &broken, at(ISSUED));
        assert!(
            matches!(result, Err(TokenError::SignatureInvalid)),
            "{result:?}"
        );
    }

    #[test]
    fn a_key_the_ring_does_not_hold_is_rejected() {
        let (_, token) = ring_and_token();
        let other = KeyRing::generate(at(ISSUED)).unwrap();
        let result = verify_at(&other, token.jwt.expose(), at(ISSUED));
        assert!(
            matches!(result, Err(TokenError::UnknownKey { .. })),
            "{result:?}"
        );
        assert!(matches!(
            verify_at(&other, "not.a.jwt", at(ISSUED)),
            Err(TokenError::Malformed)
        ));
    }

    #[test]
    fn rotation_keeps_earlier_tokens_verifiable() {
        let (mut ring, old) = ring_and_token();
        ring.rotate(at("2026-12-01T12:00:00Z"), Duration::ZERO)
            .unwrap();
        let new = issue_first_session(&ring, &session(), at("2026-12-01T12:00:00Z")).unwrap();
        let old_kid = jsonwebtoken::decode_header(old.jwt.expose()).unwrap().kid;
        let new_kid = jsonwebtoken::decode_header(new.jwt.expose()).unwrap().kid;
        assert_ne!(old_kid, new_kid);
        assert_eq!(new_kid.as_deref(), Some(ring.current_kid()));
        let later = at("2026-12-01T13:00:00Z");
        assert!(verify_at(&ring, old.jwt.expose(), later).is_ok());
        assert!(verify_at(&ring, new.jwt.expose(), later).is_ok());
    }

    #[test]
    fn errors_never_contain_the_token() {
        let (_, token) = ring_and_token();
        let other = KeyRing::generate(at(ISSUED)).unwrap();
        let error = verify_at(&other, token.jwt.expose(), at(ISSUED)).unwrap_err();
        let shown = format!("{error} {error:?} {token:?}");
        let signature = token.jwt.expose().rsplit('.').next().unwrap();
        assert!(!shown.contains(signature), "{shown}");
    }
}
