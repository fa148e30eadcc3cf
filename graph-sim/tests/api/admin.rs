//! The `/_sim` control API and starting the simulator.

use graph_sim::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::support::*;

#[tokio::test]
async fn state_outbox_and_request_log_over_http() {
    let env = env().await;
    let base = env.sim.base_url();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let seeded = env
        .http
        .post(format!("{base}/_sim/users"))
        .json(
            &json!({"displayName": "Seed", "userPrincipalName": "seed@contoso.example",
                      "usageLocation": "DE", "assignedLicenses": [{"skuId": E5}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(seeded.status(), StatusCode::CREATED);
    let seeded: Value = seeded.json().await.unwrap();
    assert_eq!(seeded["assignedLicenses"][0]["skuId"], E5);

    let state: Value = env
        .http
        .get(format!("{base}/_sim/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["users"].as_array().unwrap().len(), 1);
    let e5 = state["skus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["skuId"] == E5)
        .unwrap();
    assert_eq!(
        (e5["enabled"].as_u64(), e5["consumedUnits"].as_u64()),
        (Some(5), Some(1))
    );

    let outbox: Value = env
        .http
        .get(format!("{base}/_sim/outbox"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(outbox, json!([]));
    assert_eq!(
        env.get("/users/seed@contoso.example").await.status(),
        StatusCode::OK
    );
    let log: Value = env
        .http
        .get(format!("{base}/_sim/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            format!("/{TENANT}/oauth2/v2.0/token").as_str(),
            "/v1.0/users/seed@contoso.example"
        ]
    );
    assert_eq!(log[1]["method"], "GET");
    assert_eq!(log[1]["status"], 200);
    assert!(log[1]["at"].is_string());
}

#[tokio::test]
async fn seats_and_faults_over_http() {
    let env = env().await;
    let base = env.sim.base_url();
    let seats = env
        .http
        .put(format!("{base}/_sim/skus/enterprisepack"))
        .json(&json!({"enabled": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(seats.status(), StatusCode::OK);
    let id = env.create_located_user("seatless@contoso.example").await;
    graph_error(
        env.assign(&id, E3).await,
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
    )
    .await;
    let unknown = env
        .http
        .put(format!("{base}/_sim/skus/NOPE"))
        .json(&json!({"enabled": 1}))
        .send()
        .await
        .unwrap();
    graph_error(unknown, StatusCode::NOT_FOUND, "NotFound").await;

    let faults = json!({"replicationLagMs": 60000, "delayAfterCommitMs": {}});
    let set = env
        .http
        .put(format!("{base}/_sim/faults"))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let hidden = env.create_user(&new_user("hidden@contoso.example")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    graph_error(
        env.get(&format!("/users/{hidden}")).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    )
    .await;
    let bad = env
        .http
        .put(format!("{base}/_sim/faults"))
        .json(&json!({"replicationLagMs": "soon"}))
        .send()
        .await
        .unwrap();
    graph_error(bad, StatusCode::BAD_REQUEST, "BadRequest").await;
}

#[tokio::test]
async fn an_invalid_seed_user_stops_the_start() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Config {
        users: vec![json!({"displayName": "X", "userPrincipalName": "x@fabrikam.example"})],
        ..Config::default()
    };
    let error = graph_sim::serve(config, listener)
        .await
        .err()
        .expect("the seed must be refused");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    assert!(error.to_string().contains("domain portion"), "{error}");
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let sim = start(Config::default()).await;
    let base = sim.base_url();
    sim.shutdown().await;
    assert!(
        client()
            .get(format!("{base}/_sim/state"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn groups_are_seeded_and_shown_over_http() {
    let env = env_with(Config {
        users: vec![seed("ann@contoso.example")],
        ..Config::default()
    })
    .await;
    let base = env.sim.base_url();
    let created = env
        .http
        .post(format!("{base}/_sim/groups"))
        .json(&json!({"displayName": "Pilots", "members": ["ann@contoso.example"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["securityEnabled"], true);
    assert_eq!(
        created["members"],
        json!([id_of(&env.sim, "ann@contoso.example")])
    );
    let unknown_member = env
        .http
        .post(format!("{base}/_sim/groups"))
        .json(&json!({"displayName": "Ghosts", "members": ["ghost@contoso.example"]}))
        .send()
        .await
        .unwrap();
    graph_error(unknown_member, StatusCode::BAD_REQUEST, "BadRequest").await;
    let state: Value = env
        .http
        .get(format!("{base}/_sim/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["groups"][0]["displayName"], "Pilots");
    assert_eq!(state["deletedUsers"], json!([]));
    assert_eq!(env.sim.groups().len(), 1);
}

#[tokio::test]
async fn a_group_with_an_unknown_member_stops_the_start() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Config {
        groups: vec![
            serde_json::from_value(json!({"displayName": "G", "members": ["nobody"]})).unwrap(),
        ],
        ..Config::default()
    };
    let error = graph_sim::serve(config, listener).await.err().unwrap();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
}
