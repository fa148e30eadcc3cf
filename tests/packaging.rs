//! What we ship, checked against the real API server: the Helm chart and the plain
//! manifests in deploy/ are accepted as they are, the service account bound to the shipped
//! RBAC can do the operator's whole job and nothing else, and the probes and metrics answer
//! as documented.

mod operator_process;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec, SubjectAccessReview,
    SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use kube::api::{
    DeleteParams, DynamicObject, GroupVersionKind, ListParams, ObjectMeta, Patch, PatchParams,
    PostParams,
};
use kube::config::Kubeconfig;
use kube::discovery::{self, Scope};
use kube::{Api, Client};
use m365_operator::api::User;
use operator_process::{OperatorProcess, own_tenant, sample};
use serde::Deserialize;
use serde_json::json;
use support::cluster::{self, FIELD_MANAGER, Identity};
use support::scenario::{DOMAIN, Scenario};

/// The Kubernetes version the test control plane runs, for `helm template`.
const KUBE_VERSION: &str = "1.36.3";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The helm binary, built once from its Go module by tests/tools/build-helm.sh.
fn helm() -> PathBuf {
    let output = Command::new(repo().join("tests/tools/build-helm.sh"))
        .output()
        .expect("run tests/tools/build-helm.sh");
    assert!(
        output.status.success(),
        "building helm failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// Runs helm with `args`; returns stdout, or stderr as the error.
fn run_helm(args: &[&str]) -> Result<String, String> {
    let output = Command::new(helm())
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run helm");
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).expect("helm prints UTF-8"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// The chart rendered as release `release` in `namespace`, with `--set` values.
fn render(release: &str, namespace: &str, values: &[&str]) -> Result<Vec<DynamicObject>, String> {
    let mut args = vec![
        "template",
        release,
        "charts/m365-operator",
        "--namespace",
        namespace,
        "--kube-version",
        KUBE_VERSION,
    ];
    for value in values {
        args.extend(["--set", value]);
    }
    run_helm(&args).map(|text| documents(&text))
}

/// Every object in a multi-document YAML text.
fn documents(text: &str) -> Vec<DynamicObject> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|document| serde_yaml_ng::Value::deserialize(document).expect("valid YAML"))
        .filter(|value| !value.is_null())
        .map(|value| serde_yaml_ng::from_value(value).expect("a Kubernetes object"))
        .collect()
}

/// The objects deploy/kustomization.yaml lists, in its order.
fn deploy_objects() -> Vec<DynamicObject> {
    #[derive(Deserialize)]
    struct Kustomization {
        resources: Vec<String>,
    }
    let deploy = repo().join("deploy");
    let read = |name: &str| std::fs::read_to_string(deploy.join(name)).expect("read deploy/");
    let kustomization: Kustomization =
        serde_yaml_ng::from_str(&read("kustomization.yaml")).expect("kustomization.yaml");
    kustomization
        .resources
        .iter()
        .flat_map(|file| documents(&read(file)))
        .collect()
}

fn kind(object: &DynamicObject) -> &str {
    object.types.as_ref().map_or("", |t| t.kind.as_str())
}

fn find<'a>(objects: &'a [DynamicObject], kind_: &str, name: &str) -> &'a DynamicObject {
    objects
        .iter()
        .find(|o| kind(o) == kind_ && o.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no {kind_} {name} among the objects"))
}

/// Server-side applies `objects`: Namespaces for real (the rest needs them), everything
/// else as a dry run. Panics with the API server's refusal.
async fn apply_dry_run(client: &Client, objects: &[DynamicObject]) {
    let (namespaces, rest): (Vec<_>, Vec<_>) = objects.iter().partition(|o| kind(o) == "Namespace");
    for object in namespaces {
        apply(client, object, PatchParams::apply(FIELD_MANAGER).force()).await;
    }
    for object in rest {
        apply(
            client,
            object,
            PatchParams::apply(FIELD_MANAGER).force().dry_run(),
        )
        .await;
    }
}

async fn apply(client: &Client, object: &DynamicObject, params: PatchParams) -> DynamicObject {
    let types = object.types.as_ref().expect("apiVersion and kind");
    let gvk = GroupVersionKind::try_from(types).expect("a valid apiVersion");
    let (resource, capabilities) = discovery::pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|e| panic!("the API server does not serve {gvk:?}: {e}"));
    let api: Api<DynamicObject> = match (&capabilities.scope, &object.metadata.namespace) {
        (Scope::Namespaced, Some(namespace)) => {
            Api::namespaced_with(client.clone(), namespace, &resource)
        }
        (Scope::Namespaced, None) => {
            panic!("{} {:?} has no namespace", types.kind, object.metadata.name)
        }
        (Scope::Cluster, _) => Api::all_with(client.clone(), &resource),
    };
    let name = object.metadata.name.clone().expect("a name");
    api.patch(&name, &params, &Patch::Apply(object))
        .await
        .unwrap_or_else(|e| panic!("the API server refused {} {name}: {e}", types.kind))
}

