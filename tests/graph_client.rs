//! The operator's Graph client against the simulator, one test per row of the edge-case
//! table the real service is known for. No cluster needed.

use std::time::{Duration, Instant};

use m365_operator::graph::batch::BatchRequest;
use m365_operator::graph::budget::Limits;
use m365_operator::graph::retry::RetryPolicy;
use m365_operator::graph::users::NewUser;
use m365_operator::graph::{Category, Credential, Graph, Sensitive, TenantConnection};
use m365_operator::password::{self, Password};
use serde_json::json;

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT_ID: &str = "00000000-0000-0000-0000-0000000000c1";
const E3: &str = "6fd2c87f-b296-42f0-b197-1e91e994b900";

struct Fixture {
    sim: graph_sim::Handle,
    graph: Graph,
}

async fn fixture_with(config: graph_sim::Config, secret: &str) -> Fixture {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = graph_sim::serve(config, listener).await.unwrap();
    let graph = Graph::new(TenantConnection {
        graph: format!("{}/v1.0", sim.base_url()),
        login: sim.base_url(),
        tenant_id: TENANT.into(),
        limits: Limits::default(),
        ca_bundle: None,
        credential: Credential::ClientSecret {
            client_id: CLIENT_ID.into(),
            secret: Sensitive::new(secret),
        },
    })
    .unwrap()
    .with_retry(RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(3),
        replication_window: Duration::from_secs(5),
    });
    Fixture { sim, graph }
}

async fn fixture() -> Fixture {
    fixture_with(graph_sim::Config::default(), "sim-client-secret").await
}

fn new_user<'a>(upn: &'a str, password: &'a Password) -> NewUser<'a> {
    NewUser {
        user_principal_name: upn,
        mail_nickname: upn.split('@').next().unwrap(),
        display_name: "Test Person",
        given_name: "Test",
        surname: "Person",
        department: None,
        job_title: None,
        usage_location: "DE",
        password,
        owner_marker: "m365-operator:tests/person",
    }
}

fn requests_to(sim: &graph_sim::Handle, method: &str, path_end: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| {
            r["method"] == method && r["path"].as_str().is_some_and(|p| p.ends_with(path_end))
        })
        .count()
}

