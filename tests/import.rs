//! `m365-operator import`: a CSV file of new hires becomes User manifests in a folder, or
//! Users applied to the cluster, and every problem is reported by row before anything
//! happens.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, ResourceExt};
use m365_operator::api::User;
use m365_operator::import::{self, Defaults, FIELD_MANAGER};
use support::cluster::{self, Identity};
use support::scenario::{Scenario, wait};

/// Fifty rows as a spreadsheet exports them (byte-order mark, CRLF, a quoted line break in
/// row 6), good and bad mixed.
const FIXTURE: &[u8] = include_bytes!("fixtures/new-hires.csv");

/// Every problem of the fixture, in order. From row 7 on, rows start one line further down
/// because of the line break inside row 6.
const FIXTURE_PROBLEMS: [&str; 23] = [
    "row 7 (line 8): usageLocation: \"Germany\" is not a two-letter ISO 3166 country code such as DE or US",
    "row 8 (line 9): license: \"E7\" is not a licence tier; use E3 or E5",
    "row 9 (line 10): givenName: is required",
    "row 10 (line 11): approvedAt: \"01.12.2026\" is not a timestamp with an offset, such as 2026-12-01T09:30:00Z",
    "row 11 (line 12): approvedAt: 2099-01-05T09:00:00Z lies in the future",
    "row 12 (line 13): givenName: \"Дмитрий\" contains 'Д', which has no Latin transliteration; fill in upnLocalPart",
    "row 14 (line 15): is the same User as row 2 (people/zoe-muller)",
    "row 14 (line 15): gets the same UPN as row 2 (\"zoe.muller\" in Tenant default); set upnLocalPart to tell them apart",
    "row 15 (line 16): approver: \"hr-at-contoso\" is not a mail address",
    "row 16 (line 17): usageLocation: \"de\" must be in capitals: DE",
    "row 17 (line 18): usageLocation: \"XX\" is not an ISO 3166 country code",
    "row 18 (line 19): upnLocalPart: \"jo..smith\" may use letters A-Z, digits and ' . - _ ! # ^ ~ only, without a leading, trailing or doubled dot",
    "row 19 (line 20): welcomeMailRecipient: \"not-an-address\" is not a mail address",
    "row 20 (line 21): name: \"Bad_Name\" is not a valid name: lower-case letters, digits, '-' and '.'",
    "row 21 (line 22): namespace: \"People\" is not a valid namespace: lower-case letters, digits and '-'",
    "row 22 (line 23): mailNickname: \"j smith\" may use letters A-Z, digits and . - _ ! # ^ ~ ' only",
    "row 23 (line 24): is the same User as row 3 (people/lukasz-oester)",
    "row 24 (line 25): gets the same UPN as row 2 (\"zoe.muller\" in Tenant default); set upnLocalPart to tell them apart",
    "row 26 (line 27): has 4 fields, the header has 16",
    "row 27 (line 28): jobTitle: is longer than 128 characters",
    "row 28 (line 29): usageLocation: is required",
    "row 28 (line 29): license: is required",
    "row 28 (line 29): approver: is required",
];

