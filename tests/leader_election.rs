//! Several operator processes against the real API server: only the holder of the leader
//! Lease reconciles, a standby takes over when the leader dies or shuts down, and a leader
//! whose lease is taken stops.

mod operator_process;
mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use kube::api::PostParams;
use operator_process::{OperatorProcess, own_tenant};
use support::cluster::{self, Identity};
use support::scenario::Scenario;

const LEASE: &str = "m365-operator";

/// Starts an operator for the scenario's namespace that campaigns for a Lease there.
fn campaigner(
    scenario: &Scenario,
    name: &str,
    lease: Duration,
    renew: Duration,
) -> OperatorProcess {
    let namespace = scenario.namespace.as_str();
    let lease = format!("--lease-duration={}", lease.as_secs());
    let renew = format!("--lease-renew={}", renew.as_secs());
    let selector = own_tenant(namespace);
    let args = [
        "--namespace",
        namespace,
        &selector,
        "--leader-election=true",
        "--operator-namespace",
        namespace,
        &lease,
        &renew,
    ];
    OperatorProcess::start(
        &cluster::kubeconfig_path(Identity::Admin),
        &args,
        &[("POD_NAME", name)],
    )
}

fn leases(scenario: &Scenario) -> Api<Lease> {
    Api::namespaced(scenario.client.clone(), &scenario.namespace)
}

fn holder(lease: &Lease) -> Option<&str> {
    lease.spec.as_ref()?.holder_identity.as_deref()
}

