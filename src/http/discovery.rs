//! The public face of the operator's token issuer: an OpenID-style discovery document and
//! the JWKS with the public keys, so that any service can verify a first-session token.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;

use crate::tokens::SigningKeys;
use crate::tokens::jwks::{self, DISCOVERY_PATH, JWKS_PATH};

#[derive(Clone)]
struct Issuer {
    url: String,
    keys: Arc<SigningKeys>,
}

/// `GET /.well-known/openid-configuration` and `GET /.well-known/jwks.json`.
pub fn routes(issuer: &str, keys: Arc<SigningKeys>) -> Router {
    let state = Issuer {
        url: issuer.trim_end_matches('/').to_string(),
        keys,
    };
    Router::new()
        .route(DISCOVERY_PATH, get(discovery))
        .route(JWKS_PATH, get(key_set))
        .with_state(state)
}

async fn discovery(State(issuer): State<Issuer>) -> impl IntoResponse {
    Json(jwks::discovery(&issuer.url))
}

async fn key_set(State(issuer): State<Issuer>) -> impl IntoResponse {
    match issuer.keys.get().await {
        Ok(ring) => Json(jwks::jwks(&ring)).into_response(),
        Err(e) => {
            tracing::warn!(category = e.category(), error = %e, "JWKS unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "signing keys are not available yet",
            )
                .into_response()
        }
    }
}
