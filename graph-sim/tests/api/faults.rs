//! Replication lag and answers held back after the commit.

use std::collections::BTreeMap;
use std::time::Duration;

use graph_sim::{Config, Faults};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn a_new_user_is_hidden_until_replication_catches_up() {
    let env = env_with(Config {
        replication_lag_ms: 1500,
        ..Config::default()
    })
    .await;
    let mut body = new_user("fresh@contoso.example");
    body["usageLocation"] = json!("DE");
    let id = env.create_user(&body).await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let read = env.get(&format!("/users/{id}")).await;
    graph_error(read, StatusCode::NOT_FOUND, "Request_ResourceNotFound").await;
    let listed: Value = env
        .get("/users?$filter=userPrincipalName eq 'fresh@contoso.example'")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["value"], json!([]));
    graph_error(
        env.assign(&id, E3).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    )
    .await;
    let again = env.post("/users", &new_user("fresh@contoso.example")).await;
    let error = graph_error(again, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
    assert_eq!(error["details"][0]["code"], "ObjectConflict");

    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(
        env.get(&format!("/users/{id}")).await.status(),
        StatusCode::OK
    );
    assert_eq!(env.assign(&id, E3).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_replication_lag_fault_overrides_the_configuration() {
    let env = env().await;
    env.sim.set_faults(Faults {
        replication_lag_ms: Some(60_000),
        ..Faults::default()
    });
    let id = env.create_user(&new_user("lagging@contoso.example")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    graph_error(
        env.get(&format!("/users/{id}")).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    )
    .await;
    env.sim.set_faults(Faults::default());
    assert_eq!(
        env.get(&format!("/users/{id}")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_held_back_create_is_already_committed() {
    let env = env().await;
    let delays = BTreeMap::from([("POST /users".to_string(), 2_000)]);
    env.sim.set_faults(Faults {
        delay_after_commit_ms: delays,
        ..Faults::default()
    });

    let (http, url, token) = (env.http.clone(), env.graph("/users"), env.token.clone());
    let body = new_user("slow@contoso.example");
    let pending =
        tokio::spawn(async move { http.post(url).bearer_auth(token).json(&body).send().await });

    let mut waited = Duration::ZERO;
    while env.sim.users().is_empty() {
        assert!(
            waited < Duration::from_secs(1),
            "the user was not committed in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    assert_eq!(
        env.sim.users()[0]["userPrincipalName"],
        "slow@contoso.example"
    );
    assert!(
        !pending.is_finished(),
        "the answer should still be held back"
    );
    let logged = env.sim.requests();
    assert!(
        logged
            .iter()
            .any(|r| r["method"] == "POST" && r["path"] == "/v1.0/users" && r["status"] == 201)
    );

    let response = pending.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_client_that_times_out_and_retries_meets_its_own_user() {
    let env = env().await;
    let delays = BTreeMap::from([("POST /users".to_string(), 1_000)]);
    env.sim.set_faults(Faults {
        delay_after_commit_ms: delays,
        ..Faults::default()
    });
    let body = new_user("retry@contoso.example");
    let timed_out = env
        .http
        .post(env.graph("/users"))
        .bearer_auth(&env.token)
        .timeout(Duration::from_millis(200))
        .json(&body)
        .send()
        .await;
    assert!(timed_out.is_err_and(|e| e.is_timeout()));
    env.sim.set_faults(Faults::default());
    let retry = env.post("/users", &body).await;
    let error = graph_error(retry, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
    assert_eq!(error["details"][0]["code"], "ObjectConflict");
    assert_eq!(env.sim.users().len(), 1);
}

fn random(faults: Faults) -> Config {
    Config {
        faults,
        ..Config::default()
    }
}

#[tokio::test]
async fn server_errors_fail_graph_calls_without_effect_but_spare_the_token_endpoint() {
    let env = env_with(random(Faults {
        server_error_rate: 1.0,
        ..Faults::default()
    }))
    .await;
    let response = env.post("/users", &new_user("never@contoso.example")).await;
    assert!(
        [500, 503, 504].contains(&response.status().as_u16()),
        "{}",
        response.status()
    );
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "{body}");
    assert!(env.sim.users().is_empty());
}

#[tokio::test]
async fn a_seed_repeats_the_same_faults() {
    let env = env().await;
    let faults = json!({"throttleRate": 0.5, "seed": 42, "retryAfterSeconds": 0.25});
    let url = format!("{}/_sim/faults", env.sim.base_url());
    let mut runs = Vec::new();
    for _ in 0..2 {
        let set = env.http.put(&url).json(&faults).send().await.unwrap();
        assert_eq!(set.status(), StatusCode::OK);
        let mut statuses = Vec::new();
        for _ in 0..20 {
            let response = env.get("/users/nobody@contoso.example").await;
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(response.headers()["retry-after"], "0.25");
            }
            statuses.push(response.status().as_u16());
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(
        runs[0].contains(&429) && runs[0].contains(&404),
        "{:?}",
        runs[0]
    );
    let bad = env
        .http
        .put(&url)
        .json(&json!({"serverErrorRate": 2.0}))
        .send()
        .await
        .unwrap();
    graph_error(bad, StatusCode::BAD_REQUEST, "BadRequest").await;
}

#[tokio::test]
async fn a_timeout_commits_then_holds_the_answer_until_the_client_gives_up() {
    let env = env_with(random(Faults {
        timeout_rate: 1.0,
        ..Faults::default()
    }))
    .await;
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let result = impatient
        .post(env.graph("/users"))
        .bearer_auth(&env.token)
        .json(&new_user("committed@contoso.example"))
        .send()
        .await;
    assert!(result.unwrap_err().is_timeout());
    assert_eq!(env.sim.users().len(), 1, "the create went through");

    let (http, url, token) = (env.http.clone(), env.graph("/users"), env.token.clone());
    let held = tokio::spawn(async move { http.get(url).bearer_auth(token).send().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopped = tokio::time::timeout(Duration::from_secs(5), env.sim.shutdown()).await;
    assert!(stopped.is_ok(), "shutdown must not wait for held answers");
    held.abort();
}

#[tokio::test]
async fn latency_applies_only_where_only_says() {
    let env = env_with(random(Faults {
        latency_ms: 300,
        only: vec!["GET /subscribedSkus".into()],
        ..Faults::default()
    }))
    .await;
    let started = std::time::Instant::now();
    assert_eq!(env.get("/subscribedSkus").await.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = std::time::Instant::now();
    assert_eq!(env.get("/users").await.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_millis(300));
}