/// Polls the Lease until `identity` holds it; panics after `timeout`.
async fn wait_for_holder(scenario: &Scenario, identity: &str, timeout: Duration) -> Lease {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(lease) = leases(scenario)
            .get_opt(LEASE)
            .await
            .expect("read the Lease")
        {
            if holder(&lease) == Some(identity) {
                return lease;
            }
            last = Some(lease);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{identity} did not get the Lease within {timeout:?}; last seen: {last:#?}");
}

/// Waits for a User to become Ready; on a timeout, fails with what the operators logged.
async fn ready(scenario: &Scenario, name: &str, operators: &[&OperatorProcess]) {
    let waited = tokio::time::timeout(Duration::from_secs(50), scenario.wait_ready(name)).await;
    if waited.is_err() {
        let logs: Vec<String> = operators.iter().map(|o| o.logs()).collect();
        panic!(
            "{name} did not become Ready; the operators logged:\n{}",
            logs.join("\n-----\n")
        );
    }
}

const USER_RECONCILES: &str = r#"m365_reconciles_total{kind="User"}"#;

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn only_the_leader_reconciles_and_a_standby_takes_over_when_it_dies() {
    let scenario = Scenario::without_operator("leader-takeover").await;
    let (lease, renew) = (Duration::from_secs(4), Duration::from_secs(1));
    let mut first = campaigner(&scenario, "operator-a", lease, renew);
    wait_for_holder(&scenario, "operator-a", Duration::from_secs(30)).await;
    let second = campaigner(&scenario, "operator-b", lease, renew);
    let long = Duration::from_secs(30);
    second
        .wait_for("/readyz", long, |s, body| {
            s == 200 && body.contains("standby")
        })
        .await;
    first
        .wait_for("/readyz", long, |s, body| {
            s == 200 && body.contains("serving")
        })
        .await;

    scenario
        .create(&scenario.user("ada-lovelace", "Ada", "Lovelace"))
        .await;
    ready(&scenario, "ada-lovelace", &[&first, &second]).await;
    assert_eq!(
        first.metric("m365_leader").await,
        Some(1.0),
        "{}",
        first.logs()
    );
    assert_eq!(
        second.metric("m365_leader").await,
        Some(0.0),
        "{}",
        second.logs()
    );
    assert!(first.metric(USER_RECONCILES).await.unwrap_or(0.0) >= 1.0);
    assert_eq!(
        second.metric(USER_RECONCILES).await,
        None,
        "the standby reconciled; its log:\n{}",
        second.logs()
    );
    let held = leases(&scenario).get(LEASE).await.unwrap();
    assert_eq!(holder(&held), Some("operator-a"));

    let killed = Instant::now();
    first.kill();
    scenario
        .create(&scenario.user("grace-hopper", "Grace", "Hopper"))
        .await;
    let taken = wait_for_holder(&scenario, "operator-b", Duration::from_secs(30)).await;
    let took = killed.elapsed();
    // Not before the lease ran out (its last renewal came about one period before the kill
    // at the earliest), and within the lease plus a look or two and some slack for a busy
    // machine.
    let slack = Duration::from_millis(500);
    assert!(
        took >= lease - renew - slack,
        "took over a live lease after {took:?}"
    );
    assert!(
        took <= lease + 2 * renew + Duration::from_secs(3),
        "took {took:?}"
    );
    let transitions = |l: &Lease| l.spec.as_ref().and_then(|s| s.lease_transitions);
    assert_eq!(
        transitions(&taken),
        transitions(&held).map(|t| t + 1),
        "a takeover counts as a transition"
    );
    ready(&scenario, "grace-hopper", &[&second]).await;
    assert_eq!(second.metric("m365_leader").await, Some(1.0));
    assert!(second.metric(USER_RECONCILES).await.unwrap_or(0.0) >= 1.0);
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn a_leader_that_shuts_down_hands_the_lease_over_at_once() {
    let scenario = Scenario::without_operator("leader-release").await;
    // A long lease: a takeover well inside it can only come from a release.
    let (lease, renew) = (Duration::from_secs(60), Duration::from_secs(1));
    let mut first = campaigner(&scenario, "operator-a", lease, renew);
    wait_for_holder(&scenario, "operator-a", Duration::from_secs(30)).await;
    let second = campaigner(&scenario, "operator-b", lease, renew);
    second
        .wait_for("/readyz", Duration::from_secs(30), |s, body| {
            s == 200 && body.contains("standby")
        })
        .await;

    first.terminate();
    // Draining takes as long as the reconciles in flight; the leader renews meanwhile.
    let status = first.exited(Duration::from_secs(60)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "exit {status:?}; log:\n{}",
        first.logs()
    );
    let exited = Instant::now();
    assert!(
        first.logs().contains("released the leader lease"),
        "{}",
        first.logs()
    );
    wait_for_holder(&scenario, "operator-b", Duration::from_secs(10)).await;
    assert!(
        exited.elapsed() < lease / 6,
        "took over {:?} after the leader exited",
        exited.elapsed()
    );

    scenario
        .create(&scenario.user("alan-turing", "Alan", "Turing"))
        .await;
    ready(&scenario, "alan-turing", &[&second]).await;
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn a_leader_whose_lease_is_taken_stops_and_exits() {
    let scenario = Scenario::without_operator("leader-lost").await;
    let mut leader = campaigner(
        &scenario,
        "operator-a",
        Duration::from_secs(15),
        Duration::from_secs(1),
    );
    leader
        .wait_for("/readyz", Duration::from_secs(30), |s, body| {
            s == 200 && body.contains("serving")
        })
        .await;

    // Someone else writes the Lease, as a replica that saw it expire would.
    let mut lease = leases(&scenario).get(LEASE).await.unwrap();
    let spec = lease.spec.as_mut().unwrap();
    spec.holder_identity = Some("intruder".into());
    spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
    leases(&scenario)
        .replace(LEASE, &PostParams::default(), &lease)
        .await
        .expect("take the Lease");

    let status = leader.exited(Duration::from_secs(10)).await;
    let logs = leader.logs();
    assert!(
        status.is_some_and(|s| !s.success()),
        "exit {status:?}; log:\n{logs}"
    );
    assert!(
        logs.contains("lost the leader lease") && logs.contains("intruder holds it now"),
        "{logs}"
    );
    // It did not hand back a lease that was not its own.
    let after = leases(&scenario).get(LEASE).await.unwrap();
    assert_eq!(holder(&after), Some("intruder"));
}
