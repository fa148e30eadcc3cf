//! The real control plane the integration tests run against.
//!
//! `tests/run.sh` starts kube-apiserver and etcd with
//! `tests/control-plane/start.sh` and points `M365_TEST_CLUSTER_DIR` at the
//! folder that holds one kubeconfig per [`Identity`]. The control plane is
//! shared by the whole run: every test works in a namespace of its own from
//! [`fresh_namespace`]. No controller-manager runs, so nothing is garbage
//! collected and deleted namespaces stay `Terminating`.
#![allow(
    dead_code,
    reason = "each test crate includes this module and uses only part of it"
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, Config};
use serde::Deserialize;

/// The environment variable naming the folder written by `start.sh`.
pub const CLUSTER_DIR_VAR: &str = "M365_TEST_CLUSTER_DIR";

/// The field manager for everything the test harness applies.
pub const FIELD_MANAGER: &str = "m365-operator-tests";

/// How long a CRD may take to become Established.
const CRD_ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(30);

/// The users `start.sh` registers in the apiserver's token file.
///
/// None but [`Identity::Admin`] has any permission beyond what Kubernetes
/// grants every authenticated user: tests bind roles to [`Identity::groups`]
/// (or the user name) themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// `admin`, in `system:masters`: may do anything.
    Admin,
    /// `it-admin`, in `m365:it-admins`.
    ItAdmin,
    /// `hr-partner`, in `m365:hr-partners`.
    HrPartner,
    /// `employee`, in `m365:employees`.
    Employee,
    /// `gitops`, in `m365:gitops`: the identity a GitOps tool applies with.
    Gitops,
    /// `vp`, in `m365:vps`: a vice president who approves role escalations.
    Vp,
    /// The operator's service account, `m365-operator/m365-operator`.
    Operator,
}

impl Identity {
    /// Every identity, in the order `start.sh` lists them.
    pub const ALL: [Identity; 7] = [
        Identity::Admin,
        Identity::ItAdmin,
        Identity::HrPartner,
        Identity::Employee,
        Identity::Gitops,
        Identity::Vp,
        Identity::Operator,
    ];

    /// The short name in `kubeconfig-<name>`.
    pub fn file_name(self) -> &'static str {
        match self {
            Identity::Admin => "admin",
            Identity::ItAdmin => "it-admin",
            Identity::HrPartner => "hr-partner",
            Identity::Employee => "employee",
            Identity::Gitops => "gitops",
            Identity::Vp => "vp",
            Identity::Operator => "operator",
        }
    }

    /// The user name the apiserver authenticates, as RBAC subjects name it.
    pub fn user_name(self) -> &'static str {
        match self {
            Identity::Operator => "system:serviceaccount:m365-operator:m365-operator",
            other => other.file_name(),
        }
    }

    /// The groups from the token file. The apiserver adds
    /// `system:authenticated` to these.
    pub fn groups(self) -> &'static [&'static str] {
        match self {
            Identity::Admin => &["system:masters"],
            Identity::ItAdmin => &["m365:it-admins"],
            Identity::HrPartner => &["m365:hr-partners"],
            Identity::Employee => &["m365:employees"],
            Identity::Gitops => &["m365:gitops"],
            Identity::Vp => &["m365:vps"],
            Identity::Operator => &[
                "system:serviceaccounts",
                "system:serviceaccounts:m365-operator",
            ],
        }
    }
}

/// The folder `start.sh` wrote. Panics with a hint when the tests were not
/// started by `tests/run.sh`.
pub fn cluster_dir() -> PathBuf {
    match std::env::var_os(CLUSTER_DIR_VAR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => panic!(
            "{CLUSTER_DIR_VAR} is not set: this test needs the test control plane. \
             Run ./tests/run.sh, or start one with tests/control-plane/start.sh DIR \
             and set {CLUSTER_DIR_VAR}=DIR"
        ),
    }
}

/// The kubeconfig that authenticates as `identity`.
pub fn kubeconfig_path(identity: Identity) -> PathBuf {
    cluster_dir().join(format!("kubeconfig-{}", identity.file_name()))
}

/// A client that authenticates as `identity`.
///
/// Build one per test: a client belongs to the Tokio runtime it was built
/// in, and every `#[tokio::test]` has its own.
pub async fn client(identity: Identity) -> Client {
    let path = kubeconfig_path(identity);
    let kubeconfig =
        Kubeconfig::read_from(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()));
    Client::try_from(config).unwrap_or_else(|e| panic!("client for {}: {e}", path.display()))
}

/// Creates a namespace named `<prefix>-<random suffix>` and returns its name.
///
/// The apiserver picks the suffix (`generateName`), so parallel tests and
/// repeated runs against the same control plane never collide. `prefix` must
/// be a lowercase DNS label.
pub async fn fresh_namespace(client: &Client, prefix: &str) -> String {
    let namespace = Namespace {
        metadata: ObjectMeta {
            generate_name: Some(format!("{prefix}-")),
            labels: Some(
                [(
                    "app.kubernetes.io/managed-by".to_owned(),
                    FIELD_MANAGER.to_owned(),
                )]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let created = Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap_or_else(|e| panic!("creating a namespace with prefix {prefix:?}: {e}"));
    created
        .metadata
        .name
        .expect("the apiserver names a created namespace")
}

/// Server-side applies every CRD in the repository's `crds/` folder (files
/// ending in `.yaml` or `.yml`, any number of documents each) and waits
/// until each is Established. A missing or empty folder installs nothing.
///
/// The apply is forced under [`FIELD_MANAGER`], so calling this from many
/// tests, in parallel or not, is safe.
pub async fn install_crds(client: &Client) {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for crd in crds_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("crds")) {
        let name = crd.metadata.name.clone().expect("a CRD has a name");
        api.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
        let established = await_condition(api.clone(), &name, conditions::is_crd_established());
        match tokio::time::timeout(CRD_ESTABLISHED_TIMEOUT, established).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("waiting for CRD {name}: {e}"),
            Err(_) => panic!("CRD {name} not Established after {CRD_ESTABLISHED_TIMEOUT:?}"),
        }
    }
}

/// Every CRD document in the YAML files of `dir`, files in name order.
fn crds_in(dir: &Path) -> Vec<CustomResourceDefinition> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("listing crds/").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();

    let mut crds = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = serde_yaml_ng::Value::deserialize(document)
                .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
            // `---` at the start or end of a file yields an empty document.
            if value.is_null() {
                continue;
            }
            let crd = serde_yaml_ng::from_value(value).unwrap_or_else(|e| {
                panic!("{}: not a CustomResourceDefinition: {e}", path.display())
            });
            crds.push(crd);
        }
    }
    crds
}
