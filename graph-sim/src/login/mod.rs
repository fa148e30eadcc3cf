//! The identity platform's v2.0 token endpoint (client-credentials grant with a client
//! secret, a certificate assertion or a federated assertion) and its discovery document.
//!
//! The checks run in the order the real endpoint reports them: tenant, grant type, client,
//! credentials, scope.

mod assertion;
mod credentials;
mod error;
mod tokens;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use serde_json::{Value, json};
use tracing::{debug, info};

pub use credentials::Credentials;
pub use error::AadError;
pub use tokens::{TokenState, TokenStore};

use crate::clock;
use crate::config::ClientCredential;
use crate::http::context::BaseUrl;
use crate::ids::is_guid;
use crate::sim::Sim;

/// Scopes naming Microsoft Graph's application permissions, by URI or by Graph's app id.
const GRAPH_DEFAULT_SCOPES: &[&str] = &[
    "https://graph.microsoft.com/.default",
    "00000003-0000-0000-c000-000000000000/.default",
];

/// The only client assertion type the endpoint knows.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The token endpoint and the discovery document.
pub fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration),
        )
}

/// The client's claim to an identity, from the form or from HTTP Basic.
struct ClientAuth {
    client_id: String,
    secret: Option<String>,
    assertion: Option<String>,
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
    let client = authenticate(&sim, &auth, &tenant)?;
    check_scope(form.get("scope"))?;
    let lifetime = sim.token_lifetime;
    let access_token = sim.tokens().issue(&client.client_id, lifetime);
    info!(client_id = %client.client_id, "access token issued");
    Ok(Json(json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": access_token,
    })))
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`, which MSAL reads to find the
/// token endpoint of an authority.
async fn openid_configuration(
    State(sim): State<Arc<Sim>>,
    Path(tenant): Path<String>,
    BaseUrl(base): BaseUrl,
) -> Result<Json<Value>, AadError> {
    check_tenant(&sim, &tenant)?;
    let endpoint = |path: &str| format!("{base}/{tenant}/{path}");
    Ok(Json(json!({
        "issuer": format!("{base}/{}/v2.0", sim.tenant_id),
        "token_endpoint": endpoint("oauth2/v2.0/token"),
        "authorization_endpoint": endpoint("oauth2/v2.0/authorize"),
        "device_authorization_endpoint": endpoint("oauth2/v2.0/devicecode"),
        "jwks_uri": endpoint("discovery/v2.0/keys"),
        "token_endpoint_auth_methods_supported":
            ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "tenant_region_scope": null,
        "cloud_instance_name": "graph-sim",
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
    let assertion = form.get("client_assertion").cloned();
    if assertion.is_some() {
        match form.get("client_assertion_type") {
            None => return Err(AadError::missing_parameter("client_assertion_type")),
            Some(kind) if kind != JWT_BEARER => return Err(AadError::wrong_assertion_type()),
            Some(_) => {}
        }
    }
    Ok(ClientAuth {
        client_id,
        secret,
        assertion,
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

fn authenticate<'a>(
    sim: &'a Sim,
    auth: &ClientAuth,
    tenant: &str,
) -> Result<&'a ClientCredential, AadError> {
    let client = sim
        .client(&auth.client_id)
        .ok_or_else(|| AadError::unknown_client(&auth.client_id))?;
    let outcome = match (&auth.secret, &auth.assertion) {
        (Some(secret), _) => check_secret(client, secret),
        (None, Some(assertion)) => {
            let token_urls = token_urls(sim, tenant);
            let expected = assertion::Expected {
                token_urls: &token_urls,
                now: clock::epoch_now(),
            };
            assertion::verify(&sim.credentials, client, assertion, &expected)
        }
        (None, None) => Err(AadError::no_credentials()),
    };
    outcome.map(|()| client).inspect_err(|refusal| {
        debug!(client_id = %client.client_id, code = refusal.code(), "client authentication refused");
    })
}

fn check_secret(client: &ClientCredential, secret: &str) -> Result<(), AadError> {
    if client.client_secret.is_empty() || secret != client.client_secret {
        return Err(AadError::wrong_secret(&client.client_id));
    }
    match client.client_secret_expires_at {
        Some(expiry) if expiry <= Utc::now() => Err(AadError::expired_secret(&client.client_id)),
        _ => Ok(()),
    }
}

/// The token URLs a certificate assertion may name as its audience: this tenant's endpoint
/// by any of its names, over HTTP or HTTPS.
fn token_urls(sim: &Sim, tenant: &str) -> Vec<String> {
    let names = std::iter::once(tenant)
        .chain(std::iter::once(sim.tenant_id.as_str()))
        .chain(sim.verified_domains.iter().map(String::as_str));
    names
        .flat_map(|name| {
            [&sim.base_url, &sim.tls_base_url]
                .map(|base| format!("{base}/{name}/oauth2/v2.0/token"))
        })
        .collect()
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
