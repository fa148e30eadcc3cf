//! A User manifest becomes an Active, licensed Entra account, end to end: real API server,
//! the operator binary, and the Graph simulator.

mod support;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::DeleteParams;
use m365_operator::api::Phase;
use serde_json::json;
use support::scenario::{Scenario, condition, wait};

fn reasons(events: &[k8s_openapi::api::events::v1::Event]) -> Vec<String> {
    events.iter().filter_map(|e| e.reason.clone()).collect()
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn user_becomes_active_with_conditions_and_events() {
    let scenario = Scenario::start("provision").await;
    scenario
        .create(&scenario.user("zoe", "Zoë", "Müller"))
        .await;
    let user = scenario.wait_ready("zoe").await;

    let status = user.status.clone().unwrap();
    assert_eq!(status.phase, Some(Phase::Active));
    assert_eq!(
        status.user_principal_name.as_deref(),
        Some("zoe.muller@contoso.example")
    );
    assert_eq!(status.assigned_license.as_deref(), Some("ENTERPRISEPACK"));
    assert_eq!(status.observed_generation, user.metadata.generation);
    assert_eq!(
        status.credentials_secret.as_deref(),
        Some("zoe-credentials")
    );
    for type_ in ["Provisioned", "Licensed", "Ready"] {
        assert_eq!(
            condition(&user, type_).map(|c| c.0).as_deref(),
            Some("True"),
            "{type_}"
        );
    }

    let accounts = scenario.accounts_named("zoe.muller@contoso.example");
    assert_eq!(accounts.len(), 1, "{accounts:#?}");
    let account = &accounts[0];
    assert_eq!(account["id"].as_str(), status.object_id.as_deref());
    assert_eq!(account["usageLocation"], "DE");
    assert_eq!(account["displayName"], "Zoë Müller");
    assert_eq!(
        account["assignedLicenses"].as_array().map(Vec::len),
        Some(1)
    );

    let events = wait(
        "AccountCreated, LicenseAssigned and Provisioned events",
        || async { Some(scenario.events_for("zoe").await) },
        |events| {
            let seen = reasons(events);
            ["AccountCreated", "LicenseAssigned", "Provisioned"]
                .iter()
                .all(|r| seen.iter().any(|s| s == r))
        },
    )
    .await;
    assert!(
        events.iter().all(|e| e.type_.as_deref() == Some("Normal")),
        "{events:#?}"
    );
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn the_password_lives_in_the_secret_only() {
    let scenario = Scenario::start("password").await;
    scenario
        .create(&scenario.user("lukasz", "Łukasz", "Øster"))
        .await;
    let user = scenario.wait_ready("lukasz").await;
    assert_eq!(
        user.status.as_ref().unwrap().user_principal_name.as_deref(),
        Some("lukasz.oester@contoso.example")
    );

    let secrets: Api<Secret> = Api::namespaced(scenario.client.clone(), &scenario.namespace);
    let secret = secrets
        .get("lukasz-credentials")
        .await
        .expect("the credentials Secret");
    let data = secret.data.clone().unwrap();
    let password = String::from_utf8(data["password"].0.clone()).unwrap();
    assert!(
        password.len() >= 12,
        "too short: {} characters",
        password.len()
    );
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    assert!(
        classes.iter().filter(|&&c| c).count() >= 3,
        "weak password shape"
    );
    let owner = &secret.metadata.owner_references.clone().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("User", "lukasz")
    );

    let status = serde_json::to_string(&user.status).unwrap();
    let events = serde_json::to_string(&scenario.events_for("lukasz").await).unwrap();
    let logs = scenario.operator.as_ref().unwrap().logs();
    assert!(
        logs.contains("account created"),
        "the log should show the create: {logs}"
    );
    for (place, text) in [
        ("status", &status),
        ("events", &events),
        ("operator log", &logs),
    ] {
        assert!(
            !text.contains(&password),
            "the password appears in the {place}"
        );
        assert!(
            !text.contains("sim-client-secret"),
            "the client secret appears in the {place}"
        );
    }
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn killed_right_after_the_create_call_it_still_makes_one_account() {
    let mut scenario = Scenario::without_operator("crash").await;
    // Graph commits the create but holds the answer back: the operator dies not knowing.
    scenario.sim.set_faults(graph_sim::Faults {
        delay_after_commit_ms: [("POST /users".to_string(), 60_000)].into(),
        ..Default::default()
    });
    scenario = scenario.with_operator();
    scenario
        .create(&scenario.user("omar", "Omar", "Haddad"))
        .await;
    let upn = "omar.haddad@contoso.example";
    wait(
        "the account in the simulator",
        || async { Some(scenario.accounts_named(upn)) },
        |a| !a.is_empty(),
    )
    .await;
    scenario.operator().kill();
    let before = scenario.users().get("omar").await.unwrap();
    assert!(
        before
            .status
            .as_ref()
            .and_then(|s| s.object_id.clone())
            .is_none(),
        "no id yet"
    );

    scenario.sim.set_faults(graph_sim::Faults::default());
    let namespace = scenario.namespace.clone();
    scenario.operator().restart(&namespace);
    let user = scenario.wait_ready("omar").await;

    let accounts = scenario.accounts_named(upn);
    assert_eq!(accounts.len(), 1, "{accounts:#?}");
    assert_eq!(
        accounts[0]["id"].as_str(),
        user.status.as_ref().unwrap().object_id.as_deref()
    );
    assert_eq!(condition(&user, "Provisioned").unwrap().1, "AccountAdopted");
    let creates = scenario
        .sim
        .requests()
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/v1.0/users")
        .count();
    assert_eq!(creates, 1, "the operator must not create twice");
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn a_name_without_latin_spelling_fails_clearly_until_overridden() {
    let scenario = Scenario::start("names").await;
    scenario
        .create(&scenario.user("dmitri", "Дмитрий", "Smith"))
        .await;
    let user = scenario
        .wait_user("dmitri", "phase Failed", |u| {
            u.status.as_ref().and_then(|s| s.phase) == Some(Phase::Failed)
        })
        .await;
    let (status, reason, message) = condition(&user, "Ready").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("False", "InvalidName"));
    assert!(message.contains("spec.upnLocalPart"), "{message}");
    assert!(
        scenario.sim.users().iter().all(|u| u["surname"] != "Smith"),
        "no account may exist"
    );
    wait(
        "a Warning event InvalidName",
        || async { Some(scenario.events_for("dmitri").await) },
        |events| {
            events.iter().any(|e| {
                e.reason.as_deref() == Some("InvalidName") && e.type_.as_deref() == Some("Warning")
            })
        },
    )
    .await;

    scenario
        .patch_spec("dmitri", json!({"upnLocalPart": "dmitri.smith"}))
        .await;
    let user = scenario.wait_ready("dmitri").await;
    assert_eq!(
        user.status.unwrap().user_principal_name.as_deref(),
        Some("dmitri.smith@contoso.example")
    );
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn the_tenant_reports_connection_and_seats() {
    let scenario = Scenario::start("tenant").await;
    let tenant = wait(
        "Connected=True",
        || async { scenario.tenants().get(scenario.tenant_name()).await.ok() },
        |t| {
            t.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Connected" && c.status == "True")
            })
        },
    )
    .await;
    let seats = tenant.status.unwrap().seats;
    let e3 = seats
        .iter()
        .find(|s| s.sku_part_number == "ENTERPRISEPACK")
        .expect("E3 seats");
    // The scenario's sender mailbox holds one E3 seat.
    assert_eq!((e3.enabled, e3.consumed, e3.available), (25, 1, 24));

    // A licence assigned is counted at once, not at the next periodic check minutes later.
    scenario
        .create(&scenario.user("tess", "Tess", "Okafor"))
        .await;
    scenario.wait_ready("tess").await;
    wait(
        "the Tenant to count the seat taken",
        || async { scenario.tenants().get(scenario.tenant_name()).await.ok() },
        |t| {
            t.status.as_ref().is_some_and(|s| {
                s.seats
                    .iter()
                    .any(|seat| seat.sku_part_number == "ENTERPRISEPACK" && seat.available == 23)
            })
        },
    )
    .await;

    scenario.create_credentials("not-the-secret").await;
    // The cached token stays valid; a spec change makes the operator sign in afresh.
    let patch = json!({"spec": {"licenses": {"E3": "ENTERPRISEPACK", "E5": "ENTERPRISEPREMIUM"}, "tenantId": "contoso.example"}});
    scenario
        .tenants()
        .patch(
            scenario.tenant_name(),
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    let tenant = wait(
        "Connected=False",
        || async { scenario.tenants().get(scenario.tenant_name()).await.ok() },
        |t| {
            t.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Connected" && c.status == "False")
            })
        },
    )
    .await;
    let connected = tenant
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Connected")
        .unwrap();
    assert_eq!(connected.reason, "CredentialsInvalid");
    assert!(
        connected.message.contains("AADSTS7000215"),
        "{}",
        connected.message
    );
    assert!(!connected.message.contains("not-the-secret"));
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn deleting_the_manifest_keeps_the_account() {
    let scenario = Scenario::start("orphan").await;
    scenario.create(&scenario.user("kim", "Kim", "Park")).await;
    scenario.wait_ready("kim").await;
    scenario
        .users()
        .delete("kim", &DeleteParams::default())
        .await
        .unwrap();
    wait(
        "the User to be gone",
        || async { Some(scenario.users().get_opt("kim").await.unwrap()) },
        |u| u.is_none(),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(scenario.accounts_named("kim.park@contoso.example").len(), 1);
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn a_lost_create_is_adopted_even_after_the_manifest_changed_its_address() {
    let mut scenario = Scenario::without_operator("crash-rename").await;
    scenario.sim.set_faults(graph_sim::Faults {
        delay_after_commit_ms: [("POST /users".to_string(), 60_000)].into(),
        ..Default::default()
    });
    scenario = scenario.with_operator();
    let mut user = scenario.user("rita", "Rita", "Rename");
    user.spec.upn_local_part = Some("rita.rename".into());
    scenario.create(&user).await;
    let first = "rita.rename@contoso.example";
    wait(
        "the account in the simulator",
        || async { Some(scenario.accounts_named(first)) },
        |a| !a.is_empty(),
    )
    .await;
    scenario.operator().kill();
    scenario.sim.set_faults(graph_sim::Faults::default());
    // Someone edits the address while the operator is down.
    scenario
        .patch_spec("rita", json!({"upnLocalPart": "rita.r"}))
        .await;
    let namespace = scenario.namespace.clone();
    scenario.operator().restart(&namespace);

    let user = scenario.wait_ready("rita").await;
    let marked: Vec<_> = scenario
        .sim
        .users()
        .into_iter()
        .filter(|u| u["surname"] == "Rename")
        .collect();
    assert_eq!(marked.len(), 1, "one account for one User: {marked:#?}");
    let status = user.status.unwrap();
    assert_eq!(status.object_id.as_deref(), marked[0]["id"].as_str());
    // Status says what Entra holds, not what the manifest now derives.
    assert_eq!(status.user_principal_name.as_deref(), Some(first));
}
