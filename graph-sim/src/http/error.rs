//! The Graph error envelope.
//!
//! Handlers return a [`GraphError`] as a bare status with the error attached; the request
//! tracking layer renders the body, because only it knows the request id and the client's
//! `client-request-id` that `innerError` echoes.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::context::RequestContext;
use crate::clock;

/// An error answered in Graph's envelope:
/// `{"error":{"code","message","details","innerError":{"date","request-id","client-request-id"}}}`.
#[derive(Clone, Debug)]
pub struct GraphError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Vec<Value>,
}

impl GraphError {
    /// An error with no details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// A `400` with this code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A `401 InvalidAuthenticationToken`.
    pub fn invalid_token(message: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    }

    /// A `400 Request_UnsupportedQuery`.
    pub fn unsupported_query(message: impl Into<String>) -> Self {
        Self::bad_request("Request_UnsupportedQuery", message)
    }

    /// Adds a `details` entry repeating the message for `target`.
    pub fn with_detail(mut self, code: &'static str, target: &str) -> Self {
        self.details
            .push(json!({"code": code, "message": self.message, "target": target}));
        self
    }

    /// The HTTP status.
    #[cfg(test)]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The envelope as sent for the request described by `context`.
    pub fn render(&self, context: &RequestContext) -> Response {
        let client_request_id = context
            .client_request_id
            .as_deref()
            .unwrap_or(&context.request_id);
        let body = json!({"error": {
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "innerError": {
                "date": clock::graph_error_date(),
                "request-id": context.request_id,
                "client-request-id": client_request_id,
            },
        }});
        (self.status, Json(body)).into_response()
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}
