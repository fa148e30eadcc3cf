//! A JSON request body whose rejections are Graph errors rather than plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde_json::Value;

use super::error::GraphError;

/// The request body parsed as JSON; an empty body reads as `null`.
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = GraphError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| GraphError::bad_request("BadRequest", e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Value::Null));
        }
        serde_json::from_slice(&bytes).map(Self).map_err(|e| {
            GraphError::bad_request(
                "BadRequest",
                format!("Unable to read JSON request payload: {e}"),
            )
        })
    }
}
