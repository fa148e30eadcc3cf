//! Graph refuses requests without a token this simulator issued and that is still valid.

use graph_sim::Config;
use reqwest::StatusCode;

use crate::support::*;

#[tokio::test]
async fn no_token_is_invalid_authentication_token_in_the_graph_envelope() {
    let env = env().await;
    let response = env
        .http
        .get(env.graph("/users"))
        .header("client-request-id", "c0ffee00-0000-4000-8000-000000000001")
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        response.headers()["client-request-id"],
        "c0ffee00-0000-4000-8000-000000000001"
    );
    let error = graph_error(
        response,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    )
    .await;
    assert_eq!(error["innerError"]["request-id"], request_id.as_str());
    assert_eq!(
        error["innerError"]["client-request-id"],
        "c0ffee00-0000-4000-8000-000000000001"
    );
    assert!(
        error["details"].is_array() && error["innerError"]["date"].is_string(),
        "{error}"
    );
}

#[tokio::test]
async fn a_token_not_issued_here_is_refused() {
    let env = env().await;
    let forged = format!("{}x", env.token);
    let response = env
        .http
        .get(env.graph("/users"))
        .bearer_auth(forged)
        .send()
        .await
        .unwrap();
    graph_error(
        response,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    )
    .await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let env = env_with(Config {
        token_lifetime_seconds: 0,
        ..Config::default()
    })
    .await;
    let response = env.get("/users").await;
    let error = graph_error(
        response,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("expired"),
        "{error}"
    );
}

#[tokio::test]
async fn the_token_is_checked_before_the_path() {
    let env = env().await;
    let response = env
        .http
        .get(env.graph("/no/such/thing"))
        .send()
        .await
        .unwrap();
    graph_error(
        response,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
    )
    .await;
    let with_token = env.get("/groupz").await;
    graph_error(with_token, StatusCode::BAD_REQUEST, "BadRequest").await;
}