/// What a Deployment of the operator must have, wherever it comes from.
fn assert_hardened(deployment: &DynamicObject) {
    let spec = &deployment.data["spec"]["template"]["spec"];
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    let container = &spec["containers"][0];
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert!(container["resources"]["requests"]["cpu"].is_string());
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let env: Vec<&str> = container["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(
        env.contains(&"POD_NAME") && env.contains(&"POD_NAMESPACE"),
        "{env:?}"
    );
}

fn rules(object: &DynamicObject) -> Vec<PolicyRule> {
    serde_json::from_value(object.data["rules"].clone()).expect("RBAC rules")
}

#[test]
fn the_chart_ships_the_crds_of_the_crds_folder() {
    let read = |path: &str| std::fs::read_to_string(repo().join(path)).unwrap();
    assert!(
        read("charts/m365-operator/crds/m365-operator.yaml") == read("crds/m365-operator.yaml"),
        "charts/m365-operator/crds/ is stale: \
         cp crds/m365-operator.yaml charts/m365-operator/crds/m365-operator.yaml"
    );
}

#[test]
#[ignore = "needs helm, built by tests/tools/build-helm.sh; run tests/run.sh"]
fn the_chart_lints_and_grants_what_deploy_grants() {
    run_helm(&[
        "lint",
        "--strict",
        "--kube-version",
        KUBE_VERSION,
        "charts/m365-operator",
    ])
    .expect("helm lint");
    let chart = render("m365-operator", "m365-operator", &[]).expect("helm template");
    let deploy = deploy_objects();
    for (kind_, name) in [
        ("ClusterRole", "m365-operator"),
        ("Role", "m365-operator-leader-election"),
    ] {
        assert_eq!(
            rules(find(&chart, kind_, name)),
            rules(find(&deploy, kind_, name)),
            "{kind_} {name}: the chart and deploy/ differ"
        );
    }
    let mut chart_kinds: Vec<&str> = chart.iter().map(kind).collect();
    let mut deploy_kinds: Vec<&str> = deploy
        .iter()
        .map(kind)
        .filter(|k| *k != "Namespace")
        .collect();
    chart_kinds.sort();
    deploy_kinds.sort();
    assert_eq!(chart_kinds, deploy_kinds);
    assert_hardened(find(&chart, "Deployment", "m365-operator"));
}

