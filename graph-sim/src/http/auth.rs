//! Bearer-token check in front of every Graph resource.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::GraphError;
use crate::login::TokenState;
use crate::sim::Sim;

/// The app a request acts for, known from its access token.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The application (client) id the token was issued to.
    pub client_id: String,
}

/// Lets the request through only with a valid token this simulator issued, and records
/// whose token it was.
pub async fn require_token(
    State(sim): State<Arc<Sim>>,
    mut request: Request,
    next: Next,
) -> Response {
    let state = bearer_token(request.headers()).map(|t| sim.tokens().state(t));
    let message = match state {
        Some(TokenState::Valid { client_id }) => {
            request.extensions_mut().insert(Caller { client_id });
            return next.run(request).await;
        }
        None => "Access token is empty.",
        Some(TokenState::Expired) => "Lifetime validation failed, the token is expired.",
        Some(TokenState::Unknown) => "Access token validation failure. Invalid token.",
    };
    GraphError::invalid_token(message).into_response()
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("Bearer") && !token.is_empty()).then_some(token)
}
