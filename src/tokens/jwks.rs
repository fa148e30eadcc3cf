//! What the operator publishes so that others can verify its tokens: the public keys as a JSON
//! Web Key Set, and an OpenID-style discovery document that points at them.

use serde_json::{Value, json};

use super::KeyRing;

/// Where the HTTP server serves the discovery document, below the issuer URL.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// Where the HTTP server serves [`jwks`], below the issuer URL.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Where the HTTP server answers token introspection (RFC 7662), below the issuer URL.
pub const INTROSPECTION_PATH: &str = "/introspect";

/// Every published public key, current last, each with `kid`, `alg` and `use`.
pub fn jwks(ring: &KeyRing) -> Value {
    let keys: Vec<Value> = ring
        .keys()
        .iter()
        .map(|key| serde_json::to_value(key.public_jwk()).expect("a JWK always serialises"))
        .collect();
    json!({ "keys": keys })
}

/// The discovery document for `issuer` (the URL the operator is reached at, which is also the
/// `iss` of its tokens).
pub fn discovery(issuer: &str) -> Value {
    let base = issuer.trim_end_matches('/');
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{base}{JWKS_PATH}"),
        "introspection_endpoint": format!("{base}{INTROSPECTION_PATH}"),
        "id_token_signing_alg_values_supported": [format!("{:?}", super::ALGORITHM)],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "claims_supported": ["iss", "sub", "upn", "role", "aud", "iat", "exp", "jti", "token_use"],
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_jwks_lists_public_keys_with_id_algorithm_and_use() {
        let mut ring = KeyRing::generate("2026-12-01T09:00:00Z".parse().unwrap()).unwrap();
        ring.rotate("2026-12-02T09:00:00Z".parse().unwrap(), Duration::ZERO)
            .unwrap();
        let set = jwks(&ring);
        let keys = set["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        let kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert_eq!(kids, ring.kids().collect::<Vec<_>>());
        for key in keys {
            assert_eq!(key["alg"], "ES256");
            assert_eq!(key["use"], "sig");
            assert_eq!(key["kty"], "EC");
            assert_eq!(key["crv"], "P-256");
            assert!(key.get("d").is_none(), "no private part: {key}");
        }
    }

    #[test]
    fn discovery_points_below_the_issuer() {
        let doc = discovery("https://operator.contoso.example/");
        assert_eq!(doc["issuer"], "https://operator.contoso.example/");
        assert_eq!(
            doc["jwks_uri"],
            "https://operator.contoso.example/.well-known/jwks.json"
        );
        assert_eq!(
            doc["introspection_endpoint"],
            "https://operator.contoso.example/introspect"
        );
        assert_eq!(doc["id_token_signing_alg_values_supported"][0], "ES256");
    }
}