#[test]
#[ignore = "needs helm, built by tests/tools/build-helm.sh; run tests/run.sh"]
fn the_chart_renders_its_options_and_refuses_unsafe_ones() {
    let monitored = render(
        "m365-operator",
        "ops",
        &[
            "metrics.serviceMonitor.enabled=true",
            "metrics.serviceMonitor.labels.release=prom",
        ],
    )
    .expect("helm template");
    let monitor = find(&monitored, "ServiceMonitor", "m365-operator");
    assert_eq!(monitor.metadata.labels.as_ref().unwrap()["release"], "prom");
    assert_eq!(monitor.data["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(monitor.data["spec"]["endpoints"][0]["port"], "http");
    let plain = render("m365-operator", "ops", &[]).expect("helm template");
    assert!(plain.iter().all(|o| kind(o) != "ServiceMonitor"));

    let logged = render(
        "m365-operator",
        "ops",
        &["logging.format=text", "logging.level=debug"],
    )
    .expect("helm template");
    let container = &find(&logged, "Deployment", "m365-operator").data["spec"]["template"]["spec"]
        ["containers"][0];
    assert!(
        container["args"]
            .as_array()
            .unwrap()
            .contains(&json!("--log-format=text"))
    );
    assert!(
        container["env"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "M365_LOG", "value": "debug"}))
    );

    let unsafe_replicas = render("m365-operator", "ops", &["leaderElection.enabled=false"]);
    assert!(
        unsafe_replicas
            .as_ref()
            .is_err_and(|e| e.contains("need leaderElection.enabled")),
        "{unsafe_replicas:?}"
    );
    let slow_renewal = render("m365-operator", "ops", &["leaderElection.renewPeriod=20"]);
    assert!(slow_renewal.is_err(), "{slow_renewal:?}");
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn the_api_server_accepts_the_chart_in_each_shape() {
    let client = cluster::client(Identity::Admin).await;
    cluster::install_crds(&client).await;
    let namespace = cluster::fresh_namespace(&client, "chart").await;
    let people = cluster::fresh_namespace(&client, "chart-people").await;
    let watch_namespace = format!("watchNamespace={people}");
    for values in [
        vec![],
        vec![watch_namespace.as_str()],
        vec![
            "leaderElection.enabled=false",
            "replicas=1",
            "podDisruptionBudget.enabled=false",
        ],
    ] {
        let objects = render("packaging-test", &namespace, &values).expect("helm template");
        apply_dry_run(&client, &objects).await;
    }
    let confined = render("packaging-test", &namespace, &[&watch_namespace]).unwrap();
    let secrets_in = |namespace: &str| {
        confined
            .iter()
            .filter(|o| kind(o) == "Role" && o.metadata.namespace.as_deref() == Some(namespace))
            .flat_map(rules)
            .filter(|r| {
                r.resources
                    .as_ref()
                    .is_some_and(|r| r.contains(&"secrets".into()))
            })
            .flat_map(|r| r.verbs)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        secrets_in(&people),
        ["get", "list", "watch", "create", "patch"]
    );
    // Patch only for renewing the webhook certificate, and only that Secret.
    assert_eq!(secrets_in(&namespace), ["get", "create", "patch"]);
    let renewal = confined
        .iter()
        .find(|o| {
            kind(o) == "Role"
                && o.metadata.name.as_deref() == Some("packaging-test-m365-operator-webhook-tls")
        })
        .map(rules)
        .expect("a Role for renewing the webhook certificate");
    assert_eq!(
        renewal,
        [PolicyRule {
            resource_names: Some(vec!["m365-operator-webhook-tls".into()]),
            ..rule("", &["secrets"], &["patch"])
        }]
    );
    let cluster_role = find(&confined, "ClusterRole", "packaging-test-m365-operator");
    assert!(
        rules(cluster_role).iter().all(|r| !r
            .resources
            .as_ref()
            .unwrap()
            .contains(&"secrets".into())),
        "watchNamespace must not grant Secrets cluster-wide"
    );
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn the_api_server_accepts_the_deploy_manifests() {
    let client = cluster::client(Identity::Admin).await;
    cluster::install_crds(&client).await;
    let objects = deploy_objects();
    apply_dry_run(&client, &objects).await;
    assert_hardened(find(&objects, "Deployment", "m365-operator"));
    for (kind_, name) in [
        ("Service", "m365-operator"),
        ("PodDisruptionBudget", "m365-operator"),
    ] {
        find(&objects, kind_, name);
    }
}

/// Applies deploy/'s Namespace and RBAC for real: the operator's identity then has exactly
/// what we ship.
async fn install_shipped_rbac(client: &Client) {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for object in deploy_objects() {
        if matches!(
            kind(&object),
            "Namespace"
                | "ServiceAccount"
                | "ClusterRole"
                | "ClusterRoleBinding"
                | "Role"
                | "RoleBinding"
        ) {
            apply(client, &object, params.clone()).await;
        }
    }
}

fn is_forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> bool {
    matches!(result, Err(kube::Error::Api(status)) if status.code == 403)
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn the_shipped_rbac_lets_the_operator_do_its_job_and_nothing_more() {
    let scenario = Scenario::without_operator("rbac").await;
    install_shipped_rbac(&scenario.client).await;
    scenario.move_credentials_to("m365-operator").await;
    let namespace = scenario.namespace.as_str();
    // The Lease in the operator's namespace, as in a pod; short, so that one left behind
    // by an earlier run against the same control plane expires soon.
    let mut operator = OperatorProcess::start(
        &cluster::kubeconfig_path(Identity::Operator),
        &[
            "--namespace",
            namespace,
            &own_tenant(namespace),
            "--leader-election=true",
            "--operator-namespace=m365-operator",
            "--lease-duration=5",
            "--lease-renew=1",
        ],
        &[("POD_NAME", &format!("rbac-test-{namespace}"))],
    );
    scenario
        .create(&scenario.user("katherine-johnson", "Katherine", "Johnson"))
        .await;
    let ready = scenario.wait_ready("katherine-johnson").await;
    assert!(ready.status.unwrap().object_id.is_some());
    // Events are written right after the status that says Ready.
    support::scenario::wait(
        "a Provisioned Event",
        || async { Some(scenario.events_for("katherine-johnson").await) },
        |events| {
            events
                .iter()
                .any(|e| e.reason.as_deref() == Some("Provisioned"))
        },
    )
    .await;
    let logs = operator.logs();
    assert!(!logs.to_lowercase().contains("forbidden"), "{logs}");

    let client = cluster::client(Identity::Operator).await;
    let users: Api<User> = Api::namespaced(client.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), "m365-operator");
    assert!(is_forbidden(
        Api::<Pod>::all(client.clone())
            .list(&ListParams::default())
            .await
    ));
    assert!(is_forbidden(
        Api::<ConfigMap>::namespaced(client.clone(), namespace)
            .list(&ListParams::default())
            .await
    ));
    assert!(is_forbidden(
        users
            .delete("katherine-johnson", &DeleteParams::default())
            .await
    ));
    assert!(is_forbidden(
        users
            .patch(
                "katherine-johnson",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"department": "Ops"}}))
            )
            .await
    ));
    assert!(is_forbidden(
        secrets
            .delete("katherine-johnson-credentials", &DeleteParams::default())
            .await
    ));
    // It may add to a Secret (patch), never overwrite one.
    let client_secret = Api::<Secret>::namespaced(scenario.client.clone(), namespace)
        .get("graph-app")
        .await
        .unwrap();
    assert!(is_forbidden(
        secrets
            .replace("graph-app", &PostParams::default(), &client_secret)
            .await
    ));
    assert!(is_forbidden(leases.list(&ListParams::default()).await));
    assert!(is_forbidden(leases.get("someone-elses-lease").await));
    assert!(is_forbidden(
        Api::<ClusterRole>::all(client.clone())
            .list(&ListParams::default())
            .await
    ));

    operator.terminate();
    let status = operator.exited(Duration::from_secs(30)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}: {}",
        operator.logs()
    );
}