#[test]
fn the_fixture_reports_every_problem_with_its_row() {
    let now = "2026-12-10T00:00:00Z".parse().unwrap();
    let plan = import::plan(FIXTURE, &Defaults::default(), now);
    let problems: Vec<String> = plan.problems().iter().map(ToString::to_string).collect();
    assert_eq!(problems, FIXTURE_PROBLEMS);
    assert_eq!(plan.invalid_rows(), 20);
    // 50 rows less one blank row; the 29 good ones become Users.
    assert_eq!(plan.rows, 49);
    let users = plan.users();
    assert_eq!(users.len(), 29);
    let names: Vec<String> = users.iter().map(|u| u.user.name_any()).collect();
    for expected in [
        "zoe-muller",
        "lukasz-oester",
        "siobhan-oneill",
        "hans-strasse",
        "maryann-vanderberg",
        "dmitri-petrov",
        "aegir-thorsson",
        "cagla-yilmaz",
        "sofia-novak-2",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    let eu = users
        .iter()
        .find(|u| u.user.namespace().as_deref() == Some("people-eu"))
        .expect("the same person in another tenant is no clash");
    assert_eq!(eu.user.spec.tenant, "contoso-eu");
    let sales = users.iter().find(|u| u.row == 6).unwrap();
    assert_eq!(sales.user.spec.job_title.as_deref(), Some("Head of\nSales"));
}

fn import(args: &[&str], kubeconfig: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_m365-operator"));
    command.arg("import").args(args);
    match kubeconfig {
        Some(path) => command.env("KUBECONFIG", path),
        // No cluster for file output: make sure none is reached by accident.
        None => command.env("KUBECONFIG", "/nonexistent"),
    };
    command.output().expect("run m365-operator import")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn yaml_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = walk(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect();
    files.sort();
    files
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flat_map(|entry| {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

#[test]
fn out_writes_nothing_while_a_row_is_invalid_and_the_valid_rows_with_skip_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/new-hires.csv");
    let out = dir.path().join("manifests");
    let args = [fixture.to_str().unwrap(), "--out", out.to_str().unwrap()];

    let refused = import(&args, None);
    assert!(!refused.status.success());
    let stderr = text(&refused.stderr);
    for problem in FIXTURE_PROBLEMS {
        assert!(stderr.contains(problem), "{problem:?} not in:\n{stderr}");
    }
    assert!(
        stderr.contains("20 of 49 rows have problems; nothing was imported"),
        "{stderr}"
    );
    assert_eq!(yaml_files(&out), Vec::<String>::new());

    let partial = import(&[&args[..], &["--skip-invalid"]].concat(), None);
    assert!(partial.status.success(), "{}", text(&partial.stderr));
    let files = yaml_files(&out);
    assert_eq!(files.len(), 29, "{files:?}");
    assert!(
        files.contains(&"people/zoe-muller.yaml".to_string()),
        "{files:?}"
    );
    assert!(
        files.contains(&"people-eu/zoe-muller.yaml".to_string()),
        "{files:?}"
    );
    let manifest = std::fs::read_to_string(out.join("people/zoe-muller.yaml")).unwrap();
    let user: User = serde_yaml_ng::from_str(&manifest).unwrap();
    assert_eq!(user.spec.given_name, "Zoë");
    assert_eq!(user.spec.approval.reference, "HR-3001");

    // A second run would overwrite reviewed manifests: it refuses, row by row.
    let again = import(&[&args[..], &["--skip-invalid"]].concat(), None);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("people/zoe-muller.yaml exists already"),
        "{}",
        text(&again.stderr)
    );
}

const HEADER: &str =
    "givenName,surname,usageLocation,license,approver,approvalReference,approvedAt,tenant";

fn write_csv(dir: &Path, rows: &[String]) -> std::path::PathBuf {
    let path = dir.join("hires.csv");
    std::fs::write(&path, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
    path
}

fn csv_row(given: &str, surname: &str, reference: &str, tenant: &str) -> String {
    format!(
        "{given},{surname},DE,E3,hr.partner@contoso.example,{reference},2026-12-01T09:30:00Z,{tenant}"
    )
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn apply_refuses_the_whole_file_for_one_clash_then_applies_the_valid_rows() {
    let scenario = Scenario::without_operator("import").await;
    let namespace = scenario.namespace.clone();
    scenario
        .create(&scenario.user("ann-lee", "Ann", "Lee"))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_csv(
        dir.path(),
        &[
            csv_row("Zoë", "Müller", "HR-1", ""),
            csv_row("Ben", "Ito", "HR-2", ""),
            csv_row("Ann", "Lee", "HR-3", ""),
            csv_row("Cy", "Nobody", "HR-4", "nowhere"),
        ],
    );
    let admin = cluster::kubeconfig_path(Identity::Admin);
    let args = [
        file.to_str().unwrap(),
        "--apply",
        "--namespace",
        &namespace,
        "--tenant",
        scenario.tenant_name(),
    ];

    let refused = import(&args, Some(&admin));
    let stderr = text(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    let expected = [
        format!("row 4: a User {namespace}/ann-lee already exists"),
        format!("row 4: gets the same UPN as the existing User {namespace}/ann-lee"),
        "row 5: tenant: Tenant \"nowhere\" does not exist".to_string(),
    ];
    for problem in &expected {
        assert!(
            stderr.contains(problem.as_str()),
            "{problem:?} not in:\n{stderr}"
        );
    }
    let names = |users: Vec<User>| users.iter().map(|u| u.name_any()).collect::<Vec<_>>();
    let stored = scenario
        .users()
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    assert_eq!(names(stored), ["ann-lee"], "nothing may be applied");

    let applied = import(&[&args[..], &["--skip-invalid"]].concat(), Some(&admin));
    let stdout = text(&applied.stdout);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    assert!(
        stdout.contains(&format!("applied User {namespace}/zoe-muller")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("applied User {namespace}/ben-ito")),
        "{stdout}"
    );
    let mut stored = names(
        scenario
            .users()
            .list(&Default::default())
            .await
            .unwrap()
            .items,
    );
    stored.sort();
    assert_eq!(stored, ["ann-lee", "ben-ito", "zoe-muller"]);

    let zoe = scenario.users().get("zoe-muller").await.unwrap();
    assert_eq!(zoe.spec.tenant, scenario.tenant_name());
    assert_eq!(zoe.spec.approval.reference, "HR-1");
    let managers: Vec<_> = zoe
        .managed_fields()
        .iter()
        .map(|f| (f.manager.clone(), f.operation.clone()))
        .collect();
    assert!(
        managers.contains(&(Some(FIELD_MANAGER.into()), Some("Apply".into()))),
        "{managers:?}"
    );
    let ann = scenario.users().get("ann-lee").await.unwrap();
    assert_eq!(
        ann.spec.approval.reference, "HR-1042",
        "the existing User is untouched"
    );
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn an_identity_limited_to_one_namespace_still_sees_clashes_there() {
    let scenario = Scenario::without_operator("import-rbac").await;
    let namespace = scenario.namespace.clone();
    grant(
        &scenario,
        Identity::Gitops,
        &["get", "list", "create", "patch"],
    )
    .await;
    scenario
        .create(&scenario.user("ann-lee", "Ann", "Lee"))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_csv(
        dir.path(),
        &[
            csv_row("Ann", "Lee", "HR-5", ""),
            csv_row("Dora", "Kim", "HR-6", ""),
        ],
    );
    let args = [
        file.to_str().unwrap(),
        "--apply",
        "--namespace",
        &namespace,
        "--tenant",
        scenario.tenant_name(),
        "--skip-invalid",
    ];
    let gitops = cluster::kubeconfig_path(Identity::Gitops);
    let output = import(&args, Some(&gitops));
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("row 2: a User {namespace}/ann-lee already exists")),
        "{stderr}"
    );
    assert!(scenario.users().get("dora-kim").await.is_ok());
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn a_read_only_identity_checks_files_against_the_cluster_but_applies_nothing() {
    let scenario = Scenario::without_operator("import-readonly").await;
    let namespace = scenario.namespace.clone();
    grant(&scenario, Identity::Gitops, &["get", "list"]).await;
    scenario
        .create(&scenario.user("ann-lee", "Ann", "Lee"))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_csv(
        dir.path(),
        &[
            csv_row("Ann", "Lee", "HR-7", ""),
            csv_row("Dora", "Kim", "HR-8", ""),
        ],
    );
    let out = dir.path().join("manifests");
    let common = [
        file.to_str().unwrap(),
        "--namespace",
        &namespace,
        "--tenant",
        scenario.tenant_name(),
        "--skip-invalid",
    ];
    let gitops = cluster::kubeconfig_path(Identity::Gitops);

    let files = [
        &common[..],
        &["--out", out.to_str().unwrap(), "--check-cluster"],
    ]
    .concat();
    let checked = import(&files, Some(&gitops));
    let stderr = text(&checked.stderr);
    assert!(checked.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("row 2: a User {namespace}/ann-lee already exists")),
        "{stderr}"
    );
    assert_eq!(yaml_files(&out), [format!("{namespace}/dora-kim.yaml")]);

    let applied = import(&[&common[..], &["--apply"]].concat(), Some(&gitops));
    let stderr = text(&applied.stderr);
    assert!(!applied.status.success(), "{stderr}");
    assert!(
        stderr.contains("row 3: the API server refuses it"),
        "{stderr}"
    );
    assert!(stderr.contains("forbidden"), "{stderr}");
    assert!(
        scenario
            .users()
            .get_opt("dora-kim")
            .await
            .unwrap()
            .is_none()
    );
}

/// Lets `identity` do `verbs` to Users in the scenario's namespace, and nothing else.
async fn grant(scenario: &Scenario, identity: Identity, verbs: &[&str]) {
    let meta = ObjectMeta {
        name: Some("import-users".into()),
        namespace: Some(scenario.namespace.clone()),
        ..Default::default()
    };
    let role = Role {
        metadata: meta.clone(),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["m365-operator.io".into()]),
            resources: Some(vec!["users".into()]),
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
            ..Default::default()
        }]),
    };
    let binding = RoleBinding {
        metadata: meta,
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: "import-users".into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: identity.user_name().into(),
            ..Default::default()
        }]),
    };
    let params = PostParams::default();
    Api::<Role>::namespaced(scenario.client.clone(), &scenario.namespace)
        .create(&params, &role)
        .await
        .expect("create the Role");
    Api::<RoleBinding>::namespaced(scenario.client.clone(), &scenario.namespace)
        .create(&params, &binding)
        .await
        .expect("create the RoleBinding");
    // The binding takes a moment to reach the API server's authorizer.
    let users: Api<m365_operator::api::User> =
        Api::namespaced(cluster::client(identity).await, &scenario.namespace);
    wait(
        "the grant to take effect",
        || async { Some(users.list(&Default::default()).await.is_ok()) },
        |listed| *listed,
    )
    .await;
}