#[tokio::test]
async fn row_01_a_duplicate_upn_is_a_conflict_and_the_account_can_be_found() {
    let f = fixture().await;
    let password = password::generate().unwrap();
    let first = f
        .graph
        .create_user(&new_user("ann.lee@contoso.example", &password))
        .await
        .unwrap();
    let again = f
        .graph
        .create_user(&new_user("Ann.Lee@contoso.example", &password))
        .await;
    let error = again.unwrap_err();
    assert_eq!(error.category, Category::Conflict);
    assert!(error.has_detail("ObjectConflict"), "{error:?}");
    assert_eq!(error.target(), Some("userPrincipalName"));
    let found = f
        .graph
        .find_user_by_upn("ann.lee@contoso.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, first.id);
    assert_eq!(found.owner_marker(), Some("m365-operator:tests/person"));
    assert_eq!(
        requests_to(&f.sim, "POST", "/v1.0/users"),
        2,
        "no blind retry of a conflict"
    );
}

#[tokio::test]
async fn an_account_is_found_by_its_owner_marker_whatever_its_upn() {
    let f = fixture().await;
    let password = password::generate().unwrap();
    let first = f
        .graph
        .create_user(&new_user("rita.rename@contoso.example", &password))
        .await
        .unwrap();
    let found = f
        .graph
        .find_users_by_owner_marker("m365-operator:tests/person")
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        [first.id.as_str()]
    );
    assert!(
        f.graph
            .find_users_by_owner_marker("m365-operator:tests/other")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn row_02_an_accented_upn_is_rejected_for_good() {
    let f = fixture().await;
    let password = password::generate().unwrap();
    let user = NewUser {
        mail_nickname: "zoe",
        ..new_user("zoë@contoso.example", &password)
    };
    let error = f.graph.create_user(&user).await.unwrap_err();
    assert_eq!(error.category, Category::Rejected);
    assert!(error.message.contains("userPrincipalName"), "{error}");
    assert_eq!(requests_to(&f.sim, "POST", "/v1.0/users"), 1);
}

#[tokio::test]
async fn row_03_an_unverified_domain_is_rejected_for_good() {
    let f = fixture().await;
    let password = password::generate().unwrap();
    let error = f
        .graph
        .create_user(&new_user("ann@fabrikam.example", &password))
        .await
        .unwrap_err();
    assert_eq!(error.category, Category::Rejected);
    assert!(error.message.contains("domain portion"), "{error}");
}

#[tokio::test]
async fn row_04_a_weak_password_is_rejected_and_ours_are_not() {
    let f = fixture().await;
    let weak = Password::from_secret("password".into());
    let error = f
        .graph
        .create_user(&new_user("weak@contoso.example", &weak))
        .await
        .unwrap_err();
    assert_eq!(error.category, Category::Rejected);
    assert!(error.message.contains("complexity"), "{error}");
    for n in 0..20 {
        let strong = password::generate().unwrap();
        let upn = format!("strong{n}@contoso.example");
        f.graph
            .create_user(&new_user(&upn, &strong))
            .await
            .expect("generated passwords comply");
    }
}

#[tokio::test]
async fn row_05_a_new_account_is_waited_for_within_the_replication_window() {
    let config = graph_sim::Config {
        replication_lag_ms: 1_500,
        ..Default::default()
    };
    let f = fixture_with(config, "sim-client-secret").await;
    let password = password::generate().unwrap();
    let created = f
        .graph
        .create_user(&new_user("new.hire@contoso.example", &password))
        .await
        .unwrap();
    assert_eq!(
        f.graph.get_user(&created.id).await.unwrap(),
        None,
        "not replicated yet"
    );
    let started = Instant::now();
    f.graph
        .assign_license(&created.id, E3)
        .await
        .expect("assigned once replicated");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "it had to wait"
    );
    assert!(requests_to(&f.sim, "POST", "/assignLicense") >= 2);
}

#[tokio::test]
async fn row_07_a_licence_without_usage_location_is_rejected_until_set() {
    let f = fixture().await;
    let account = f.sim.users().len();
    assert_eq!(account, 0);
    let seeded = seed(
        &f,
        json!({"userPrincipalName": "nomad@contoso.example", "displayName": "Nomad"}),
    )
    .await;
    let id = seeded["id"].as_str().unwrap();
    let error = f.graph.assign_license(id, E3).await.unwrap_err();
    assert_eq!(error.category, Category::Rejected);
    assert!(error.message.contains("usage location"), "{error}");
    f.graph
        .update_user(id, &json!({"usageLocation": "FR"}))
        .await
        .unwrap();
    f.graph
        .assign_license(id, E3)
        .await
        .expect("assignable once the location is set");
}

#[tokio::test]
async fn row_08_no_free_seats_is_reported_with_the_counts() {
    let f = fixture().await;
    f.sim.set_seats("ENTERPRISEPACK", 0);
    let skus = f.graph.subscribed_skus().await.unwrap();
    let e3 = skus
        .iter()
        .find(|s| s.sku_part_number == "ENTERPRISEPACK")
        .unwrap();
    assert_eq!(e3.available(), 0);
    let password = password::generate().unwrap();
    let created = f
        .graph
        .create_user(&new_user("late@contoso.example", &password))
        .await
        .unwrap();
    let error = f.graph.assign_license(&created.id, E3).await.unwrap_err();
    assert!(error.message.contains("available licenses"), "{error}");
    assert_eq!(error.category, Category::Rejected);
}

#[tokio::test]
async fn row_13_an_advanced_query_is_sent_with_its_headers() {
    let f = fixture().await;
    // A rename keeps the old address as a secondary proxy address, as Exchange does.
    let seeded = seed(
        &f,
        json!({"userPrincipalName": "samuel@contoso.example", "displayName": "Sam"}),
    )
    .await;
    let id = seeded["id"].as_str().unwrap();
    f.graph
        .update_user(id, &json!({"userPrincipalName": "sam@contoso.example"}))
        .await
        .unwrap();
    let owners = f
        .graph
        .find_address_owners("samuel@contoso.example")
        .await
        .unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].user_principal_name, "sam@contoso.example");
    assert!(
        f.graph
            .find_address_owners("nobody@contoso.example")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn row_14_lists_are_followed_across_pages() {
    let users = (0..250)
        .map(|n| json!({"userPrincipalName": format!("pat.lee{n}@contoso.example"), "displayName": "Pat"}))
        .collect();
    let config = graph_sim::Config {
        users,
        ..Default::default()
    };
    let f = fixture_with(config, "sim-client-secret").await;
    let found = f.graph.find_users_by_upn_prefix("pat.lee").await.unwrap();
    assert_eq!(found.len(), 250);
    assert!(
        requests_to(&f.sim, "GET", "/v1.0/users") >= 3,
        "three pages of 100"
    );
}

#[tokio::test]
async fn row_15_a_wrong_client_secret_is_final() {
    let f = fixture_with(graph_sim::Config::default(), "not-the-secret").await;
    let error = f.graph.subscribed_skus().await.unwrap_err();
    assert_eq!(error.category, Category::Unauthenticated);
    assert_eq!(error.code, "AADSTS7000215");
    assert!(!error.to_string().contains("not-the-secret"));
    assert_eq!(
        requests_to(&f.sim, "POST", "/oauth2/v2.0/token"),
        1,
        "no retry on a bad secret"
    );
}

#[tokio::test]
async fn row_15_an_expired_access_token_is_renewed_before_use() {
    let config = graph_sim::Config {
        token_lifetime_seconds: 2,
        ..Default::default()
    };
    let f = fixture_with(config, "sim-client-secret").await;
    f.graph.subscribed_skus().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    f.graph
        .subscribed_skus()
        .await
        .expect("a fresh token is fetched");
    assert_eq!(requests_to(&f.sim, "POST", "/oauth2/v2.0/token"), 2);
    let refused = f
        .sim
        .requests()
        .iter()
        .filter(|r| r["status"] == 401)
        .count();
    assert_eq!(refused, 0, "no call went out with an expired token");
}

async fn seed(f: &Fixture, user: serde_json::Value) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(format!("{}/_sim/users", f.sim.base_url()))
        .json(&user)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

const SALES: &str = "7f1a9c2e-3b4d-4e5f-8a6b-9c0d1e2f3a4b";
const DYNAMIC: &str = "0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b";

/// A tenant with a plain security group, a dynamic group and a member in the first.
fn config_with_groups() -> graph_sim::Config {
    let groups = json!([
        {"id": SALES, "displayName": "Sales", "securityEnabled": true, "members": ["kim@contoso.example"]},
        {"id": DYNAMIC, "displayName": "All staff", "securityEnabled": true,
         "groupTypes": ["DynamicMembership"], "membershipRule": "user.accountEnabled -eq true"},
    ]);
    graph_sim::Config {
        users: vec![json!({"userPrincipalName": "kim@contoso.example", "displayName": "Kim"})],
        groups: serde_json::from_value(groups).unwrap(),
        ..Default::default()
    }
}

async fn kim(f: &Fixture) -> String {
    f.graph
        .find_user_by_upn("kim@contoso.example")
        .await
        .unwrap()
        .unwrap()
        .id
}

#[tokio::test]
async fn row_06_a_group_add_right_after_the_create_waits_for_replication() {
    let config = graph_sim::Config {
        replication_lag_ms: 1_500,
        ..config_with_groups()
    };
    let f = fixture_with(config, "sim-client-secret").await;
    let password = password::generate().unwrap();
    let created = f
        .graph
        .create_user(&new_user("fresh@contoso.example", &password))
        .await
        .unwrap();
    f.graph
        .add_member(SALES, &created.id)
        .await
        .expect("added once replicated");
    let refused = f
        .sim
        .requests()
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/members/$ref"))
                && r["status"] == 400
        })
        .count();
    assert!(
        refused >= 1,
        "Graph first refused the reference to the new user"
    );
}

