//! Certificate and federated client assertions, expired secrets and the discovery document.

use aws_lc_rs::digest::{self, SHA1_FOR_LEGACY_USE_ONLY, SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use graph_sim::{ClientCredential, Config, FederatedCredential, FederatedIssuer, Handle};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{CertificateParams, KeyPair, PKCS_RSA_SHA256};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

const CERT_CLIENT: &str = "00000000-0000-0000-0000-0000000000c2";
const WORKLOAD_CLIENT: &str = "00000000-0000-0000-0000-0000000000c3";
const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const SUBJECT: &str = "system:serviceaccount:m365-operator:m365-operator";
const EXCHANGE: &str = "api://AzureADTokenExchange";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An RSA key with a self-signed certificate.
struct Signer {
    key: EncodingKey,
    certificate_pem: String,
    public_key_pem: String,
    x5t: String,
    x5t_s256: String,
}

impl Signer {
    fn new() -> Self {
        let key = KeyPair::generate_for(&PKCS_RSA_SHA256).unwrap();
        let certificate = CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let thumbprint = |algorithm| {
            URL_SAFE_NO_PAD.encode(digest::digest(algorithm, certificate.der().as_ref()))
        };
        Self {
            key: EncodingKey::from_rsa_pem(key.serialize_pem().as_bytes()).unwrap(),
            certificate_pem: certificate.pem(),
            public_key_pem: key.public_key_pem(),
            x5t: thumbprint(&SHA1_FOR_LEGACY_USE_ONLY),
            x5t_s256: thumbprint(&SHA256),
        }
    }

    /// A JWT over `claims`, naming this certificate as `style` says.
    fn sign(&self, alg: Algorithm, style: Thumbprint, claims: &Value) -> String {
        let mut header = Header::new(alg);
        match style {
            Thumbprint::Sha1 => header.x5t = Some(self.x5t.clone()),
            Thumbprint::Sha256 => header.x5t_s256 = Some(self.x5t_s256.clone()),
            Thumbprint::None => {}
        }
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

#[derive(Clone, Copy)]
enum Thumbprint {
    Sha1,
    Sha256,
    None,
}

struct Tenant {
    sim: Handle,
    certificate: Signer,
    issuer: Signer,
}

async fn tenant() -> Tenant {
    let certificate = Signer::new();
    let issuer = Signer::new();
    let config = Config {
        clients: vec![
            ClientCredential {
                client_id: CLIENT_ID.into(),
                client_secret: SECRET.into(),
                ..ClientCredential::default()
            },
            ClientCredential {
                client_id: CERT_CLIENT.into(),
                certificates: vec![certificate.certificate_pem.clone()],
                ..ClientCredential::default()
            },
            ClientCredential {
                client_id: WORKLOAD_CLIENT.into(),
                federated_credentials: vec![FederatedCredential {
                    issuer: ISSUER.into(),
                    subject: SUBJECT.into(),
                    audiences: vec![EXCHANGE.into()],
                }],
                ..ClientCredential::default()
            },
        ],
        federated_issuers: vec![FederatedIssuer {
            issuer: ISSUER.into(),
            public_keys: vec![issuer.public_key_pem.clone()],
        }],
        ..Config::default()
    };
    Tenant {
        sim: start(config).await,
        certificate,
        issuer,
    }
}

fn now() -> i64 {
    Utc::now().timestamp()
}

fn certificate_claims(sim: &Handle) -> Value {
    json!({
        "aud": token_url(&sim.base_url()),
        "iss": CERT_CLIENT,
        "sub": CERT_CLIENT,
        "jti": format!("jti-{}", rand_suffix()),
        "nbf": now(),
        "iat": now(),
        "exp": now() + 600,
    })
}

fn federated_claims() -> Value {
    json!({
        "aud": [EXCHANGE],
        "iss": ISSUER,
        "sub": SUBJECT,
        "nbf": now(),
        "exp": now() + 3600,
    })
}

fn rand_suffix() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn redeem(sim: &Handle, client_id: &str, assertion: &str) -> Response {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
        ("scope", GRAPH_SCOPE),
    ];
    client()
        .post(token_url(&sim.base_url()))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn token_works(sim: &Handle, response: Response) {
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let users = client()
        .get(format!("{}/v1.0/users", sim.base_url()))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_certificate_assertion_works_with_ps256_and_rs256() {
    let t = tenant().await;
    let pss = t.certificate.sign(
        Algorithm::PS256,
        Thumbprint::Sha256,
        &certificate_claims(&t.sim),
    );
    token_works(&t.sim, redeem(&t.sim, CERT_CLIENT, &pss).await).await;
    let pkcs1 = t.certificate.sign(
        Algorithm::RS256,
        Thumbprint::Sha1,
        &certificate_claims(&t.sim),
    );
    token_works(&t.sim, redeem(&t.sim, CERT_CLIENT, &pkcs1).await).await;
}

#[tokio::test]
async fn an_unregistered_certificate_or_a_forged_signature_is_aadsts700027() {
    let t = tenant().await;
    let stranger = Signer::new();
    let claims = certificate_claims(&t.sim);
    let unknown = stranger.sign(Algorithm::PS256, Thumbprint::Sha256, &claims);
    let body = aad_error(
        redeem(&t.sim, CERT_CLIENT, &unknown).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700027,
    )
    .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("key was not found")
    );

    // The registered thumbprint, but signed by another key.
    let mut header = Header::new(Algorithm::RS256);
    header.x5t = Some(t.certificate.x5t.clone());
    let forged = jsonwebtoken::encode(&header, &certificate_claims(&t.sim), &stranger.key).unwrap();
    aad_error(
        redeem(&t.sim, CERT_CLIENT, &forged).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700027,
    )
    .await;
}

#[tokio::test]
async fn an_expired_or_premature_assertion_is_aadsts700024() {
    let t = tenant().await;
    let mut expired = certificate_claims(&t.sim);
    expired["nbf"] = json!(now() - 900);
    expired["exp"] = json!(now() - 300);
    let assertion = t
        .certificate
        .sign(Algorithm::PS256, Thumbprint::Sha256, &expired);
    aad_error(
        redeem(&t.sim, CERT_CLIENT, &assertion).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700024,
    )
    .await;
    let mut premature = certificate_claims(&t.sim);
    premature["nbf"] = json!(now() + 3600);
    premature["exp"] = json!(now() + 4000);
    let assertion = t
        .certificate
        .sign(Algorithm::PS256, Thumbprint::Sha256, &premature);
    aad_error(
        redeem(&t.sim, CERT_CLIENT, &assertion).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700024,
    )
    .await;
}

#[tokio::test]
async fn audience_subject_and_replays_are_checked() {
    let t = tenant().await;
    let mut wrong_audience = certificate_claims(&t.sim);
    wrong_audience["aud"] = json!("https://login.microsoftonline.com/other/oauth2/v2.0/token");
    let assertion = t
        .certificate
        .sign(Algorithm::PS256, Thumbprint::Sha256, &wrong_audience);
    aad_error(
        redeem(&t.sim, CERT_CLIENT, &assertion).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        50027,
    )
    .await;

    let mut other_subject = certificate_claims(&t.sim);
    other_subject["sub"] = json!(CLIENT_ID);
    let assertion = t
        .certificate
        .sign(Algorithm::PS256, Thumbprint::Sha256, &other_subject);
    aad_error(
        redeem(&t.sim, CERT_CLIENT, &assertion).await,
        StatusCode::BAD_REQUEST,
        "invalid_client",
        700021,
    )
    .await;

    let once = t.certificate.sign(
        Algorithm::PS256,
        Thumbprint::Sha256,
        &certificate_claims(&t.sim),
    );
    assert_eq!(
        redeem(&t.sim, CERT_CLIENT, &once).await.status(),
        StatusCode::OK
    );
    let replay = aad_error(
        redeem(&t.sim, CERT_CLIENT, &once).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        50027,
    )
    .await;
    assert!(
        replay["error_description"]
            .as_str()
            .unwrap()
            .contains("jti")
    );
}

#[tokio::test]
async fn a_federated_token_from_the_registered_issuer_and_subject_gets_a_token() {
    let t = tenant().await;
    let token = t
        .issuer
        .sign(Algorithm::RS256, Thumbprint::None, &federated_claims());
    token_works(&t.sim, redeem(&t.sim, WORKLOAD_CLIENT, &token).await).await;
    // The projected token is re-read and may be presented again while it lives.
    token_works(&t.sim, redeem(&t.sim, WORKLOAD_CLIENT, &token).await).await;
}

#[tokio::test]
async fn federated_mismatches_have_their_own_codes() {
    let t = tenant().await;
    let cases = [
        ("iss", json!("https://other-issuer.example"), 700211),
        ("sub", json!("system:serviceaccount:other:sa"), 700213),
        ("aud", json!(["api://something-else"]), 700212),
    ];
    for (claim, value, code) in cases {
        let mut claims = federated_claims();
        claims[claim] = value;
        let token = t.issuer.sign(Algorithm::RS256, Thumbprint::None, &claims);
        aad_error(
            redeem(&t.sim, WORKLOAD_CLIENT, &token).await,
            StatusCode::BAD_REQUEST,
            "invalid_client",
            code,
        )
        .await;
    }
    let forged = Signer::new().sign(Algorithm::RS256, Thumbprint::None, &federated_claims());
    aad_error(
        redeem(&t.sim, WORKLOAD_CLIENT, &forged).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700027,
    )
    .await;
    let mut expired = federated_claims();
    expired["exp"] = json!(now() - 1);
    let token = t.issuer.sign(Algorithm::RS256, Thumbprint::None, &expired);
    aad_error(
        redeem(&t.sim, WORKLOAD_CLIENT, &token).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700024,
    )
    .await;
}

#[tokio::test]
async fn an_expired_client_secret_is_aadsts7000222() {
    let config = Config {
        clients: vec![ClientCredential {
            client_id: CLIENT_ID.into(),
            client_secret: SECRET.into(),
            client_secret_expires_at: Some(Utc::now() - Duration::days(1)),
            ..ClientCredential::default()
        }],
        ..Config::default()
    };
    let sim = start(config).await;
    let response = client()
        .post(token_url(&sim.base_url()))
        .form(&token_form())
        .send()
        .await
        .unwrap();
    aad_error(
        response,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7000222,
    )
    .await;
    let wrong = client()
        .post(token_url(&sim.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", "not-it"),
            ("scope", GRAPH_SCOPE),
        ])
        .send()
        .await
        .unwrap();
    aad_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client", 7000215).await;
}

#[tokio::test]
async fn the_discovery_document_names_the_token_endpoint() {
    let sim = start(Config::default()).await;
    let base = sim.base_url();
    let url = format!("{base}/contoso.example/v2.0/.well-known/openid-configuration");
    let document: Value = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        document["token_endpoint"],
        format!("{base}/contoso.example/oauth2/v2.0/token")
    );
    assert_eq!(document["issuer"], format!("{base}/{TENANT}/v2.0"));
    let unknown = format!("{base}/fabrikam.example/v2.0/.well-known/openid-configuration");
    let response = client().get(unknown).send().await.unwrap();
    aad_error(response, StatusCode::BAD_REQUEST, "invalid_tenant", 90002).await;
}
