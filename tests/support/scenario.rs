//! One isolated world per test: a namespace, a Graph simulator, a Tenant pointing at it,
//! its credentials Secret, and an operator watching that namespace.
#![allow(dead_code, reason = "each test crate uses only part of this module")]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use m365_operator::api::tenant::{Credentials, Endpoints, LicenseMap, MailSettings, SecretKeyRef};
use m365_operator::api::user::{Approval, WelcomeMail};
use m365_operator::api::{LicenseTier, Tenant, TenantSpec, User, UserSpec};
use m365_operator::approval::ApprovalPolicy;
use serde_json::json;

use super::cluster::{self, Identity};
use super::operator::Operator;

pub const DOMAIN: &str = "contoso.example";
/// The HR partner the scenario's approval policy lists.
pub const HR_APPROVER: &str = "hr.partner@contoso.example";
/// The mailbox the operator sends from; it exists in every scenario's simulator.
pub const SENDER: &str = "it-onboarding@contoso.example";
pub const HR_MAILBOX: &str = "hr@contoso.example";
pub const IT_MANAGEMENT: &str = "it-management@contoso.example";
const CLIENT_ID: &str = "00000000-0000-0000-0000-0000000000c1";
const CLIENT_SECRET: &str = "sim-client-secret";

/// Everything one test works in.
pub struct Scenario {
    pub client: Client,
    pub namespace: String,
    pub sim: graph_sim::Handle,
    pub operator: Option<Operator>,
}

impl Scenario {
    /// A namespace, simulator and Tenant, with the operator running.
    pub async fn start(prefix: &str) -> Self {
        let scenario = Self::without_operator(prefix).await;
        scenario.with_operator()
    }

    /// Everything but the operator, for tests that start it themselves.
    pub async fn without_operator(prefix: &str) -> Self {
        Self::with_sim_config(prefix, sim_config()).await
    }

    pub async fn with_sim_config(prefix: &str, config: graph_sim::Config) -> Self {
        let client = cluster::client(Identity::Admin).await;
        cluster::install_crds(&client).await;
        let namespace = cluster::fresh_namespace(&client, prefix).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let sim = graph_sim::serve(config, listener)
            .await
            .expect("start the simulator");
        let scenario = Scenario {
            client,
            namespace,
            sim,
            operator: None,
        };
        scenario.create_credentials(CLIENT_SECRET).await;
        scenario.create_tenant().await;
        scenario
    }

    pub fn with_operator(mut self) -> Self {
        self.operator = Some(Operator::start(&self.namespace));
        self
    }

    pub fn operator(&mut self) -> &mut Operator {
        self.operator.as_mut().expect("the operator was started")
    }

    /// The Tenant of this scenario is named after its namespace.
    pub fn tenant_name(&self) -> &str {
        &self.namespace
    }

    pub fn users(&self) -> Api<User> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub fn tenants(&self) -> Api<Tenant> {
        Api::all(self.client.clone())
    }

    pub async fn create_credentials(&self, secret: &str) {
        let data = BTreeMap::from([("clientSecret".to_string(), ByteString(secret.into()))]);
        let manifest = Secret {
            metadata: ObjectMeta {
                name: Some("graph-app".into()),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        };
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let params = PatchParams::apply(cluster::FIELD_MANAGER).force();
        api.patch("graph-app", &params, &Patch::Apply(&manifest))
            .await
            .expect("apply credentials");
    }

    async fn create_tenant(&self) {
        let spec = TenantSpec {
            tenant_id: graph_sim::Config::default().tenant_id,
            domain: DOMAIN.into(),
            endpoints: Endpoints {
                graph: format!("{}/v1.0", self.sim.base_url()),
                login: self.sim.base_url(),
                ca_bundle: None,
            },
            credentials: Credentials {
                client_id: CLIENT_ID.into(),
                client_secret: Some(SecretKeyRef {
                    namespace: self.namespace.clone(),
                    name: "graph-app".into(),
                    key: "clientSecret".into(),
                }),
                certificate: None,
                workload_identity: None,
            },
            licenses: LicenseMap::default(),
            rate_limits: None,
            approval: Some(ApprovalPolicy {
                approvers: vec![HR_APPROVER.into()],
                approver_group: None,
                max_age_days: None,
                strict: None,
            }),
            calendar: None,
            mail: Some(MailSettings {
                sender: SENDER.into(),
                hr: HR_MAILBOX.into(),
                it_management: IT_MANAGEMENT.into(),
                welcome: None,
            }),
            deactivation: None,
            roles: None,
        };
        let mut tenant = Tenant::new(self.tenant_name(), spec);
        let labels = [(
            super::operator::TEST_LABEL.to_string(),
            self.namespace.clone(),
        )];
        tenant.metadata.labels = Some(labels.into());
        self.tenants()
            .create(&PostParams::default(), &tenant)
            .await
            .expect("create the Tenant");
    }

    /// A valid, HR-approved User of this scenario's tenant.
    pub fn user(&self, name: &str, given_name: &str, surname: &str) -> User {
        User::new(
            name,
            UserSpec {
                tenant: self.tenant_name().to_string(),
                given_name: given_name.into(),
                surname: surname.into(),
                display_name: None,
                department: Some("Finance".into()),
                job_title: None,
                usage_location: "DE".into(),
                license: LicenseTier::E3,
                upn_local_part: None,
                mail_nickname: None,
                approval: Approval {
                    approver: HR_APPROVER.into(),
                    reference: "HR-1042".into(),
                    approved_at: Time(jiff::Timestamp::now()),
                    token: None,
                },
                welcome_mail: Some(WelcomeMail {
                    recipient: format!("{name}.private@example.net"),
                }),
            },
        )
    }

    pub async fn create(&self, user: &User) -> User {
        self.users()
            .create(&PostParams::default(), user)
            .await
            .expect("create the User")
    }

    /// Merge-patches a User's spec, as a person editing the manifest would.
    pub async fn patch_spec(&self, name: &str, spec: serde_json::Value) {
        let patch = json!({ "spec": spec });
        self.users()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch the User");
    }

    /// Polls a User until `done` holds, or fails the test with its last status.
    pub async fn wait_user(&self, name: &str, what: &str, done: impl Fn(&User) -> bool) -> User {
        wait(what, || async { self.users().get(name).await.ok() }, done).await
    }

    pub async fn wait_ready(&self, name: &str) -> User {
        self.wait_user(name, "Ready=True", |u| {
            condition(u, "Ready").is_some_and(|c| c.0 == "True")
        })
        .await
    }

    /// Events about one object, oldest first.
    pub async fn events_for(&self, name: &str) -> Vec<Event> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
        let selector = format!("regarding.name={name}");
        let mut events = api
            .list(&ListParams::default().fields(&selector))
            .await
            .expect("list events")
            .items;
        events.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
        events
    }

