//! The identity platform's v2.0 token endpoint, client-credentials grant with a client secret.
//!
//! The checks run in the order the real endpoint reports them: tenant, grant type, client,
//! credentials, scope.

mod error;
mod tokens;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, header};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tracing::{debug, info};

pub use error::AadError;
pub use tokens::{TokenState, TokenStore};

use crate::config::ClientCredential;
use crate::ids::is_guid;
use crate::sim::Sim;

/// Scopes naming Microsoft Graph's application permissions, by URI or by Graph's app id.
const GRAPH_DEFAULT_SCOPES: &[&str] = &[
    "https://graph.microsoft.com/.default",
    "00000003-0000-0000-c000-000000000000/.default",
];

/// The token endpoint.
pub fn routes() -> Router<Arc<Sim>> {
    Router::new().route("/{tenant}/oauth2/v2.0/token", post(token))
}

/// The client's claim to an identity, from the form or from HTTP Basic.
struct ClientAuth {
    client_id: String,
    secret: Option<String>,
    has_assertion: bool,
}

async fn token(
    State(sim): State<Arc<Sim>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Result<Json<Value>, AadError> {
    check_tenant(&sim, &tenant)?;
    // A body that is not a form carries none of the required parameters.
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let grant = form
        .get("grant_type")
        .ok_or_else(|| AadError::missing_parameter("grant_type"))?;
    if grant != "client_credentials" {
        return Err(AadError::unsupported_grant(grant));
    }
    let auth = client_auth(&form, &headers)?;
    let client = authenticate(&sim, &auth)?;
    check_scope(form.get("scope"))?;
    let lifetime = sim.token_lifetime;
    let access_token = sim.tokens().issue(lifetime);
    info!(client_id = %client.client_id, "access token issued");
    Ok(Json(json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": access_token,
    })))
}

fn check_tenant(sim: &Sim, tenant: &str) -> Result<(), AadError> {
    let known = tenant.eq_ignore_ascii_case(&sim.tenant_id)
        || sim
            .verified_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(tenant));
    if known {
        return Ok(());
    }
    let dns_name = tenant.contains('.')
        && tenant.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if is_guid(tenant) || dns_name {
        Err(AadError::unknown_tenant(tenant))
    } else {
        Err(AadError::malformed_tenant(tenant))
    }
}

fn client_auth(
    form: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<ClientAuth, AadError> {
    let basic = basic_credentials(headers);
    let client_id = form
        .get("client_id")
        .cloned()
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
        .ok_or_else(|| AadError::missing_parameter("client_id"))?;
    let secret = form
        .get("client_secret")
        .cloned()
        .or_else(|| basic.map(|(_, secret)| secret));
    let has_assertion = form.contains_key("client_assertion");
    Ok(ClientAuth {
        client_id,
        secret,
        has_assertion,
    })
}

/// `Authorization: Basic base64(client_id:client_secret)`, as RFC 6749 allows.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

fn authenticate<'a>(sim: &'a Sim, auth: &ClientAuth) -> Result<&'a ClientCredential, AadError> {
    let client = sim
        .clients
        .iter()
        .find(|c| c.client_id.eq_ignore_ascii_case(&auth.client_id))
        .ok_or_else(|| AadError::unknown_client(&auth.client_id))?;
    let refusal = match (&auth.secret, auth.has_assertion) {
        (Some(secret), _) if *secret == client.client_secret => return Ok(client),
        (Some(_), _) => AadError::wrong_secret(&client.client_id),
        // Certificates are not registered in this simulator yet, so no assertion can match.
        (None, true) => AadError::unregistered_certificate(&client.client_id),
        (None, false) => AadError::no_credentials(),
    };
    debug!(client_id = %client.client_id, code = refusal.code(), "client authentication refused");
    Err(refusal)
}

fn check_scope(scope: Option<&String>) -> Result<(), AadError> {
    let scope = scope.ok_or_else(|| AadError::missing_parameter("scope"))?;
    let mut scopes = scope.split_whitespace();
    match (scopes.next(), scopes.next()) {
        (Some(only), None)
            if GRAPH_DEFAULT_SCOPES
                .iter()
                .any(|s| s.eq_ignore_ascii_case(only)) =>
        {
            Ok(())
        }
        _ => Err(AadError::invalid_scope(scope)),
    }
}
