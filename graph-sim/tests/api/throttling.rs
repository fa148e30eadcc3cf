//! Token buckets per app: resource units, writes, the headers that report them, and `429`.

use std::time::Duration;

use graph_sim::{Config, ThrottleLimits};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

fn limited(limits: ThrottleLimits) -> Config {
    Config {
        throttling: limits,
        ..Config::default()
    }
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn resource_units_run_out_with_the_documented_headers() {
    let env = env_with(limited(ThrottleLimits {
        resource_units_small: 10,
        resource_unit_window_ms: 2_000,
        ..ThrottleLimits::default()
    }))
    .await;
    let first = env.get("/users").await;
    assert_eq!(header(&first, "x-ms-resource-unit"), Some("2"));
    assert_eq!(header(&first, "x-ms-throttle-limit-percentage"), None);
    for _ in 0..3 {
        assert_eq!(env.get("/users").await.status(), StatusCode::OK);
    }
    let fifth = env.get("/users?$select=id").await;
    assert_eq!(
        header(&fifth, "x-ms-resource-unit"),
        Some("1"),
        "$select lowers the cost"
    );
    let usage: f64 = header(&fifth, "x-ms-throttle-limit-percentage")
        .expect("above 80% the usage is reported")
        .parse()
        .unwrap();
    assert!(usage > 0.8, "{usage}");
    env.get("/users?$select=id").await;

    let throttled = env.get("/users").await;
    let retry_after: f64 = header(&throttled, "retry-after").unwrap().parse().unwrap();
    assert!(retry_after > 0.0 && retry_after <= 2.0, "{retry_after}");
    assert_eq!(
        header(&throttled, "x-ms-throttle-scope"),
        Some(format!("Tenant_Application/ReadWrite/{CLIENT_ID}/{TENANT}").as_str())
    );
    assert_eq!(
        header(&throttled, "x-ms-throttle-information"),
        Some("ResourceUnitLimitExceeded")
    );
    graph_error(throttled, StatusCode::TOO_MANY_REQUESTS, "TooManyRequests").await;

    tokio::time::sleep(Duration::from_secs_f64(retry_after + 0.05)).await;
    assert_eq!(
        env.get("/users").await.status(),
        StatusCode::OK,
        "after Retry-After"
    );
}

#[tokio::test]
async fn writes_have_their_own_quota_and_reads_go_on() {
    let env = env_with(limited(ThrottleLimits {
        writes: 2,
        ..ThrottleLimits::default()
    }))
    .await;
    env.create_user(&new_user("one@contoso.example")).await;
    env.create_user(&new_user("two@contoso.example")).await;
    let third = env.post("/users", &new_user("three@contoso.example")).await;
    assert_eq!(
        header(&third, "x-ms-throttle-information"),
        Some("WriteLimitExceeded")
    );
    graph_error(third, StatusCode::TOO_MANY_REQUESTS, "TooManyRequests").await;
    assert_eq!(env.get("/users").await.status(), StatusCode::OK);
    assert_eq!(env.sim.users().len(), 2, "a throttled write has no effect");
}

#[tokio::test]
async fn a_bigger_tenant_gets_the_bigger_allowance() {
    let users = (0..50)
        .map(|n| seed(&format!("u{n}@contoso.example")))
        .collect();
    let env = env_with(Config {
        users,
        throttling: ThrottleLimits {
            resource_units_small: 2,
            resource_units_medium: 100,
            ..ThrottleLimits::default()
        },
        ..Config::default()
    })
    .await;
    for _ in 0..10 {
        assert_eq!(env.get("/users?$top=1").await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn limits_change_at_run_time_and_costs_are_logged() {
    let env = env().await;
    env.sim.set_throttling(ThrottleLimits {
        resource_units_small: 3,
        ..ThrottleLimits::default()
    });
    env.get("/subscribedSkus").await;
    graph_error(
        env.get("/subscribedSkus").await,
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
    )
    .await;
    let logged = env.sim.requests();
    let skus: Vec<_> = logged
        .iter()
        .filter(|r| r["path"] == "/v1.0/subscribedSkus")
        .collect();
    assert_eq!(skus[0]["resourceUnits"], 3);
    assert_eq!(skus[1]["status"], 429);

    let off = env
        .http
        .put(format!("{}/_sim/throttling", env.sim.base_url()))
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), StatusCode::OK);
    for _ in 0..5 {
        assert_eq!(env.get("/subscribedSkus").await.status(), StatusCode::OK);
    }
}
