//! The operator under the faults a real tenant throws at it: server errors, throttling and
//! replication lag at once, and a throttle limit it must stay under rather than bounce off.

mod support;

use std::time::{Duration, Instant};

use futures::future::join_all;
use kube::api::ListParams;
use serde_json::json;
use support::scenario::{Scenario, condition, sim_config, wait};

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn fifty_users_become_active_through_errors_throttling_and_lag() {
    let mut config = sim_config();
    config.skus[0].enabled = 60;
    config.replication_lag_ms = 2_000;
    config.faults.seed = Some(7);
    config.faults.server_error_rate = 0.10;
    config.faults.throttle_rate = 0.05;
    let scenario = Scenario::with_sim_config("storm", config)
        .await
        .with_operator();
    let users: Vec<_> = (0..50)
        .map(|n| scenario.user(&format!("hire-{n}"), "Storm", &format!("Tester{n}")))
        .collect();
    join_all(users.iter().map(|u| scenario.create(u))).await;

    let started = Instant::now();
    wait(
        "all 50 Users Ready",
        || async { scenario.users().list(&ListParams::default()).await.ok() },
        |list| {
            list.items
                .iter()
                .filter(|u| condition(u, "Ready").is_some_and(|c| c.0 == "True"))
                .count()
                == 50
        },
    )
    .await;
    println!(
        "50 Users became Active in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let accounts: Vec<_> = scenario
        .sim
        .users()
        .into_iter()
        .filter(|u| {
            u["surname"]
                .as_str()
                .is_some_and(|s| s.starts_with("Tester"))
        })
        .collect();
    assert_eq!(accounts.len(), 50, "exactly one account per User");
    let requests = scenario.sim.requests();
    let failed = requests
        .iter()
        .filter(|r| r["status"].as_u64().is_some_and(|s| s >= 500))
        .count();
    let throttled = requests.iter().filter(|r| r["status"] == 429).count();
    assert!(
        failed > 0 && throttled > 0,
        "the faults were injected: {failed} 5xx, {throttled} 429"
    );
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn the_client_budget_keeps_bulk_work_under_the_throttle_limit() {
    let mut config = sim_config();
    // A tenant that allows 60 resource units per 10 s and 20 writes per 10 s.
    config.throttling.resource_units_small = 60;
    config.throttling.resource_unit_window_ms = 10_000;
    config.throttling.writes = 20;
    config.throttling.write_window_ms = 10_000;
    let scenario = Scenario::with_sim_config("budget", config).await;
    // The operator is told the same limits, in Graph's own units: per 10 s and per 150 s.
    let limits = json!({"resourceUnitsPer10Seconds": 60, "writesPer150Seconds": 300});
    let patch = json!({"spec": {"rateLimits": limits}});
    scenario
        .tenants()
        .patch(
            scenario.tenant_name(),
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    let scenario = scenario.with_operator();
    let users: Vec<_> = (0..12)
        .map(|n| scenario.user(&format!("bulk-{n}"), "Bulk", &format!("Hire{n}")))
        .collect();
    join_all(users.iter().map(|u| scenario.create(u))).await;
    wait(
        "all 12 Users Ready",
        || async { scenario.users().list(&ListParams::default()).await.ok() },
        |list| {
            list.items
                .iter()
                .filter(|u| condition(u, "Ready").is_some_and(|c| c.0 == "True"))
                .count()
                == 12
        },
    )
    .await;
    let throttled = scenario
        .sim
        .requests()
        .iter()
        .filter(|r| r["status"] == 429)
        .count();
    assert_eq!(
        throttled, 0,
        "the operator waited for its budget instead of being throttled"
    );
    tokio::time::sleep(Duration::from_millis(1)).await;
}
