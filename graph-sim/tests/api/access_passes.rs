//! Temporary Access Passes: issuing within Graph's and the tenant policy's bounds, one per
//! user, the pass text shown once, permissions, replication lag and the control API.

use std::time::Duration;

use graph_sim::{ClientCredential, Config, TemporaryAccessPassPolicy};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

const UPN: &str = "newhire@contoso.example";
const READER: &str = "00000000-0000-0000-0000-0000000000d2";
const READER_SECRET: &str = "reader-secret";

fn passes(user: &str) -> String {
    format!("/users/{user}/authentication/temporaryAccessPassMethods")
}

fn tenant() -> Config {
    Config {
        users: vec![seed(UPN)],
        ..Config::default()
    }
}

/// Issues a pass that must be created and returns the `201` body.
async fn issue(env: &Env, user: &str, body: &Value) -> Value {
    let response = env.post(&passes(user), body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "create {body}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_pass_is_shown_once_and_replaces_the_one_before() {
    let env = env_with(tenant()).await;
    let id = id_of(&env.sim, UPN);
    let first = issue(
        &env,
        &id,
        &json!({"lifetimeInMinutes": 120, "isUsableOnce": true}),
    )
    .await;
    assert_eq!(
        first["@odata.type"],
        "#microsoft.graph.temporaryAccessPassAuthenticationMethod"
    );
    let text = first["temporaryAccessPass"].as_str().unwrap().to_string();
    assert_eq!(text.len(), 8, "the default policy's length");
    assert_eq!(
        (&first["lifetimeInMinutes"], &first["isUsableOnce"]),
        (&json!(120), &json!(true))
    );
    assert_eq!(first["isUsable"], true);
    assert_eq!(first["methodUsabilityReason"], "EnabledByPolicy");
    assert_eq!(first["startDateTime"], first["createdDateTime"]);

    let listed = env.get_json(&passes(&id)).await;
    assert_eq!(listed["value"].as_array().unwrap().len(), 1);
    assert_eq!(listed["value"][0]["id"], first["id"]);
    assert_eq!(listed["value"][0]["temporaryAccessPass"], Value::Null);
    let method = first["id"].as_str().unwrap();
    let one = env.get_json(&format!("{}/{method}", passes(UPN))).await;
    assert_eq!(one["temporaryAccessPass"], Value::Null);
    assert_eq!(one["lifetimeInMinutes"], 120);

    let second = issue(&env, UPN, &json!({})).await;
    assert_ne!(second["temporaryAccessPass"], first["temporaryAccessPass"]);
    assert_eq!(second["lifetimeInMinutes"], 60, "the policy's default");
    let listed = env.get_json(&passes(&id)).await;
    assert_eq!(listed["value"].as_array().unwrap().len(), 1);
    assert_eq!(listed["value"][0]["id"], second["id"]);
    graph_error(
        env.get(&format!("{}/{method}", passes(&id))).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    )
    .await;

    let kept = env.sim.temporary_access_passes();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["userId"], id.as_str());
    assert_eq!(
        kept[0]["temporaryAccessPass"],
        second["temporaryAccessPass"]
    );
    assert_ne!(kept[0]["temporaryAccessPass"].as_str(), Some(text.as_str()));
}

#[tokio::test]
async fn deleting_a_pass_leaves_none() {
    let env = env_with(tenant()).await;
    let issued = issue(&env, UPN, &Value::Null).await;
    let method = format!("{}/{}", passes(UPN), issued["id"].as_str().unwrap());
    assert_eq!(env.delete(&method).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(env.get_json(&passes(UPN)).await["value"], json!([]));
    graph_error(
        env.delete(&method).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    )
    .await;
    assert!(env.sim.temporary_access_passes().is_empty());
}

#[tokio::test]
async fn lifetimes_outside_ten_minutes_to_thirty_days_are_bad_requests() {
    let env = env_with(tenant()).await;
    for minutes in [9, 43_201] {
        let response = env
            .post(&passes(UPN), &json!({"lifetimeInMinutes": minutes}))
            .await;
        let error = graph_error(response, StatusCode::BAD_REQUEST, "badRequest").await;
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("lifetimeInMinutes"),
            "{error}"
        );
    }
    let unreadable = env
        .post(&passes(UPN), &json!({"startDateTime": "next monday"}))
        .await;
    graph_error(unreadable, StatusCode::BAD_REQUEST, "badRequest").await;
    assert!(env.sim.temporary_access_passes().is_empty());
}

#[tokio::test]
async fn the_tenant_policy_bounds_the_lifetime_and_can_force_one_time_use() {
    let env = env_with(Config {
        temporary_access_pass: TemporaryAccessPassPolicy {
            maximum_lifetime_in_minutes: 1440,
            is_usable_once: true,
            ..TemporaryAccessPassPolicy::default()
        },
        ..tenant()
    })
    .await;
    let too_long = env
        .post(&passes(UPN), &json!({"lifetimeInMinutes": 2880}))
        .await;
    graph_error(too_long, StatusCode::FORBIDDEN, "accessDenied").await;
    let reusable = env
        .post(&passes(UPN), &json!({"isUsableOnce": false}))
        .await;
    graph_error(reusable, StatusCode::FORBIDDEN, "accessDenied").await;
    let issued = issue(&env, UPN, &json!({"lifetimeInMinutes": 1440})).await;
    assert_eq!(issued["isUsableOnce"], true, "the policy's one-time rule");
}

