//! Deactivations end to end: real API server, the operator binary, the Graph simulator.
//! Every reason with every step's time; the operator killed in the middle of each step;
//! token introspection; groups Graph refuses; reactivation from the archive; the mass
//! deactivation guard; the termination SLA; and what the API server refuses.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use m365_operator::api::deactivation::{
    Deactivation, DeactivationPhase, DeactivationReason, DeactivationSpec, GroupRefusal, Leave,
    LicenseOutcome, MembershipState, Requester, Step,
};
use m365_operator::sla::SlaOutcome;
use m365_operator::tokens::store::{DEFAULT_SECRET_NAME, load_or_create};
use m365_operator::tokens::{FirstSession, KeyRing, Sensitive, issue_first_session};
use serde_json::{Value, json};
use support::cluster::FIELD_MANAGER;
use support::scenario::{Scenario, sim_config, wait};

/// The shared secret the tests introspect with.
const CALLER_SECRET: &str = "introspection-test-caller";

/// Every forward step, in order.
const FORWARD: [Step; 5] = [
    Step::SignInBlocked,
    Step::TokensRevoked,
    Step::GroupsLeft,
    Step::LicenseHandled,
    Step::Archived,
];

// ---------------------------------------------------------------------------------------
// The world of one test

/// A scenario whose Tenant carries `policy` as its deactivation policy, with the operator
/// running.
async fn start(prefix: &str, policy: Value, sim: graph_sim::Config) -> Scenario {
    let scenario = Scenario::with_sim_config(prefix, sim).await;
    scenario
        .patch_tenant(json!({ "deactivation": policy }))
        .await;
    scenario.with_operator()
}

/// A provisioned User; returns its Entra object id and UPN.
async fn provisioned(
    scenario: &Scenario,
    name: &str,
    given: &str,
    surname: &str,
) -> (String, String) {
    scenario.create(&scenario.user(name, given, surname)).await;
    let user = scenario.wait_ready(name).await;
    let status = user.status.expect("status");
    (
        status.object_id.expect("object id"),
        status.user_principal_name.expect("UPN"),
    )
}

/// Seeds a group in the simulator with `members` (UPNs); returns its id.
async fn seed_group(scenario: &Scenario, group: Value) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/_sim/groups", scenario.sim.base_url()))
        .json(&group)
        .send()
        .await
        .expect("reach the simulator");
    assert!(
        response.status().is_success(),
        "seeding {group}: {}",
        response.status()
    );
    let created: Value = response.json().await.expect("the seeded group");
    created["id"].as_str().expect("a group id").to_string()
}

/// A security group and a Microsoft 365 group, both of which Graph lets the operator change.
async fn ordinary_groups(scenario: &Scenario, upn: &str) -> Vec<String> {
    let finance = json!({"displayName": "Finance", "members": [upn]});
    let phoenix = json!({
        "displayName": "Project Phoenix", "mailEnabled": true, "securityEnabled": false,
        "groupTypes": ["Unified"], "mailNickname": "phoenix", "members": [upn],
    });
    vec![
        seed_group(scenario, finance).await,
        seed_group(scenario, phoenix).await,
    ]
}

fn deactivation(name: &str, user: &str, reason: DeactivationReason) -> Deactivation {
    let leave = (reason == DeactivationReason::ExtendedLeave).then(|| Leave {
        start: "2027-01-04".into(),
        end: "2027-07-30".into(),
    });
    Deactivation::new(
        name,
        DeactivationSpec {
            user: user.into(),
            reason,
            requester: Requester {
                email: "hr.partner@contoso.example".into(),
                reference: "HR-3301".into(),
            },
            effective_at: None,
            leave,
            note: Some("requested by HR".into()),
            reactivate: false,
            license_decision: None,
        },
    )
}

fn deactivations(scenario: &Scenario) -> Api<Deactivation> {
    Api::namespaced(scenario.client.clone(), &scenario.namespace)
}

async fn create(scenario: &Scenario, d: &Deactivation) {
    deactivations(scenario)
        .create(&PostParams::default(), d)
        .await
        .expect("create the Deactivation");
}

