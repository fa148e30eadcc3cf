//! App-only access tokens from the Microsoft identity platform (client-credentials grant),
//! cached until shortly before they expire.

use std::fmt;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;

use super::assertion::{ClientCertificate, FederatedTokenFile, JWT_BEARER};
use super::error::{Category, GraphError, categorize_token};

/// The operation name of token requests, in errors and logs.
pub const OPERATION: &str = "get token";

/// Scope that asks for every application permission the app was granted on Graph.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Tokens are renewed this long before they expire, so a request never leaves with a token
/// that dies in flight.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// A credential that never prints itself.
#[derive(Clone)]
pub struct Sensitive(String);

impl Sensitive {
    pub fn new(value: impl Into<String>) -> Self {
        Sensitive(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sensitive(redacted)")
    }
}

/// How the operator proves it is the app registration.
#[derive(Clone, Debug)]
pub enum Credential {
    ClientSecret {
        client_id: String,
        secret: Sensitive,
    },
    Certificate {
        client_id: String,
        certificate: ClientCertificate,
    },
    Federated {
        client_id: String,
        token_file: FederatedTokenFile,
    },
}

/// Obtains and caches tokens for one tenant.
#[derive(Debug)]
pub struct TokenSource {
    token_url: String,
    credential: Credential,
    cached: Mutex<Option<CachedToken>>,
}

#[derive(Debug)]
struct CachedToken {
    value: Sensitive,
    renew_at: Instant,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize, Default)]
struct TokenErrorAnswer {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u32>,
}

impl TokenSource {
    /// `login` is the authority host, e.g. `https://login.microsoftonline.com`.
    pub fn new(login: &str, tenant_id: &str, credential: Credential) -> Self {
        let token_url = format!(
            "{}/{}/oauth2/v2.0/token",
            login.trim_end_matches('/'),
            tenant_id
        );
        TokenSource {
            token_url,
            credential,
            cached: Mutex::new(None),
        }
    }

    /// A token valid for at least a few more minutes.
    pub async fn token(&self, http: &reqwest::Client) -> Result<Sensitive, GraphError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(token.value.clone());
        }
        let fresh = self.request(http).await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Forgets the cached token, after Graph refused it.
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn request(&self, http: &reqwest::Client) -> Result<CachedToken, GraphError> {
        let mut form = vec![("grant_type", "client_credentials".to_string())];
        form.push(("scope", GRAPH_SCOPE.to_string()));
        form.extend(self.proof()?);
        let started = Instant::now();
        let response = http
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| GraphError::unreachable(OPERATION, &e))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| GraphError::unreachable(OPERATION, &e))?;
        if status == 200 {
            let answer: TokenAnswer =
                serde_json::from_slice(&body).map_err(|_| malformed(status))?;
            let lifetime = Duration::from_secs(answer.expires_in);
            let renew_at = started + lifetime.saturating_sub(RENEW_BEFORE).max(lifetime / 2);
            return Ok(CachedToken {
                value: Sensitive(answer.access_token),
                renew_at,
            });
        }
        Err(token_error(status, &body))
    }

    /// The form fields that prove who we are, made fresh for every request.
    fn proof(&self) -> Result<Vec<(&'static str, String)>, GraphError> {
        let (client_id, proof) = match &self.credential {
            Credential::ClientSecret { client_id, secret } => {
                (client_id, ("client_secret", secret.expose().to_string()))
            }
            Credential::Certificate {
                client_id,
                certificate,
            } => {
                let assertion = certificate
                    .assertion(client_id, &self.token_url)
                    .map_err(|e| local_failure(format!("signing the client assertion: {e}")))?;
                (client_id, ("client_assertion", assertion))
            }
            Credential::Federated {
                client_id,
                token_file,
            } => {
                let token = token_file.read().map_err(|e| {
                    local_failure(format!("reading {}: {e}", token_file.0.display()))
                })?;
                (client_id, ("client_assertion", token))
            }
        };
        let mut fields = vec![("client_id", client_id.clone()), proof];
        if fields[1].0 == "client_assertion" {
            fields.push(("client_assertion_type", JWT_BEARER.to_string()));
        }
        Ok(fields)
    }
}

/// A failure on our side before anything was sent; retried, since a file being rotated or a
/// momentary error may well pass.
fn local_failure(message: String) -> GraphError {
    GraphError {
        category: Category::Unavailable,
        operation: OPERATION,
        status: None,
        code: "CredentialUnavailable".into(),
        message,
        details: Vec::new(),
        retry_after: None,
    }
}

fn token_error(status: u16, body: &[u8]) -> GraphError {
    let answer: TokenErrorAnswer = serde_json::from_slice(body).unwrap_or_default();
    let aadsts = answer.error_codes.first().copied();
    // The description's first line holds the reason; the rest is trace and timestamp noise.
    let message = answer
        .error_description
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    GraphError {
        category: categorize_token(status, aadsts),
        operation: OPERATION,
        status: Some(status),
        code: aadsts.map(|c| format!("AADSTS{c}")).unwrap_or(answer.error),
        message,
        details: Vec::new(),
        retry_after: None,
    }
}

fn malformed(status: u16) -> GraphError {
    GraphError {
        category: Category::Unavailable,
        operation: OPERATION,
        status: Some(status),
        code: "MalformedAnswer".into(),
        message: "the token service answered with a body that is not a token".into(),
        details: Vec::new(),
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_errors_keep_the_aadsts_code_and_first_line() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x","error_codes":[7000215]}"#;
        let err = token_error(401, body);
        assert_eq!(err.code, "AADSTS7000215");
        assert_eq!(
            err.message,
            "AADSTS7000215: Invalid client secret provided."
        );
        assert_eq!(err.category, Category::Unauthenticated);
    }

    #[test]
    fn credentials_never_print() {
        let c = Credential::ClientSecret {
            client_id: "app".into(),
            secret: Sensitive::new("s3cr3t"),
        };
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
