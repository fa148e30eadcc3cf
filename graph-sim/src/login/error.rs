//! The identity platform's error envelope (`AADSTS` codes).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::clock;
use crate::http::context::RequestContext;

/// A token-endpoint error; rendered by the tracking layer, which knows the trace id.
#[derive(Clone, Debug)]
pub struct AadError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl AadError {
    fn new(status: StatusCode, error: &'static str, code: u32, description: String) -> Self {
        Self {
            status,
            error,
            code,
            description,
        }
    }

    /// AADSTS900144: a required form parameter is missing.
    pub fn missing_parameter(name: &str) -> Self {
        let text = format!("The request body must contain the following parameter: '{name}'.");
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", 900144, text)
    }

    /// AADSTS70003: a grant other than client credentials.
    pub fn unsupported_grant(grant: &str) -> Self {
        let text = format!("The app requested an unsupported grant type '{grant}'.");
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            text,
        )
    }

    /// AADSTS900023: the tenant segment is neither a GUID nor a domain name.
    pub fn malformed_tenant(tenant: &str) -> Self {
        let text = format!(
            "Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a valid \
             external domain."
        );
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", 900023, text)
    }

    /// AADSTS90002: no such tenant.
    pub fn unknown_tenant(tenant: &str) -> Self {
        let text = format!(
            "Tenant '{tenant}' not found. Check that the tenant id or domain is right and that \
             the request goes to the right cloud."
        );
        Self::new(StatusCode::BAD_REQUEST, "invalid_tenant", 90002, text)
    }

    /// AADSTS700016: no such application in the tenant.
    pub fn unknown_client(client_id: &str) -> Self {
        let text = format!(
            "Application with identifier '{client_id}' was not found in the directory. The \
             application may not be installed in the tenant or the client id may be wrong."
        );
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", 700016, text)
    }

    /// AADSTS7000218: neither a client secret nor a client assertion.
    pub fn no_credentials() -> Self {
        let text = "The request body must contain the following parameter: 'client_assertion' \
                    or 'client_secret'."
            .to_string();
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", 7000218, text)
    }

    /// AADSTS7000215: the client secret does not match.
    pub fn wrong_secret(client_id: &str) -> Self {
        let text = format!(
            "Invalid client secret provided. Ensure the secret being sent in the request is the \
             client secret value, not the client secret ID, for a secret added to app \
             '{client_id}'."
        );
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, text)
    }

    /// AADSTS700027: a client assertion, but no certificate is registered for the app.
    pub fn unregistered_certificate(client_id: &str) -> Self {
        let text = format!(
            "The certificate with which the client assertion was signed is not registered for \
             application '{client_id}'."
        );
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", 700027, text)
    }

    /// AADSTS70011: a scope other than Graph's `/.default`.
    pub fn invalid_scope(scope: &str) -> Self {
        let text = format!(
            "The provided request must include a 'scope' input parameter. The provided value for \
             the input parameter 'scope' is not valid: '{scope}'. Client credential flows must \
             use a single resource's '/.default' scope."
        );
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", 70011, text)
    }

    /// The numeric AADSTS code.
    pub fn code(&self) -> u32 {
        self.code
    }

    /// The envelope as sent for the request described by `context`.
    pub fn render(&self, context: &RequestContext, base_url: &str) -> Response {
        let timestamp = clock::aad_timestamp();
        let correlation_id = context
            .client_request_id
            .as_deref()
            .unwrap_or(&context.request_id);
        let description = format!(
            "AADSTS{}: {} Trace ID: {} Correlation ID: {} Timestamp: {}",
            self.code, self.description, context.request_id, correlation_id, timestamp
        );
        let body = json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": context.request_id,
            "correlation_id": correlation_id,
            "error_uri": format!("{base_url}/error?code={}", self.code),
        });
        (self.status, Json(body)).into_response()
    }
}

impl IntoResponse for AadError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}