async fn patch_spec(scenario: &Scenario, name: &str, spec: Value) {
    deactivations(scenario)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({ "spec": spec })),
        )
        .await
        .expect("patch the Deactivation");
}

async fn wait_deactivation(
    scenario: &Scenario,
    name: &str,
    what: &str,
    done: impl Fn(&Deactivation) -> bool,
) -> Deactivation {
    wait(
        what,
        || async { deactivations(scenario).get(name).await.ok() },
        done,
    )
    .await
}

fn phase(d: &Deactivation) -> Option<DeactivationPhase> {
    d.status.as_ref().and_then(|s| s.phase)
}

async fn wait_phase(scenario: &Scenario, name: &str, wanted: DeactivationPhase) -> Deactivation {
    wait_deactivation(scenario, name, &format!("phase {wanted:?}"), |d| {
        phase(d) == Some(wanted)
    })
    .await
}

fn step_time(d: &Deactivation, step: Step) -> Option<Timestamp> {
    d.status.as_ref()?.completed(step).map(|t| t.0)
}

/// Every step of `steps` has a time, and the times never go back.
fn assert_steps_in_order(d: &Deactivation, steps: &[Step]) {
    let times: Vec<Timestamp> = steps
        .iter()
        .map(|s| step_time(d, *s).unwrap_or_else(|| panic!("{s:?} has no time: {:#?}", d.status)))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "steps out of order: {:#?}",
        d.status
    );
}

fn account(scenario: &Scenario, id: &str) -> Option<Value> {
    scenario.sim.users().into_iter().find(|u| u["id"] == id)
}

fn group_members(scenario: &Scenario, group: &str) -> Vec<String> {
    let groups = scenario.sim.groups();
    let found = groups.iter().find(|g| g["id"] == group).expect("the group");
    found["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect()
}

/// How many requests the simulator answered for `method` on a path ending in `suffix`.
fn requests(scenario: &Scenario, method: &str, suffix: &str, in_batch: Option<bool>) -> usize {
    scenario
        .sim
        .requests()
        .iter()
        .filter(|r| r["method"] == method)
        .filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with(suffix)))
        .filter(|r| in_batch.is_none_or(|b| r["inBatch"] == b))
        .count()
}

fn archives(scenario: &Scenario) -> Api<ConfigMap> {
    Api::namespaced(scenario.client.clone(), &scenario.namespace)
}

// ---------------------------------------------------------------------------------------
// Introspection

/// The operator's HTTP address, from its log line.
async fn operator_url(scenario: &Scenario) -> String {
    let logs = wait(
        "the operator's HTTP address in its log",
        || async { Some(scenario.operator.as_ref().unwrap().logs()) },
        |logs| logs.contains("serving /healthz"),
    )
    .await;
    let line = logs
        .lines()
        .find(|l| l.contains("serving /healthz"))
        .unwrap();
    let address = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix("address="))
        .expect("an address field");
    format!("http://{address}")
}

/// Stores the caller secret and makes sure signing keys exist, in the operator's namespace
/// (the test namespace); returns the key ring to issue tokens with.
async fn prepare_introspection(scenario: &Scenario) -> KeyRing {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(m365_operator::revocation::CALLERS_SECRET.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "tests".to_string(),
            ByteString(CALLER_SECRET.into()),
        )])),
        ..Default::default()
    };
    let secrets: Api<Secret> = Api::namespaced(scenario.client.clone(), &scenario.namespace);
    secrets
        .patch(
            m365_operator::revocation::CALLERS_SECRET,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await
        .expect("store the caller secret");
    load_or_create(&scenario.client, &scenario.namespace, DEFAULT_SECRET_NAME)
        .await
        .expect("the signing keys")
}

fn issue(ring: &KeyRing, subject: &str, upn: &str) -> Sensitive {
    let session = FirstSession {
        issuer: "https://m365-operator.contoso.example".into(),
        subject: subject.into(),
        upn: upn.into(),
        role: "employee".into(),
        audience: None,
    };
    issue_first_session(ring, &session, Timestamp::now())
        .expect("issue a token")
        .jwt
}

