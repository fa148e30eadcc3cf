//! The token endpoint: success and each documented refusal.

use graph_sim::Config;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

fn form_with(key: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut form: Vec<_> = token_form()
        .into_iter()
        .filter(|(k, _)| *k != key)
        .collect();
    form.push((key, value));
    form
}

fn form_without(key: &str) -> Vec<(&'static str, &'static str)> {
    token_form()
        .into_iter()
        .filter(|(k, _)| *k != key)
        .collect()
}

#[tokio::test]
async fn client_credentials_give_a_bearer_token_graph_accepts() {
    let sim = start(Config::default()).await;
    let http = client();
    let response = http
        .post(token_url(&sim.base_url()))
        .form(&token_form())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    let token = body["access_token"].as_str().unwrap();
    assert!(token.len() >= 32, "{token}");
    let users = http
        .get(format!("{}/v1.0/users", sim.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_secret_may_come_by_http_basic_and_the_tenant_by_domain() {
    let sim = start(Config {
        token_lifetime_seconds: 600,
        ..Config::default()
    })
    .await;
    let url = format!("{}/contoso.example/oauth2/v2.0/token", sim.base_url());
    let response = client()
        .post(url)
        .basic_auth(CLIENT_ID, Some(SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", GRAPH_SCOPE)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 600);
}

#[tokio::test]
async fn a_wrong_secret_is_aadsts7000215_and_echoes_the_correlation_id() {
    let sim = start(Config::default()).await;
    let response = client()
        .post(token_url(&sim.base_url()))
        .header("client-request-id", "5e1b1b5e-0000-4000-8000-00000000c0de")
        .form(&form_with("client_secret", "not-the-secret"))
        .send()
        .await
        .unwrap();
    let body = aad_error(
        response,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7000215,
    )
    .await;
    assert_eq!(
        body["correlation_id"],
        "5e1b1b5e-0000-4000-8000-00000000c0de"
    );
    assert!(
        body["trace_id"].as_str().is_some_and(|t| t.len() == 36),
        "{body}"
    );
    assert!(
        body["timestamp"].is_string() && body["error_uri"].is_string(),
        "{body}"
    );
}

#[tokio::test]
async fn an_unknown_tenant_is_aadsts90002_whether_named_by_id_or_domain() {
    let sim = start(Config::default()).await;
    for tenant in ["99999999-2222-3333-4444-555555555555", "fabrikam.example"] {
        let url = format!("{}/{tenant}/oauth2/v2.0/token", sim.base_url());
        let response = client().post(url).form(&token_form()).send().await.unwrap();
        aad_error(response, StatusCode::BAD_REQUEST, "invalid_tenant", 90002).await;
    }
}

#[tokio::test]
async fn a_malformed_tenant_is_aadsts900023() {
    let sim = start(Config::default()).await;
    let url = format!("{}/not_a_tenant/oauth2/v2.0/token", sim.base_url());
    let response = client().post(url).form(&token_form()).send().await.unwrap();
    aad_error(response, StatusCode::BAD_REQUEST, "invalid_request", 900023).await;
}

#[tokio::test]
async fn an_unknown_client_is_aadsts700016() {
    let sim = start(Config::default()).await;
    let form = form_with("client_id", "00000000-0000-0000-0000-0000000000ff");
    let response = client()
        .post(token_url(&sim.base_url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    aad_error(
        response,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700016,
    )
    .await;
}

#[tokio::test]
async fn no_secret_is_aadsts7000218() {
    let sim = start(Config::default()).await;
    let form = form_without("client_secret");
    let response = client()
        .post(token_url(&sim.base_url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    aad_error(
        response,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7000218,
    )
    .await;
}

#[tokio::test]
async fn a_scope_other_than_graph_default_is_aadsts70011() {
    let sim = start(Config::default()).await;
    for scope in [
        "https://graph.microsoft.com/User.Read.All",
        "https://graph.microsoft.com/.default openid",
    ] {
        let mut form = form_without("scope");
        form.push(("scope", scope));
        let response = client()
            .post(token_url(&sim.base_url()))
            .form(&form)
            .send()
            .await
            .unwrap();
        aad_error(response, StatusCode::BAD_REQUEST, "invalid_scope", 70011).await;
    }
}

#[tokio::test]
async fn other_grant_types_are_unsupported() {
    let sim = start(Config::default()).await;
    let form = form_with("grant_type", "password");
    let response = client()
        .post(token_url(&sim.base_url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    aad_error(
        response,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
        70003,
    )
    .await;
}

#[tokio::test]
async fn a_missing_grant_type_is_aadsts900144() {
    let sim = start(Config::default()).await;
    let form = form_without("grant_type");
    let response = client()
        .post(token_url(&sim.base_url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    aad_error(response, StatusCode::BAD_REQUEST, "invalid_request", 900144).await;
}