/// A kubeconfig that authenticates as the admin and acts as `user`, who has only the
/// permissions a test grants it.
fn impersonating(user: &str, dir: &Path) -> PathBuf {
    let admin = cluster::kubeconfig_path(Identity::Admin);
    let mut config = Kubeconfig::read_from(&admin).expect("the admin kubeconfig");
    for named in &mut config.auth_infos {
        if let Some(auth) = named.auth_info.as_mut() {
            auth.impersonate = Some(user.to_string());
        }
    }
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_yaml_ng::to_string(&config).unwrap()).unwrap();
    path
}

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.into()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..PolicyRule::default()
    }
}

fn metadata(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(str::to_string),
        ..ObjectMeta::default()
    }
}

fn binding_to(user: &str, kind_: &str, role: &str) -> (RoleRef, Vec<Subject>) {
    let role_ref = RoleRef {
        api_group: Some("rbac.authorization.k8s.io".into()),
        kind: kind_.into(),
        name: role.into(),
    };
    let subject = Subject {
        api_group: Some("rbac.authorization.k8s.io".into()),
        kind: "User".into(),
        name: user.into(),
        ..Subject::default()
    };
    (role_ref, vec![subject])
}

/// Lets `user` pass the CRD check and list Tenants, but not read Users or Deactivations.
async fn grant_all_but_users(client: &Client, user: &str) {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let role = ClusterRole {
        metadata: metadata(user, None),
        rules: Some(vec![
            rule(
                "apiextensions.k8s.io",
                &["customresourcedefinitions"],
                &["get"],
            ),
            rule("m365-operator.io", &["tenants"], &["get", "list", "watch"]),
        ]),
        ..ClusterRole::default()
    };
    Api::<ClusterRole>::all(client.clone())
        .patch(user, &params, &Patch::Apply(&role))
        .await
        .unwrap();
    let (role_ref, subjects) = binding_to(user, "ClusterRole", user);
    let binding = ClusterRoleBinding {
        metadata: metadata(user, None),
        role_ref,
        subjects: Some(subjects),
    };
    Api::<ClusterRoleBinding>::all(client.clone())
        .patch(user, &params, &Patch::Apply(&binding))
        .await
        .unwrap();
}