async fn introspect(url: &str, token: &Sensitive) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{url}/introspect"))
        .bearer_auth(CALLER_SECRET)
        .form(&[("token", token.expose())])
        .send()
        .await
        .expect("reach the operator");
    assert_eq!(response.status(), 200, "introspection answered");
    response.json().await.expect("a JSON answer")
}

/// Polls introspection until `active` matches; returns how long it took.
async fn until_active_is(url: &str, token: &Sensitive, active: bool) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if introspect(url, token).await["active"] == active {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("introspection never said active={active}");
}

/// How long after the API shows the account deactivated introspection still calls `token`
/// active: zero when it was refused first.
async fn revocation_delay(
    scenario: &Scenario,
    name: &str,
    url: &str,
    token: &Sensitive,
) -> Duration {
    let started = Instant::now();
    let mut deactivated_at = None;
    let mut refused_at = None;
    while started.elapsed() < Duration::from_secs(60) {
        if deactivated_at.is_none() {
            let d = deactivations(scenario)
                .get(name)
                .await
                .expect("the Deactivation");
            if d.status.is_some_and(|s| s.inactive_since.is_some()) {
                deactivated_at = Some(Instant::now());
            }
        }
        if refused_at.is_none() && introspect(url, token).await["active"] == false {
            refused_at = Some(Instant::now());
        }
        if let (Some(deactivated), Some(refused)) = (deactivated_at, refused_at) {
            return refused.saturating_duration_since(deactivated);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no deactivation or no refusal within a minute");
}

// ---------------------------------------------------------------------------------------
// Each reason end to end

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn a_termination_runs_every_step_deletes_after_retention_and_meets_its_sla() {
    let policy = json!({ "mailboxRetention": "8s" });
    let scenario = start("terminate", policy, sim_config()).await;
    let (id, upn) = provisioned(&scenario, "zoe", "Zoë", "Müller").await;
    let groups = ordinary_groups(&scenario, &upn).await;
    create(
        &scenario,
        &deactivation("zoe-leaves", "zoe", DeactivationReason::Termination),
    )
    .await;

    let done = wait_phase(&scenario, "zoe-leaves", DeactivationPhase::Deactivated).await;
    assert_steps_in_order(&done, &FORWARD);
    let status = done.status.clone().unwrap();
    let sla = status.sla.clone().expect("a termination has an SLA");
    let completed = sla.completed_at.clone().expect("completed");
    assert_eq!(completed, *status.completed(Step::Archived).unwrap());
    assert!(completed.0 <= sla.due_at.0, "{sla:?}");
    assert!(
        sla.due_at.0.duration_since(sla.started_at.0) >= jiff::SignedDuration::from_hours(1),
        "one business hour or more of wall time: {sla:?}"
    );
    assert_eq!(status.sla_outcome, Some(SlaOutcome::Met));
    assert_eq!(status.license_outcome, Some(LicenseOutcome::Released));

    let entra = account(&scenario, &id).expect("kept during the retention window");
    assert_eq!(entra["accountEnabled"], false);
    assert!(
        entra["signInSessionsValidFromDateTime"].is_string(),
        "{entra}"
    );
    assert_eq!(entra["assignedLicenses"], json!([]));
    for group in &groups {
        assert!(!group_members(&scenario, group).contains(&id));
    }
    let archive = status.archive.clone().expect("archived");
    let stored = archives(&scenario)
        .get(&archive.name)
        .await
        .expect("the archive");
    assert_eq!(stored.immutable, Some(true));
    let record = m365_operator::archive::from_config_map(&stored).unwrap();
    assert_eq!(record.profile.user_principal_name, upn);
    assert_eq!(record.groups.len(), 2);
    assert_eq!(
        record.licenses[0].sku_part_number.as_deref(),
        Some("ENTERPRISEPACK")
    );
    assert_eq!(record.audit.steps.len(), 4, "the steps up to the licence");

    let completed = wait_phase(&scenario, "zoe-leaves", DeactivationPhase::Completed).await;
    let status = completed.status.clone().unwrap();
    let deleted_at = step_time(&completed, Step::RetentionEnded).expect("step 6");
    assert!(
        deleted_at >= status.retain_until.clone().unwrap().0,
        "never deleted before the retention window ends"
    );
    assert!(account(&scenario, &id).is_none());
    assert!(scenario.sim.deleted_users().iter().any(|u| u["id"] == id));
    let steps: Vec<&str> = FORWARD
        .iter()
        .chain([&Step::RetentionEnded])
        .map(|s| s.as_str())
        .collect();
    let events = support::scenario::wait(
        "an Event for every step",
        || async { Some(scenario.events_for("zoe-leaves").await) },
        |events| {
            steps
                .iter()
                .all(|s| events.iter().any(|e| e.reason.as_deref() == Some(s)))
        },
    )
    .await;
    for step in FORWARD.iter().chain([&Step::RetentionEnded]) {
        assert!(
            events
                .iter()
                .any(|e| e.reason.as_deref() == Some(step.as_str())),
            "an Event for {step:?}"
        );
    }
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn an_extended_leave_keeps_everything_and_reactivation_restores_it_from_the_archive() {
    let scenario = start("leave", json!({}), sim_config()).await;
    let ring = prepare_introspection(&scenario).await;
    let url = operator_url(&scenario).await;
    let (id, upn) = provisioned(&scenario, "ann", "Ann", "Lee").await;
    let groups = ordinary_groups(&scenario, &upn).await;
    let before = issue(&ring, &id, &upn);
    assert_eq!(introspect(&url, &before).await["active"], true);

    create(
        &scenario,
        &deactivation("ann-leave", "ann", DeactivationReason::ExtendedLeave),
    )
    .await;
    let took = revocation_delay(&scenario, "ann-leave", &url, &before).await;
    assert!(
        took < Duration::from_secs(1),
        "inactive {took:?} after the step"
    );
    let done = wait_phase(&scenario, "ann-leave", DeactivationPhase::Deactivated).await;
    assert_steps_in_order(&done, &FORWARD);
    let status = done.status.clone().unwrap();
    assert_eq!(status.license_outcome, Some(LicenseOutcome::Kept));
    assert!(status.sla.is_none(), "only terminations have an SLA");
    let entra = account(&scenario, &id).unwrap();
    assert_eq!(entra["accountEnabled"], false);
    assert_eq!(
        entra["assignedLicenses"].as_array().unwrap().len(),
        1,
        "licence kept"
    );
    assert!(
        groups
            .iter()
            .all(|g| !group_members(&scenario, g).contains(&id))
    );
    // No deletion for a leave, however long the retention.
    assert_eq!(step_time(&done, Step::RetentionEnded), None);

    // The person is back. A token issued in the same second as the revocation could predate
    // it and stays refused, so the new one is issued a second later.
    patch_spec(&scenario, "ann-leave", json!({ "reactivate": true })).await;
    let back = wait_phase(&scenario, "ann-leave", DeactivationPhase::Reactivated).await;
    assert_steps_in_order(
        &back,
        &[
            Step::Archived,
            Step::LicenseRestored,
            Step::GroupsRestored,
            Step::SignInRestored,
        ],
    );
    let entra = account(&scenario, &id).unwrap();
    assert_eq!(entra["accountEnabled"], true);
    assert_eq!(entra["assignedLicenses"].as_array().unwrap().len(), 1);
    for group in &groups {
        assert!(
            group_members(&scenario, group).contains(&id),
            "rejoined {group}"
        );
    }
    let status = back.status.unwrap();
    assert!(
        status
            .groups
            .iter()
            .all(|g| g.state == MembershipState::Rejoined)
    );
    let revoked_at = status.revocation.unwrap().tokens_valid_after.0;
    while Timestamp::now().as_second() <= revoked_at.as_second() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = issue(&ring, &id, &upn);
    until_active_is(&url, &after, true).await;
    let answer = introspect(&url, &after).await;
    assert_eq!(
        (answer["sub"].as_str(), answer["username"].as_str()),
        (Some(id.as_str()), Some(upn.as_str()))
    );
    assert_eq!(introspect(&url, &before).await, json!({"active": false}));
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn a_security_incident_acts_at_once_and_keeps_the_licence_until_a_person_decides() {
    let scenario = start("incident", json!({}), sim_config()).await;
    let (id, upn) = provisioned(&scenario, "kim", "Kim", "Park").await;
    ordinary_groups(&scenario, &upn).await;
    create(
        &scenario,
        &deactivation("kim-incident", "kim", DeactivationReason::SecurityIncident),
    )
    .await;
    let done = wait_phase(&scenario, "kim-incident", DeactivationPhase::Deactivated).await;
    assert_steps_in_order(&done, &FORWARD);
    let status = done.status.unwrap();
    assert_eq!(
        status.license_outcome,
        Some(LicenseOutcome::AwaitingDecision)
    );
    assert_eq!(
        account(&scenario, &id).unwrap()["assignedLicenses"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(account(&scenario, &id).unwrap()["accountEnabled"], false);

    patch_spec(
        &scenario,
        "kim-incident",
        json!({ "licenseDecision": "Release" }),
    )
    .await;
    wait_deactivation(&scenario, "kim-incident", "the licence released", |d| {
        d.status.as_ref().and_then(|s| s.license_outcome) == Some(LicenseOutcome::Released)
    })
    .await;
    assert_eq!(
        account(&scenario, &id).unwrap()["assignedLicenses"],
        json!([])
    );
    support::scenario::wait(
        "a LicenseDecided event",
        || async { Some(scenario.events_for("kim-incident").await) },
        |events| {
            events
                .iter()
                .any(|e| e.reason.as_deref() == Some("LicenseDecided"))
        },
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// Killed in the middle of each step

/// Holds back Graph's answer to `fault` (after Graph has acted), kills the operator while it
/// waits, restarts it, and checks that the deactivation completes with every write done
/// exactly once. `gate`, when given, holds an earlier call of the same pass for a moment, so
/// the fault can be set just before the step (when its key also matches an earlier step).
async fn killed_during(prefix: &str, fault: &str, gate: Option<&str>) {
    let policy = json!({ "mailboxRetention": "10s" });
    let mut scenario = start(prefix, policy, sim_config()).await;
    let (id, upn) = provisioned(&scenario, "omar", "Omar", "Haddad").await;
    let groups = ordinary_groups(&scenario, &upn).await;
    let hold = |key: &str, ms: u64| graph_sim::Faults {
        delay_after_commit_ms: [(key.to_string(), ms)].into(),
        ..Default::default()
    };
    let is_logged = |key: &str| {
        let key = key.to_string();
        move |requests: &Vec<Value>| requests.iter().any(|r| matches_key(&key, r))
    };
    let log = || async { Some(scenario.sim.requests()) };
    match gate {
        Some(gate) => scenario.sim.set_faults(hold(gate, 3_000)),
        None => scenario.sim.set_faults(hold(fault, 60_000)),
    }
    let terminate = deactivation("omar-leaves", "omar", DeactivationReason::Termination);
    create(&scenario, &terminate).await;
    if let Some(gate) = gate {
        wait(&format!("the gate {gate}"), log, is_logged(gate)).await;
        scenario.sim.set_faults(hold(fault, 60_000));
    }
    wait(&format!("the held call {fault}"), log, is_logged(fault)).await;
    scenario.operator().kill();
    scenario.sim.set_faults(graph_sim::Faults::default());
    let namespace = scenario.namespace.clone();
    scenario.operator().restart(&namespace);

    let done = wait_phase(&scenario, "omar-leaves", DeactivationPhase::Completed).await;
    assert_steps_in_order(&done, &[&FORWARD[..], &[Step::RetentionEnded]].concat());
    // Nothing skipped: Entra shows every step's effect.
    assert!(
        account(&scenario, &id).is_none(),
        "deleted after the retention window"
    );
    let deleted = scenario.sim.deleted_users();
    let entra = deleted
        .iter()
        .find(|u| u["id"] == id)
        .expect("soft-deleted");
    assert_eq!(entra["accountEnabled"], false);
    assert!(entra["signInSessionsValidFromDateTime"].is_string());
    assert_eq!(entra["assignedLicenses"], json!([]));
    for group in &groups {
        assert!(!group_members(&scenario, group).contains(&id));
    }
    // Nothing done twice.
    let user = format!("/users/{id}");
    assert_eq!(
        requests(&scenario, "PATCH", &user, None),
        1,
        "sign-in blocked once"
    );
    assert_eq!(
        requests(
            &scenario,
            "POST",
            &format!("{user}/revokeSignInSessions"),
            None
        ),
        1,
        "sessions revoked once"
    );
    for group in &groups {
        let path = format!("/groups/{group}/members/{id}/$ref");
        assert_eq!(
            requests(&scenario, "DELETE", &path, None),
            1,
            "left {group} once"
        );
    }
    assert_eq!(
        requests(&scenario, "POST", &format!("{user}/assignLicense"), None),
        2,
        "licence assigned once while provisioning, released once"
    );
    assert_eq!(
        requests(&scenario, "DELETE", &user, None),
        1,
        "deleted once"
    );
    let uid = done.uid().unwrap();
    let selector = format!("{}={uid}", m365_operator::archive::UID_LABEL);
    let stored = archives(&scenario)
        .list(&ListParams::default().labels(&selector))
        .await
        .unwrap();
    assert_eq!(stored.items.len(), 1, "archived once");
}

/// Whether a logged request matches a fault key such as `PATCH /users/{id}`.
fn matches_key(key: &str, request: &Value) -> bool {
    let (method, pattern) = key.split_once(' ').unwrap();
    let path = request["path"].as_str().unwrap_or_default();
    let path = path.strip_prefix("/v1.0").unwrap_or(path);
    let wanted: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let got: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    request["method"] == method
        && wanted.len() == got.len()
        && wanted
            .iter()
            .zip(&got)
            .all(|(w, g)| w.starts_with('{') || w.eq_ignore_ascii_case(g))
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn killed_while_blocking_sign_in_it_resumes_without_repeating() {
    killed_during("kill-block", "PATCH /users/{id}", None).await;
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn killed_while_revoking_sessions_it_resumes_without_repeating() {
    killed_during("kill-revoke", "POST /users/{id}/revokeSignInSessions", None).await;
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn killed_while_leaving_groups_it_resumes_without_repeating() {
    killed_during(
        "kill-groups",
        "DELETE /groups/{id}/members/{member}/$ref",
        None,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn killed_while_releasing_the_licence_it_resumes_without_repeating() {
    // Provisioning assigned the licence by the same call; the group step's listing gates.
    killed_during(
        "kill-licence",
        "POST /users/{id}/assignLicense",
        Some("GET /users/{id}/memberOf"),
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn killed_while_archiving_it_resumes_without_repeating() {
    killed_during("kill-archive", "GET /users/{id}/appRoleAssignments", None).await;
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn killed_while_deleting_the_account_it_resumes_without_repeating() {
    // The archive's role listing comes right before the retention wait and the delete.
    killed_during(
        "kill-delete",
        "DELETE /users/{id}",
        Some("GET /users/{id}/appRoleAssignments"),
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// Groups, the guard, the API server's rules

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn groups_graph_refuses_are_reported_and_the_rest_are_left() {
    // The app may not change role-assignable groups.
    let mut config = sim_config();
    for client in &mut config.clients {
        client
            .permissions
            .retain(|p| p != "RoleManagement.ReadWrite.Directory");
    }
    let scenario = start("groups", json!({}), config).await;
    let (id, upn) = provisioned(&scenario, "lea", "Lea", "Roth").await;
    let finance = seed_group(
        &scenario,
        json!({"displayName": "Finance", "members": [upn]}),
    )
    .await;
    let dynamic = seed_group(
        &scenario,
        json!({
            "displayName": "All employees", "groupTypes": ["DynamicMembership"],
            "membershipRule": "user.accountEnabled -eq true", "members": [upn],
        }),
    )
    .await;
    let distribution = seed_group(
        &scenario,
        json!({
            "displayName": "Announcements", "mailEnabled": true, "securityEnabled": false,
            "mailNickname": "announce", "members": [upn],
        }),
    )
    .await;
    let admins = seed_group(
        &scenario,
        json!({
            "displayName": "Helpdesk admins", "isAssignableToRole": true, "members": [upn],
        }),
    )
    .await;
    create(
        &scenario,
        &deactivation("lea-leaves", "lea", DeactivationReason::Termination),
    )
    .await;
    let done = wait_phase(&scenario, "lea-leaves", DeactivationPhase::Deactivated).await;
    assert_steps_in_order(&done, &FORWARD);
    let recorded = done.status.unwrap().groups;
    let outcome = |gid: &str| {
        let g = recorded.iter().find(|g| g.id == gid).expect("recorded");
        (g.state, g.refusal)
    };
    assert_eq!(outcome(&finance), (MembershipState::Left, None));
    assert_eq!(
        outcome(&dynamic),
        (MembershipState::Kept, Some(GroupRefusal::Dynamic))
    );
    assert_eq!(
        outcome(&distribution),
        (MembershipState::Kept, Some(GroupRefusal::MailEnabled))
    );
    assert_eq!(
        outcome(&admins),
        (MembershipState::Kept, Some(GroupRefusal::RoleAssignable))
    );
    assert!(!group_members(&scenario, &finance).contains(&id));
    assert!(group_members(&scenario, &admins).contains(&id));
    // Events are published after the status they explain: wait for them.
    let events = support::scenario::wait(
        "a GroupsNotChanged event",
        || async { Some(scenario.events_for("lea-leaves").await) },
        |events| {
            events
                .iter()
                .any(|e| e.reason.as_deref() == Some("GroupsNotChanged"))
        },
    )
    .await;
    let warning = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("GroupsNotChanged"))
        .expect("a warning naming the groups");
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let note = warning.note.clone().unwrap_or_default();
    for name in ["All employees", "Announcements", "Helpdesk admins"] {
        assert!(note.contains(name), "{note}");
    }
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn the_mass_deactivation_guard_pauses_beyond_its_threshold_until_confirmed() {
    let policy = json!({ "massDeactivation": { "threshold": 2, "windowMinutes": 60 } });
    let scenario = start("mass", policy, sim_config()).await;
    let people = [
        ("amy", "Amy", "Stone"),
        ("ben", "Ben", "Cole"),
        ("cai", "Cai", "Wu"),
    ];
    for (name, given, surname) in people {
        provisioned(&scenario, name, given, surname).await;
    }
    for (name, ..) in people {
        let d = deactivation(
            &format!("{name}-leaves"),
            name,
            DeactivationReason::Termination,
        );
        create(&scenario, &d).await;
    }
    let settled = |d: &Deactivation| {
        matches!(
            phase(d),
            Some(DeactivationPhase::Deactivated | DeactivationPhase::Paused)
        )
    };
    let mut paused = Vec::new();
    for (name, ..) in people {
        let name = format!("{name}-leaves");
        let d = wait_deactivation(&scenario, &name, "Deactivated or Paused", settled).await;
        if phase(&d) == Some(DeactivationPhase::Paused) {
            paused.push(d);
        }
    }
    assert_eq!(paused.len(), 1, "the third one waits");
    let held = &paused[0];
    let condition = held
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "Paused")
        .unwrap();
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_str()),
        ("True", "MassDeactivationGuard")
    );
    assert!(
        held.status.as_ref().unwrap().inactive_since.is_none(),
        "nothing done"
    );
    let user = held.spec.user.clone();
    let object_id = scenario
        .users()
        .get(&user)
        .await
        .unwrap()
        .status
        .unwrap()
        .object_id
        .unwrap();
    assert_eq!(
        account(&scenario, &object_id).unwrap()["accountEnabled"],
        true
    );

    let confirm = json!({"metadata": {"annotations": {
        "m365-operator.io/confirm-mass-deactivation": "true"
    }}});
    deactivations(&scenario)
        .patch(
            &held.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&confirm),
        )
        .await
        .unwrap();
    let done = wait_phase(&scenario, &held.name_any(), DeactivationPhase::Deactivated).await;
    assert_steps_in_order(&done, &FORWARD);
    assert_eq!(
        account(&scenario, &object_id).unwrap()["accountEnabled"],
        false
    );
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn a_scheduled_deactivation_waits_for_its_time() {
    let scenario = start("schedule", json!({}), sim_config()).await;
    let (id, _) = provisioned(&scenario, "eli", "Eli", "Moss").await;
    let mut d = deactivation("eli-leaves", "eli", DeactivationReason::Termination);
    let at = Timestamp::now() + jiff::SignedDuration::from_secs(6);
    d.spec.effective_at = Some(Time(at));
    create(&scenario, &d).await;
    let scheduled = wait_phase(&scenario, "eli-leaves", DeactivationPhase::Scheduled).await;
    assert!(scheduled.status.unwrap().started_at.is_none());
    assert_eq!(account(&scenario, &id).unwrap()["accountEnabled"], true);
    let done = wait_phase(&scenario, "eli-leaves", DeactivationPhase::Deactivated).await;
    let blocked = step_time(&done, Step::SignInBlocked).unwrap();
    assert!(
        blocked.as_second() >= at.as_second(),
        "not before {at}: {blocked}"
    );
    let sla = done.status.unwrap().sla.unwrap();
    assert_eq!(
        sla.started_at.0.as_second(),
        at.as_second(),
        "the SLA counts from then"
    );
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn the_api_server_refuses_malformed_deactivations() {
    let scenario = Scenario::without_operator("deact-rules").await;
    let api = deactivations(&scenario);
    let refused = |d: Deactivation| {
        let api = api.clone();
        async move {
            match api.create(&PostParams::default(), &d).await {
                Err(kube::Error::Api(status)) => status.message,
                other => panic!("accepted: {other:?}"),
            }
        }
    };
    let mut short = deactivation("short", "ann", DeactivationReason::ExtendedLeave);
    short.spec.leave = Some(Leave {
        start: "2027-01-04".into(),
        end: "2027-04-04".into(),
    });
    assert!(refused(short).await.contains("more than 90 days"));
    let mut undated = deactivation("undated", "ann", DeactivationReason::ExtendedLeave);
    undated.spec.leave = None;
    assert!(refused(undated).await.contains("leave dates are required"));
    let mut final_one = deactivation("final", "ann", DeactivationReason::Termination);
    final_one.spec.reactivate = true;
    assert!(refused(final_one).await.contains("only an ExtendedLeave"));
    let mut decided = deactivation("decided", "ann", DeactivationReason::Termination);
    decided.spec.license_decision = Some(m365_operator::api::deactivation::LicenseDecision::Keep);
    assert!(refused(decided).await.contains("licenseDecision"));
    let mut bad_date = deactivation("bad-date", "ann", DeactivationReason::ExtendedLeave);
    bad_date.spec.leave = Some(Leave {
        start: "next monday".into(),
        end: "2027-07-30".into(),
    });
    refused(bad_date).await;

    let leave = deactivation("long", "ann", DeactivationReason::ExtendedLeave);
    api.create(&PostParams::default(), &leave)
        .await
        .expect("a 207-day leave is fine");
    let change = |spec: Value| {
        let api = api.clone();
        async move {
            let patch = json!({ "spec": spec });
            api.patch("long", &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(drop)
        }
    };
    let error = change(json!({"user": "bob"})).await.unwrap_err();
    assert!(error.to_string().contains("user cannot change"), "{error}");
    change(json!({"reactivate": true}))
        .await
        .expect("a leave can end");
    let error = change(json!({"reactivate": false})).await.unwrap_err();
    assert!(error.to_string().contains("cannot be withdrawn"), "{error}");
}
