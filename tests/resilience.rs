//! The operator under the faults a real tenant throws at it: server errors, throttling and
//! replication lag at once.

mod support;

use std::time::Instant;

use futures::future::join_all;
use kube::api::ListParams;
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