#[tokio::test]
async fn a_policy_with_the_method_off_refuses_every_pass_until_switched_on() {
    let env = env_with(Config {
        temporary_access_pass: TemporaryAccessPassPolicy {
            enabled: false,
            ..TemporaryAccessPassPolicy::default()
        },
        ..tenant()
    })
    .await;
    let refused = env.post(&passes(UPN), &json!({})).await;
    let error = graph_error(refused, StatusCode::BAD_REQUEST, "badRequest").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("UserCredentialPolicy does not allow"),
        "{error}"
    );
    assert!(env.sim.temporary_access_passes().is_empty());

    let base = env.sim.base_url();
    let policy: Value = env
        .http
        .get(format!("{base}/_sim/temporaryAccessPassPolicy"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(policy["enabled"], false);
    let switched = env
        .http
        .put(format!("{base}/_sim/temporaryAccessPassPolicy"))
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(switched.status(), StatusCode::OK);
    let issued = issue(&env, UPN, &json!({})).await;

    // Switched off again, the pass already issued reads as disabled.
    env.sim
        .set_temporary_access_pass_policy(TemporaryAccessPassPolicy {
            enabled: false,
            ..TemporaryAccessPassPolicy::default()
        });
    let listed = env.get_json(&passes(UPN)).await;
    assert_eq!(listed["value"][0]["id"], issued["id"]);
    assert_eq!(listed["value"][0]["isUsable"], false);
    assert_eq!(
        listed["value"][0]["methodUsabilityReason"],
        "DisabledByPolicy"
    );

    let bad_policy = env
        .http
        .put(format!("{base}/_sim/temporaryAccessPassPolicy"))
        .json(&json!({"minimumLifetimeInMinutes": 5}))
        .send()
        .await
        .unwrap();
    graph_error(bad_policy, StatusCode::BAD_REQUEST, "BadRequest").await;
}

#[tokio::test]
async fn unknown_and_unreplicated_users_are_not_found() {
    let env = env_with(Config {
        replication_lag_ms: 1000,
        ..tenant()
    })
    .await;
    graph_error(
        env.post(&passes("ghost@contoso.example"), &json!({})).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    )
    .await;
    let fresh = env.create_user(&new_user("fresh@contoso.example")).await;
    let fresh = fresh["id"].as_str().unwrap();
    graph_error(
        env.post(&passes(fresh), &json!({})).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    issue(&env, fresh, &json!({})).await;
}

#[tokio::test]
async fn issuing_needs_the_write_permission_and_reading_a_read_one() {
    let mut config = tenant();
    config.clients.push(ClientCredential {
        client_id: READER.into(),
        client_secret: READER_SECRET.into(),
        permissions: vec!["UserAuthenticationMethod.Read.All".into()],
        ..ClientCredential::default()
    });
    let env = env_with(config).await;
    issue(&env, UPN, &json!({})).await;
    let token = token_for(&env.http, &env.sim.base_url(), READER, READER_SECRET).await;
    let as_reader = |request: reqwest::RequestBuilder| request.bearer_auth(&token).send();
    let read = as_reader(env.http.get(env.graph(&passes(UPN))))
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let write = as_reader(env.http.post(env.graph(&passes(UPN))).json(&json!({})))
        .await
        .unwrap();
    graph_error(write, StatusCode::FORBIDDEN, "Authorization_RequestDenied").await;
    assert_eq!(env.sim.temporary_access_passes().len(), 1);
}

#[tokio::test]
async fn passes_are_logged_without_their_text_and_shown_in_the_state() {
    let env = env_with(tenant()).await;
    let issued = issue(&env, UPN, &json!({"lifetimeInMinutes": 90})).await;
    let text = issued["temporaryAccessPass"].as_str().unwrap();
    let logged: Vec<Value> = env
        .sim
        .requests()
        .into_iter()
        .filter(|r| r["path"] == format!("/v1.0{}", passes(UPN)))
        .collect();
    assert_eq!(logged.len(), 1);
    assert_eq!(
        (&logged[0]["method"], &logged[0]["status"]),
        (&json!("POST"), &json!(201))
    );
    assert!(!format!("{:?}", env.sim.requests()).contains(text));

    let state: Value = env
        .http
        .get(format!("{}/_sim/state", env.sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shown = &state["temporaryAccessPasses"][0];
    assert_eq!(shown["temporaryAccessPass"], text);
    assert_eq!(shown["userId"], id_of(&env.sim, UPN).as_str());
    assert_eq!(shown["lifetimeInMinutes"], 90);
}

#[tokio::test]
async fn passes_can_be_issued_inside_a_batch() {
    let env = env_with(tenant()).await;
    let batch = json!({"requests": [{
        "id": "1", "method": "POST", "url": passes(UPN),
        "headers": {"Content-Type": "application/json"}, "body": {"lifetimeInMinutes": 60},
    }]});
    let answer: Value = env.post("/$batch", &batch).await.json().await.unwrap();
    assert_eq!(answer["responses"][0]["status"], 201, "{answer}");
    let text = &answer["responses"][0]["body"]["temporaryAccessPass"];
    assert_eq!(
        &env.sim.temporary_access_passes()[0]["temporaryAccessPass"],
        text
    );
}