#[tokio::test]
async fn row_09_adding_a_member_twice_or_removing_a_non_member_is_success() {
    let f = fixture_with(config_with_groups(), "sim-client-secret").await;
    let kim = kim(&f).await;
    f.graph
        .add_member(SALES, &kim)
        .await
        .expect("already a member counts as done");
    f.graph.remove_member(SALES, &kim).await.unwrap();
    f.graph
        .remove_member(SALES, &kim)
        .await
        .expect("not a member counts as done");
    let groups = f.graph.member_of(&kim).await.unwrap();
    assert!(groups.is_empty(), "{groups:?}");
}

#[tokio::test]
async fn row_10_a_dynamic_group_refuses_for_good() {
    let f = fixture_with(config_with_groups(), "sim-client-secret").await;
    let kim = kim(&f).await;
    let error = f.graph.add_member(DYNAMIC, &kim).await.unwrap_err();
    assert_eq!(error.category, Category::Forbidden);
    assert_eq!(error.code, "Authorization_RequestDenied");
    assert_eq!(
        requests_to(&f.sim, "POST", &format!("{DYNAMIC}/members/$ref")),
        1,
        "no retry"
    );
}

#[tokio::test]
async fn row_11_throttling_is_honoured_alone_and_inside_a_batch() {
    let mut config = config_with_groups();
    config.faults.seed = Some(11);
    config.faults.throttle_rate = 0.4;
    config.faults.retry_after_seconds = Some(0.25);
    let f = fixture_with(config, "sim-client-secret").await;
    for _ in 0..6 {
        f.graph
            .subscribed_skus()
            .await
            .expect("throttled calls are retried after Retry-After");
    }
    let kim = kim(&f).await;
    let adds: Vec<_> = (0..10)
        .map(|n| BatchRequest {
            id: format!("{n}"),
            method: reqwest::Method::POST,
            url: format!("/groups/{SALES}/members/$ref"),
            body: Some(
                json!({"@odata.id": format!("{}/v1.0/directoryObjects/{kim}", f.sim.base_url())}),
            ),
            depends_on: vec![],
        })
        .collect();
    let answers = f.graph.batch(&adds).await.unwrap();
    assert_eq!(answers.len(), 10, "one final answer per request");
    assert!(answers.iter().all(|a| a.status != 429), "{answers:#?}");
    let requests = f.sim.requests();
    let throttled = requests.iter().filter(|r| r["status"] == 429).count();
    let inner: Vec<_> = requests.iter().filter(|r| r["inBatch"] == true).collect();
    let inner_throttled = inner.iter().filter(|r| r["status"] == 429).count();
    assert!(throttled > 0, "the fault was injected");
    // Only failed ids are sent again: every inner request beyond the first ten was a retry.
    assert_eq!(inner.len(), 10 + inner_throttled);
}

