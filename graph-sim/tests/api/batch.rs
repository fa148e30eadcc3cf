//! `POST /$batch`: limits, dependencies and per-request throttling.

use graph_sim::{Config, ThrottleLimits};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

fn create(id: &str, upn: &str) -> Value {
    json!({"id": id, "method": "POST", "url": "/users",
        "headers": {"Content-Type": "application/json"}, "body": new_user(upn)})
}

fn by_id(batch: &Value) -> std::collections::BTreeMap<String, Value> {
    batch["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

impl Env {
    async fn batch(&self, requests: Value) -> reqwest::Response {
        self.post("/$batch", &json!({"requests": requests})).await
    }
}

#[tokio::test]
async fn each_request_is_answered_on_its_own() {
    let env = env().await;
    let response = env
        .batch(json!([
            create("1", "batched@contoso.example"),
            {"id": "2", "method": "GET", "url": "/users/batched@contoso.example?$select=id",
                "dependsOn": ["1"]},
            {"id": "3", "method": "GET", "url": format!("{}/v1.0/subscribedSkus", env.sim.base_url())},
            {"id": "4", "method": "GET", "url": "/users/nobody@contoso.example"},
        ]))
        .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let responses = by_id(&body);
    assert_eq!(responses["1"]["status"], 201);
    assert_eq!(
        responses["1"]["body"]["userPrincipalName"],
        "batched@contoso.example"
    );
    assert_eq!(responses["2"]["status"], 200);
    assert_eq!(responses["2"]["body"]["id"], responses["1"]["body"]["id"]);
    assert_eq!(responses["3"]["status"], 200);
    assert!(responses["3"]["headers"]["x-ms-resource-unit"].is_string());
    assert_eq!(responses["4"]["status"], 404);
    assert_eq!(
        responses["4"]["body"]["error"]["code"],
        "Request_ResourceNotFound"
    );
    let inner: Vec<Value> = env
        .sim
        .requests()
        .into_iter()
        .filter(|r| r["inBatch"] == true)
        .collect();
    assert_eq!(inner.len(), 4);
}

#[tokio::test]
async fn dependents_of_a_failed_request_are_424() {
    let env = env().await;
    let mut weak = create("1", "weak@contoso.example");
    weak["body"]["passwordProfile"]["password"] = json!("password");
    let response = env
        .batch(json!([
            weak,
            {"id": "2", "method": "GET", "url": "/users/weak@contoso.example",
                "dependsOn": ["1"]},
            {"id": "3", "method": "GET", "url": "/users", "dependsOn": ["2"]},
            {"id": "4", "method": "GET", "url": "/users"},
        ]))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let responses = by_id(&response.json().await.unwrap());
    assert_eq!(responses["1"]["status"], 400);
    assert_eq!(responses["2"]["status"], 424);
    assert_eq!(responses["3"]["status"], 424);
    assert_eq!(responses["4"]["status"], 200);
}

#[tokio::test]
async fn malformed_batches_are_refused_whole() {
    let env = env().await;
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users"}))
        .collect();
    let cases = [
        Value::Array(many),
        json!([{"id": "a", "method": "GET", "url": "/users"},
               {"id": "A", "method": "GET", "url": "/users"}]),
        json!([{"id": "1", "method": "POST", "url": "/users",
               "body": new_user("x@contoso.example")}]),
        json!([{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["9"]}]),
        json!([{"id": "1", "method": "GET", "url": "https://graph.microsoft.com/beta/users"}]),
    ];
    for requests in cases {
        graph_error(
            env.batch(requests).await,
            StatusCode::BAD_REQUEST,
            "BadRequest",
        )
        .await;
    }
    assert!(env.sim.users().is_empty(), "nothing ran");
}

#[tokio::test]
async fn inner_requests_are_throttled_on_their_own() {
    let env = env_with(Config {
        throttling: ThrottleLimits {
            writes: 2,
            write_window_ms: 60_000,
            ..ThrottleLimits::default()
        },
        ..Config::default()
    })
    .await;
    let response = env
        .batch(json!([
            create("1", "w1@contoso.example"),
            create("2", "w2@contoso.example"),
            create("3", "w3@contoso.example"),
            create("4", "w4@contoso.example"),
        ]))
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the batch itself is not throttled"
    );
    let responses = by_id(&response.json().await.unwrap());
    let throttled: Vec<&Value> = responses.values().filter(|r| r["status"] == 429).collect();
    assert_eq!(throttled.len(), 2);
    for r in throttled {
        assert_eq!(r["body"]["error"]["code"], "TooManyRequests");
        let wait: f64 = r["headers"]["retry-after"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(wait > 0.0 && wait <= 30.0, "{wait}");
        assert_eq!(
            r["headers"]["x-ms-throttle-information"],
            "WriteLimitExceeded"
        );
    }
    assert_eq!(env.sim.users().len(), 2);
}