/// Lets `user` read Users, Deactivations and RoleAssignments, and watch Secrets, in
/// `namespace`.
async fn grant_users(client: &Client, user: &str, namespace: &str) {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let role = Role {
        metadata: metadata(user, Some(namespace)),
        rules: Some(vec![
            rule(
                "m365-operator.io",
                &["users", "deactivations", "roleassignments"],
                &["get", "list", "watch"],
            ),
            rule("", &["secrets"], &["list", "watch"]),
        ]),
    };
    Api::<Role>::namespaced(client.clone(), namespace)
        .patch(user, &params, &Patch::Apply(&role))
        .await
        .unwrap();
    let (role_ref, subjects) = binding_to(user, "Role", user);
    let binding = RoleBinding {
        metadata: metadata(user, Some(namespace)),
        role_ref,
        subjects: Some(subjects),
    };
    Api::<RoleBinding>::namespaced(client.clone(), namespace)
        .patch(user, &params, &Patch::Apply(&binding))
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn readiness_waits_until_the_caches_are_synced() {
    let scenario = Scenario::without_operator("probes-sync").await;
    let namespace = scenario.namespace.as_str();
    // A user of its own, so that it can be kept from listing Users until the test says.
    let user = format!("m365-probe-{namespace}");
    grant_all_but_users(&scenario.client, &user).await;
    let dir = tempfile::tempdir().unwrap();
    let operator = OperatorProcess::start(
        &impersonating(&user, dir.path()),
        &[
            "--namespace",
            namespace,
            &own_tenant(namespace),
            "--operator-namespace",
            namespace,
            "--leader-election=false",
        ],
        &[],
    );
    let minute = Duration::from_secs(60);
    operator.wait_for("/healthz", minute, |s, _| s == 200).await;
    // The Tenant cache fills, the User cache cannot: not ready, and it stays so.
    operator
        .wait_for("/readyz", minute, |s, body| {
            s == 503 && body.contains("syncing")
        })
        .await;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let answer = operator.get("/readyz").await;
        assert_eq!(answer, Some((503, "not ready: syncing\n".into())));
    }
    assert_eq!(
        operator.metric("m365_leader").await,
        Some(1.0),
        "election is off"
    );

    grant_users(&scenario.client, &user, namespace).await;
    operator
        .wait_for("/readyz", minute, |s, body| {
            s == 200 && body == "ready: serving\n"
        })
        .await;
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn metrics_count_reconciles_and_readiness_fails_while_draining() {
    let scenario = Scenario::without_operator("probes-drain").await;
    let mut operator = OperatorProcess::start(
        &cluster::kubeconfig_path(Identity::Admin),
        &[
            "--namespace",
            &scenario.namespace,
            &own_tenant(&scenario.namespace),
            "--operator-namespace",
            &scenario.namespace,
            "--leader-election=false",
        ],
        &[],
    );
    let minute = Duration::from_secs(60);
    operator
        .wait_for("/readyz", minute, |s, body| {
            s == 200 && body == "ready: serving\n"
        })
        .await;
    scenario
        .create(&scenario.user("mary-jackson", "Mary", "Jackson"))
        .await;
    scenario.wait_ready("mary-jackson").await;
    let (_, text) = operator
        .wait_for("/metrics", minute, |_, text| {
            sample(text, r#"m365_reconciles_total{kind="User"}"#).is_some_and(|n| n >= 1.0)
        })
        .await;
    assert!(sample(&text, r#"m365_reconciles_total{kind="Tenant"}"#).is_some_and(|n| n >= 1.0));
    assert!(
        text.lines()
            .any(|l| l.starts_with("m365_graph_calls_total{") && l.contains("status=\"20")),
        "{text}"
    );
    assert!(
        text.contains("# TYPE m365_reconcile_duration_seconds histogram"),
        "{text}"
    );

    // Hold Graph's answer to the next account creation: a reconcile stays in flight.
    scenario.sim.set_faults(graph_sim::Faults {
        delay_after_commit_ms: [("POST /users".to_string(), 6_000)].into(),
        ..graph_sim::Faults::default()
    });
    scenario
        .create(&scenario.user("dorothy-vaughan", "Dorothy", "Vaughan"))
        .await;
    let committed = support::scenario::wait(
        "the account to be created in the simulator",
        || async { Some(scenario.accounts_named(&format!("dorothy.vaughan@{DOMAIN}"))) },
        |accounts| !accounts.is_empty(),
    )
    .await;
    assert_eq!(committed.len(), 1);
    // At least this one: a Tenant change may briefly add another User's reconcile.
    let in_flight = operator
        .metric(r#"m365_reconciles_in_flight{kind="User"}"#)
        .await;
    assert!(in_flight.is_some_and(|n| n >= 1.0), "{in_flight:?}");

    operator.terminate();
    operator
        .wait_for("/readyz", Duration::from_secs(3), |s, body| {
            s == 503 && body == "not ready: stopping\n"
        })
        .await;
    assert_eq!(
        operator.get("/healthz").await,
        Some((200, "ok: stopping\n".into()))
    );
    let status = operator.exited(Duration::from_secs(30)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}: {}",
        operator.logs()
    );
    // The reconcile in flight was allowed to finish: it recorded the account.
    let drained: User = scenario.users().get("dorothy-vaughan").await.unwrap();
    assert!(
        drained.status.and_then(|s| s.object_id).is_some(),
        "log:\n{}",
        operator.logs()
    );
}

/// The personas as deploy/personas.yaml ships them.
const PERSONAS: [&str; 5] = [
    "it-admin",
    "hr-partner",
    "viewer",
    "gitops",
    "role-approver",
];

#[test]
#[ignore = "needs helm, built by tests/tools/build-helm.sh; run tests/run.sh"]
fn the_chart_ships_the_personas_and_the_webhook_of_deploy() {
    let chart = render("m365-operator", "m365-operator", &[]).expect("helm template");
    let deploy = deploy_objects();
    for persona in PERSONAS {
        let name = format!("m365-operator-{persona}");
        assert_eq!(
            rules(find(&chart, "ClusterRole", &name)),
            rules(find(&deploy, "ClusterRole", &name)),
            "{name}: the chart and deploy/ differ"
        );
    }
    let webhooks = |objects: &[DynamicObject]| {
        find(objects, "ValidatingWebhookConfiguration", "m365-operator").data["webhooks"].clone()
    };
    assert_eq!(webhooks(&chart), webhooks(&deploy));

    let without = render("m365-operator", "ops", &["personas.enabled=false"]).unwrap();
    let persona_roles = without
        .iter()
        .filter(|o| kind(o) == "ClusterRole")
        .filter(|o| {
            PERSONAS
                .iter()
                .any(|p| o.metadata.name.as_deref().unwrap().ends_with(p))
        });
    assert_eq!(persona_roles.count(), 0);
}

/// The container's args of the operator Deployment among `objects`.
fn operator_args(objects: &[DynamicObject], name: &str) -> Vec<String> {
    let container =
        &find(objects, "Deployment", name).data["spec"]["template"]["spec"]["containers"][0];
    serde_json::from_value(container["args"].clone()).expect("args")
}

/// The webhook reaches the operator: the configuration names the Service, path and port;
/// the Service sends 443 to the container's webhook port; the operator serves it there.
fn assert_webhook_wiring(objects: &[DynamicObject], name: &str, namespace: &str) {
    let configuration = find(objects, "ValidatingWebhookConfiguration", name);
    let webhook = &configuration.data["webhooks"][0];
    assert_eq!(webhook["name"], "roleassignments.m365-operator.io");
    assert_eq!(webhook["failurePolicy"], "Fail");
    assert_eq!(webhook["sideEffects"], "None");
    assert_eq!(webhook["timeoutSeconds"], 5);
    assert_eq!(webhook["admissionReviewVersions"], json!(["v1"]));
    assert_eq!(
        webhook["clientConfig"],
        json!({"service": {"namespace": namespace, "name": name,
                           "path": "/validate/roleassignments", "port": 443}}),
        "no caBundle: the operator or cert-manager sets it"
    );
    assert_eq!(
        webhook["rules"],
        json!([
            {"apiGroups": ["m365-operator.io"], "apiVersions": ["v1alpha1"],
             "operations": ["CREATE", "UPDATE", "DELETE"], "resources": ["roleassignments"],
             "scope": "Namespaced"},
            {"apiGroups": ["m365-operator.io"], "apiVersions": ["v1alpha1"],
             "operations": ["UPDATE"], "resources": ["roleassignments/status"],
             "scope": "Namespaced"},
        ])
    );
    let service = find(objects, "Service", name);
    let ports = service.data["spec"]["ports"].as_array().unwrap();
    assert!(
        ports.contains(&json!({"name": "webhook", "port": 443, "targetPort": "webhook"})),
        "{ports:?}"
    );
    let container =
        &find(objects, "Deployment", name).data["spec"]["template"]["spec"]["containers"][0];
    let container_ports = container["ports"].as_array().unwrap();
    assert!(
        container_ports.contains(&json!({"name": "webhook", "containerPort": 8443})),
        "{container_ports:?}"
    );
    let args = operator_args(objects, name);
    assert!(
        args.contains(&"--webhook-listen=0.0.0.0:8443".to_string()),
        "{args:?}"
    );
}

#[test]
fn deploy_wires_the_webhook_to_the_operator() {
    let objects = deploy_objects();
    assert_webhook_wiring(&objects, "m365-operator", "m365-operator");
    let cluster_role = rules(find(&objects, "ClusterRole", "m365-operator"));
    let webhook_rule = cluster_role
        .iter()
        .find(|r| r.resources == Some(vec!["validatingwebhookconfigurations".into()]))
        .expect("a rule for the webhook configuration");
    assert_eq!(
        webhook_rule.resource_names,
        Some(vec!["m365-operator".into()]),
        "its own configuration only"
    );
    assert_eq!(webhook_rule.verbs, ["get", "patch"]);
}

#[test]
#[ignore = "needs helm, built by tests/tools/build-helm.sh; run tests/run.sh"]
fn the_chart_wires_the_webhook_with_either_certificate() {
    let managed = render("hooks", "ops", &["webhook.extraSANs={10.0.0.5}"]).unwrap();
    let name = "hooks-m365-operator";
    assert_webhook_wiring(&managed, name, "ops");
    let args = operator_args(&managed, name);
    for flag in [
        format!("--webhook-service={name}"),
        format!("--webhook-configuration={name}"),
        "--webhook-san=10.0.0.5".to_string(),
    ] {
        assert!(args.contains(&flag), "{flag} not in {args:?}");
    }
    assert!(args.iter().all(|a| !a.starts_with("--webhook-cert-dir")));
    let configuration = find(&managed, "ValidatingWebhookConfiguration", name);
    assert!(configuration.metadata.annotations.is_none());

    let issued = render("hooks", "ops", &["webhook.certManager.enabled=true"]).unwrap();
    assert_webhook_wiring(&issued, name, "ops");
    let configuration = find(&issued, "ValidatingWebhookConfiguration", name);
    assert_eq!(
        configuration.metadata.annotations.as_ref().unwrap()["cert-manager.io/inject-ca-from"],
        "ops/hooks-m365-operator-webhook"
    );
    let certificate = find(&issued, "Certificate", "hooks-m365-operator-webhook");
    assert_eq!(
        certificate.data["spec"]["dnsNames"],
        json!([
            "hooks-m365-operator.ops.svc",
            "hooks-m365-operator.ops.svc.cluster.local"
        ])
    );
    let secret = certificate.data["spec"]["secretName"].clone();
    find(&issued, "Issuer", "hooks-m365-operator-webhook");
    let pod = &find(&issued, "Deployment", name).data["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"][0]["secret"]["secretName"], secret);
    assert_eq!(
        pod["containers"][0]["volumeMounts"][0]["mountPath"],
        "/run/webhook-tls"
    );
    let args = operator_args(&issued, name);
    assert!(
        args.contains(&"--webhook-cert-dir=/run/webhook-tls".to_string()),
        "{args:?}"
    );
    // cert-manager sets the caBundle: the operator gets no right to the configuration.
    let cluster_role = rules(find(&issued, "ClusterRole", name));
    assert!(
        cluster_role
            .iter()
            .all(|r| r.resources != Some(vec!["validatingwebhookconfigurations".into()])),
        "{cluster_role:?}"
    );

    let own_issuer = render(
        "hooks",
        "ops",
        &[
            "webhook.certManager.enabled=true",
            "webhook.certManager.issuerRef.kind=ClusterIssuer",
            "webhook.certManager.issuerRef.name=internal-ca",
        ],
    )
    .unwrap();
    assert!(own_issuer.iter().all(|o| kind(o) != "Issuer"));
    let certificate = find(&own_issuer, "Certificate", "hooks-m365-operator-webhook");
    assert_eq!(
        certificate.data["spec"]["issuerRef"],
        json!({"kind": "ClusterIssuer", "name": "internal-ca"})
    );
}

/// Whether `client`'s own identity may `verb` the `resource` (`users`, `users/status`, …)
/// of the operator's group in `namespace`.
async fn may(client: &Client, verb: &str, resource: &str, namespace: &str) -> bool {
    let (resource, subresource) = match resource.split_once('/') {
        Some((resource, subresource)) => (resource, Some(subresource.to_string())),
        None => (resource, None),
    };
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some("m365-operator.io".into()),
                resource: Some(resource.into()),
                subresource,
                verb: Some(verb.into()),
                namespace: Some(namespace.into()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("a self subject access review");
    answer.status.expect("a review has a status").allowed
}

/// Binds the ClusterRole `role` to `identity` in `namespace` alone.
async fn bind_in(client: &Client, namespace: &str, role: &str, identity: Identity) {
    let (role_ref, subjects) = binding_to(identity.user_name(), "ClusterRole", role);
    let binding = RoleBinding {
        metadata: metadata(role, Some(namespace)),
        role_ref,
        subjects: Some(subjects),
    };
    Api::<RoleBinding>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &binding)
        .await
        .expect("bind the persona");
}

/// Waits until `granted` answers true: a new binding takes a moment to reach the API server's
/// authorizer, and a refusal asserted before then would prove nothing.
async fn until_granted<F, Fut>(granted: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..150 {
        if granted().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("the binding never took effect");
}

/// What a persona may do (`true`) or not, verb and resource, in a namespace it is bound in.
type Expectations = &'static [(&'static str, &'static str, bool)];

/// What every persona is refused: status is the operator's record.
const NOBODY_WRITES_STATUS: Expectations = &[
    ("update", "users/status", false),
    ("patch", "users/status", false),
    ("update", "roleassignments/status", false),
    ("patch", "deactivations/status", false),
];

const IT_ADMIN: Expectations = &[
    ("create", "users", true),
    ("delete", "users", true),
    ("create", "roleassignments", true),
    ("update", "roleassignments", true),
    ("create", "deactivations", true),
    ("get", "users/status", true),
    ("create", "secrets", false),
];

const HR_PARTNER: Expectations = &[
    ("create", "users", true),
    ("update", "users", true),
    ("patch", "users", true),
    ("create", "deactivations", true),
    ("list", "roleassignments", true),
    ("create", "roleassignments", false),
    ("update", "roleassignments", false),
    ("delete", "users", false),
    ("delete", "deactivations", false),
];

const VIEWER: Expectations = &[
    ("get", "users", true),
    ("list", "roleassignments", true),
    ("watch", "deactivations", true),
    ("get", "deactivations/status", true),
    ("create", "users", false),
    ("create", "roleassignments", false),
    ("create", "deactivations", false),
    ("update", "users", false),
    ("patch", "users", false),
    ("delete", "users", false),
];

const ROLE_APPROVER: Expectations = &[
    ("patch", "roleassignments", true),
    ("get", "users", true),
    ("create", "roleassignments", false),
    ("delete", "roleassignments", false),
    ("update", "users", false),
];

const GITOPS: Expectations = &[
    ("create", "users", true),
    ("patch", "roleassignments", true),
    ("delete", "deactivations", true),
    ("update", "users", true),
];

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn each_persona_may_do_its_job_and_only_the_operator_writes_status() {
    let admin = cluster::client(Identity::Admin).await;
    install_shipped_rbac(&admin).await;
    let namespace = cluster::fresh_namespace(&admin, "personas").await;
    let elsewhere = cluster::fresh_namespace(&admin, "personas-elsewhere").await;
    for (identity, persona, expected) in [
        (Identity::ItAdmin, "it-admin", IT_ADMIN),
        (Identity::HrPartner, "hr-partner", HR_PARTNER),
        (Identity::Employee, "viewer", VIEWER),
        (Identity::Gitops, "gitops", GITOPS),
        (Identity::Vp, "role-approver", ROLE_APPROVER),
    ] {
        bind_in(
            &admin,
            &namespace,
            &format!("m365-operator-{persona}"),
            identity,
        )
        .await;
        let client = cluster::client(identity).await;
        // Every persona reads Users; once it may, the API server's authorizer has the binding.
        until_granted(|| may(&client, "get", "users", &namespace)).await;
        for &(verb, resource, allowed) in expected.iter().chain(NOBODY_WRITES_STATUS) {
            assert_eq!(
                may(&client, verb, resource, &namespace).await,
                allowed,
                "{persona} ({identity:?}) {verb} {resource}"
            );
        }
        // A RoleBinding grants its namespace and nothing beyond.
        assert!(!may(&client, "get", "users", &elsewhere).await, "{persona}");
    }
    // The operator, bound to deploy/rbac.yaml: writes status, never a User.
    let operator = cluster::client(Identity::Operator).await;
    assert!(may(&operator, "patch", "users/status", &namespace).await);
    assert!(may(&operator, "patch", "roleassignments/status", &namespace).await);
    assert!(!may(&operator, "create", "users", &namespace).await);
    assert!(!may(&operator, "update", "users", &namespace).await);
}

/// Whether `user` may `verb` the cluster-scoped `resource` of the operator's group, as the
/// API server decides for that user (asked by the admin).
async fn user_may(admin: &Client, user: &str, verb: &str, resource: &str) -> bool {
    let (resource, subresource) = match resource.split_once('/') {
        Some((resource, subresource)) => (resource, Some(subresource.to_string())),
        None => (resource, None),
    };
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.into()),
            resource_attributes: Some(ResourceAttributes {
                group: Some("m365-operator.io".into()),
                resource: Some(resource.into()),
                subresource,
                verb: Some(verb.into()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let answer = Api::<SubjectAccessReview>::all(admin.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("a subject access review");
    answer.status.expect("a review has a status").allowed
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn bound_cluster_wide_only_gitops_writes_tenants() {
    let admin = cluster::client(Identity::Admin).await;
    install_shipped_rbac(&admin).await;
    // Users of their own, so that no shared test identity gains a cluster-wide grant.
    let suffix = cluster::fresh_namespace(&admin, "personas-cluster").await;
    let bindings = Api::<ClusterRoleBinding>::all(admin.clone());
    let mut created = Vec::new();
    for (persona, reads, writes) in [
        ("it-admin", true, false),
        ("hr-partner", false, false),
        ("viewer", true, false),
        ("gitops", true, true),
    ] {
        let user = format!("{persona}-{suffix}");
        let (role_ref, subjects) =
            binding_to(&user, "ClusterRole", &format!("m365-operator-{persona}"));
        let binding = ClusterRoleBinding {
            metadata: metadata(&user, None),
            role_ref,
            subjects: Some(subjects),
        };
        bindings
            .create(&PostParams::default(), &binding)
            .await
            .expect("bind the persona cluster-wide");
        created.push(user.clone());
        until_granted(|| user_may(&admin, &user, "get", "users")).await;
        for verb in ["get", "list", "watch"] {
            assert_eq!(
                user_may(&admin, &user, verb, "tenants").await,
                reads,
                "{persona} {verb}"
            );
        }
        for verb in ["create", "update", "patch", "delete"] {
            assert_eq!(
                user_may(&admin, &user, verb, "tenants").await,
                writes,
                "{persona} {verb}"
            );
        }
        for verb in ["update", "patch"] {
            assert!(
                !user_may(&admin, &user, verb, "tenants/status").await,
                "{persona} {verb}"
            );
        }
    }
    for user in created {
        let _ = bindings.delete(&user, &DeleteParams::default()).await;
    }
}

/// The shipped webhook configuration's name, the only one the shipped RBAC lets the
/// operator change.
const SHIPPED_CONFIGURATION: &str = "m365-operator";

/// Deletes the shipped-name webhook configuration when dropped, pass or fail, from a thread
/// of its own (drop may run inside the test's runtime).
struct DeletesConfiguration;

impl Drop for DeletesConfiguration {
    fn drop(&mut self) {
        let _ = std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the cleanup");
            runtime.block_on(async {
                let admin = cluster::client(Identity::Admin).await;
                let _ = Api::<ValidatingWebhookConfiguration>::all(admin)
                    .delete(SHIPPED_CONFIGURATION, &DeleteParams::default())
                    .await;
            });
        })
        .join();
    }
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn the_shipped_rbac_lets_the_operator_keep_its_webhook_certificate() {
    let scenario = Scenario::without_operator("rbac-webhook").await;
    install_shipped_rbac(&scenario.client).await;
    let configurations = Api::<ValidatingWebhookConfiguration>::all(scenario.client.clone());
    // It selects no namespace and may be ignored: only its caBundle matters here.
    let configuration: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": SHIPPED_CONFIGURATION},
        "webhooks": [{
            "name": "roleassignments.m365-operator.io",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Ignore",
            "namespaceSelector": {"matchLabels": {"m365-operator.io/no-such-label": "x"}},
            "clientConfig": {"url": "https://127.0.0.1:9/validate/roleassignments"},
            "rules": [{"apiGroups": ["m365-operator.io"], "apiVersions": ["v1alpha1"],
                       "operations": ["CREATE"], "resources": ["roleassignments"]}],
        }],
    }))
    .unwrap();
    let _cleanup = DeletesConfiguration;
    configurations
        .patch(
            SHIPPED_CONFIGURATION,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&configuration),
        )
        .await
        .expect("register the configuration");
    let mut operator = OperatorProcess::start(
        &cluster::kubeconfig_path(Identity::Operator),
        &[
            "--namespace",
            &scenario.namespace,
            &own_tenant(&scenario.namespace),
            "--leader-election=false",
            "--operator-namespace=m365-operator",
            "--webhook-listen=127.0.0.1:0",
        ],
        &[],
    );
    let secrets = Api::<Secret>::namespaced(scenario.client.clone(), "m365-operator");
    let (ca, _) = support::scenario::wait(
        "the webhook caBundle set from the operator's Secret",
        || async {
            let secret = secrets.get_opt("m365-operator-webhook-tls").await.ok()??;
            let ca = secret.data?.get("ca.crt")?.0.clone();
            let configuration = configurations.get(SHIPPED_CONFIGURATION).await.ok()?;
            let bundle = configuration.webhooks?[0].client_config.ca_bundle.clone()?;
            Some((ca, bundle.0))
        },
        |(ca, bundle)| ca == bundle,
    )
    .await;
    assert!(
        String::from_utf8(ca)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let logs = operator.logs();
    assert!(!logs.to_lowercase().contains("forbidden"), "{logs}");
    operator.terminate();
    let status = operator.exited(Duration::from_secs(30)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}: {}",
        operator.logs()
    );
}