#[tokio::test]
async fn row_12_a_failed_prerequisite_fails_its_dependents_without_blind_retries() {
    let f = fixture_with(config_with_groups(), "sim-client-secret").await;
    let kim = kim(&f).await;
    let missing_group = "11111111-0000-4000-8000-000000000000";
    let reference =
        json!({"@odata.id": format!("{}/v1.0/directoryObjects/{kim}", f.sim.base_url())});
    let chain = [
        BatchRequest {
            id: "first".into(),
            method: reqwest::Method::POST,
            url: format!("/groups/{missing_group}/members/$ref"),
            body: Some(reference.clone()),
            depends_on: vec![],
        },
        BatchRequest {
            id: "second".into(),
            method: reqwest::Method::DELETE,
            url: format!("/groups/{SALES}/members/{kim}/$ref"),
            body: None,
            depends_on: vec!["first".into()],
        },
    ];
    let answers = f.graph.batch(&chain).await.unwrap();
    assert_eq!(
        answers.iter().map(|a| a.status).collect::<Vec<_>>(),
        [404, 424]
    );
    assert_eq!(
        requests_to(&f.sim, "POST", "/$batch"),
        1,
        "a permanent failure is not retried"
    );
    assert_eq!(answers[1].error("remove member").unwrap().status, Some(424));
}

#[tokio::test]
async fn a_mail_is_not_sent_again_when_graph_may_have_sent_it() {
    let mut config = graph_sim::Config::default();
    config.users.push(json!({
        "userPrincipalName": "sender@contoso.example", "displayName": "Sender", "usageLocation": "DE",
        "assignedLicenses": [{"skuId": E3}],
    }));
    config.faults.server_error_rate = 1.0;
    config.faults.only = vec!["POST /users/{id}/sendMail".into()];
    let f = fixture_with(config, "sim-client-secret").await;
    let mail = m365_operator::graph::mail::Mail {
        id: "m-1".into(),
        to: vec!["someone@example.net".into()],
        subject: "s".into(),
        body: "b".into(),
    };
    let error = f
        .graph
        .send_mail("sender@contoso.example", &mail)
        .await
        .unwrap_err();
    assert_eq!(error.category, Category::Unavailable);
    // A 5xx may come after the mail went out: the caller checks Sent Items, the client does not
    // simply send again.
    assert_eq!(requests_to(&f.sim, "POST", "/sendMail"), 1);
}
