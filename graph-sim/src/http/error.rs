//! The Graph error envelope.
//!
//! Handlers return a [`GraphError`] as a bare status with the error attached; the request
//! tracking layer renders the body, because only it knows the request id and the client's
//! `client-request-id` that `innerError` echoes.

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode};
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
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl GraphError {
    /// An error with no details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// A `403 Authorization_RequestDenied`: the app lacks a permission, or the target is out of
    /// reach of application permissions.
    pub fn insufficient_privileges() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    /// A `429 TooManyRequests` asking the client to wait `retry_after` seconds.
    pub fn too_many_requests(retry_after: f64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests. Please retry after the time the Retry-After header gives.",
        )
        .with_header("retry-after", retry_after_value(retry_after))
    }

    /// Adds a response header; a value that is not a valid header value is dropped.
    pub fn with_header(mut self, name: &'static str, value: impl AsRef<str>) -> Self {
        if let Ok(value) = HeaderValue::from_str(value.as_ref()) {
            self.headers.push((HeaderName::from_static(name), value));
        }
        self
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

    /// The error code.
    #[cfg(test)]
    pub fn code(&self) -> &'static str {
        self.code
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
        let mut response = (self.status, Json(body)).into_response();
        for (name, value) in &self.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        response
    }
}

/// `Retry-After` as Graph writes it: whole seconds bare, others with up to three decimals
/// (`2.128`).
pub fn retry_after_value(seconds: f64) -> String {
    let millis = (seconds.max(0.0) * 1000.0).ceil() as u64;
    if millis.is_multiple_of(1000) {
        return (millis / 1000).to_string();
    }
    let text = format!("{}.{:03}", millis / 1000, millis % 1000);
    text.trim_end_matches('0').to_string()
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_keeps_fractions_to_the_millisecond() {
        assert_eq!(retry_after_value(2.128), "2.128");
        assert_eq!(retry_after_value(0.5), "0.5");
        assert_eq!(retry_after_value(3.0), "3");
        assert_eq!(retry_after_value(0.0001), "0.001");
        assert_eq!(retry_after_value(-1.0), "0");
    }
}
