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

    /// AADSTS7000222: the client secret matches, but it has expired.
    pub fn expired_secret(client_id: &str) -> Self {
        let text = format!(
            "The provided client secret keys for app '{client_id}' are expired. Create new keys \
             for the app, or use certificate credentials."
        );
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", 7000222, text)
    }

    /// AADSTS700027: the key that signed the assertion is unknown or does not verify it.
    pub fn invalid_assertion_signature(reason: &str, thumbprint: &str) -> Self {
        let text = format!(
            "Client assertion contains an invalid signature. [Reason - {reason}, Thumbprint of \
             key used by client: '{thumbprint}']"
        );
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", 700027, text)
    }

    /// AADSTS700024: the assertion is expired, or not valid yet beyond the allowed skew.
    pub fn assertion_out_of_time(now: i64, nbf: Option<i64>, exp: i64) -> Self {
        let text = format!(
            "Client assertion is not within its valid time range. Current time: {}, assertion \
             valid from {}, expiry time of assertion {}.",
            clock::from_epoch(now),
            clock::from_epoch(nbf.unwrap_or(0)),
            clock::from_epoch(exp),
        );
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", 700024, text)
    }

    /// AADSTS700021: the assertion's `iss` or `sub` is not the client id of the request.
    pub fn assertion_client_mismatch() -> Self {
        let text = "Client assertion application identifier doesn't match 'client_id' parameter."
            .to_string();
        Self::new(StatusCode::BAD_REQUEST, "invalid_client", 700021, text)
    }

    /// AADSTS50027: the assertion is not a well-formed, fresh client assertion.
    pub fn malformed_assertion(reason: &str) -> Self {
        let text = format!("JWT token is invalid or malformed. {reason}");
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", 50027, text)
    }

    /// AADSTS700211: no federated credential of the app names the assertion's issuer.
    pub fn federated_issuer_mismatch(issuer: &str) -> Self {
        Self::federated(700211, "issuer", issuer)
    }

    /// AADSTS700212: the federated credentials of the issuer and subject accept none of the
    /// assertion's audiences.
    pub fn federated_audience_mismatch(audience: &str) -> Self {
        Self::federated(700212, "audience", audience)
    }

    /// AADSTS700213: no federated credential of the issuer names the assertion's subject.
    pub fn federated_subject_mismatch(subject: &str) -> Self {
        Self::federated(700213, "subject", subject)
    }

    fn federated(code: u32, claim: &str, value: &str) -> Self {
        let text = format!(
            "No matching federated identity record found for presented assertion {claim} \
             '{value}'. Check the Subject, Audience and Issuer of the app's federated identity \
             credentials against the presented assertion."
        );
        Self::new(StatusCode::BAD_REQUEST, "invalid_client", code, text)
    }

    /// AADSTS900144 for a `client_assertion_type` other than the JWT bearer type.
    pub fn wrong_assertion_type() -> Self {
        let text = "The 'client_assertion_type' must be \
                    'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'."
            .to_string();
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", 900144, text)
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