    /// Merge-patches the Tenant's spec, as a person editing it would.
    ///
    /// With the operator running, returns once the operator has seen the change (the Tenant's
    /// `observedGeneration` caught up): what the test does next must not race a cache that
    /// still holds the old spec, which under load takes a while to follow.
    pub async fn patch_tenant(&self, spec: serde_json::Value) {
        let patch = json!({ "spec": spec });
        let patched = self
            .tenants()
            .patch(
                self.tenant_name(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .expect("patch the Tenant");
        if self.operator.is_none() {
            return;
        }
        let generation = patched.metadata.generation;
        wait(
            "the operator to see the Tenant change",
            || async { self.tenants().get(self.tenant_name()).await.ok() },
            |t| t.status.as_ref().and_then(|s| s.observed_generation) >= generation,
        )
        .await;
    }

    /// Moves the Tenant's client secret into `namespace`, for an operator whose own namespace
    /// that is (it reads credentials from nowhere else).
    pub async fn move_credentials_to(&self, namespace: &str) {
        let name = format!("graph-app-{}", self.namespace);
        let data = BTreeMap::from([("clientSecret".to_string(), ByteString(CLIENT_SECRET.into()))]);
        let manifest = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        };
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let params = PatchParams::apply(cluster::FIELD_MANAGER).force();
        api.patch(&name, &params, &Patch::Apply(&manifest))
            .await
            .expect("apply credentials");
        let secret = json!({"namespace": namespace, "name": name, "key": "clientSecret"});
        self.patch_tenant(json!({"credentials": {"clientSecret": secret}}))
            .await;
    }

    /// Puts an account into the simulator as if someone had created it outside the operator.
    pub async fn seed_account(&self, account: serde_json::Value) -> serde_json::Value {
        let response = reqwest::Client::new()
            .post(format!("{}/_sim/users", self.sim.base_url()))
            .json(&account)
            .send()
            .await
            .expect("reach the simulator");
        assert!(
            response.status().is_success(),
            "seeding failed: {}",
            response.status()
        );
        response.json().await.expect("the seeded account")
    }

    /// Simulator accounts with this UPN (case-insensitive).
    pub fn accounts_named(&self, upn: &str) -> Vec<serde_json::Value> {
        self.sim
            .users()
            .into_iter()
            .filter(|u| {
                u["userPrincipalName"]
                    .as_str()
                    .is_some_and(|v| v.eq_ignore_ascii_case(upn))
            })
            .collect()
    }
}

/// The simulator's default tenant plus the licensed mailbox the operator sends mail from.
pub fn sim_config() -> graph_sim::Config {
    let mut config = graph_sim::Config::default();
    config.users.push(json!({
        "userPrincipalName": SENDER,
        "displayName": "IT Onboarding",
        "usageLocation": "DE",
        "assignedLicenses": [{"skuId": "6fd2c87f-b296-42f0-b197-1e91e994b900"}],
    }));
    config
}

/// `(status, reason, message)` of a User's condition.
pub fn condition(user: &User, type_: &str) -> Option<(String, String, String)> {
    let status = user.status.as_ref()?;
    let c = status.conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Polls `fetch` until `done` holds; panics after a minute with the last value seen.
pub async fn wait<T: std::fmt::Debug, F, Fut>(what: &str, fetch: F, done: impl Fn(&T) -> bool) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(value) = fetch().await {
            if done(&value) {
                return value;
            }
            last = Some(value);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("timed out waiting for {what}; last seen: {last:#?}");
}
