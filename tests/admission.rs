//! The admission webhook server against the real API server: with the operator's own
//! certificate it sets the caBundle of its configuration (and of no other), and the API
//! server then calls it and passes its refusal on word for word; with certificate files it
//! serves them and follows a replacement without a restart.
//!
//! Each test registers its own ValidatingWebhookConfiguration pointing at a server in the
//! test process on 127.0.0.1, scoped to the test's fresh namespace, and deletes it however
//! the test ends: a `failurePolicy: Fail` hook left behind would break later tests.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    RuleWithOperations, ServiceReference, ValidatingWebhook, ValidatingWebhookConfiguration,
    WebhookClientConfig,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse};
use kube::{Api, Client};
use m365_operator::admission::managed::{CA_KEY, CERT_KEY, DEFAULT_SECRET_NAME, KEY_KEY};
use m365_operator::admission::{
    self, CertificateSource, ManagedCertificate, Review, Running, Settings, Webhooks,
};
use serde_json::json;
use support::cluster::{self, Identity};

/// What the test reviewer says when it refuses.
const REFUSAL: &str = "ConfigMaps labelled deny-me are refused here";
/// The label the test reviewer refuses.
const DENY_LABEL: &str = "deny-me";
/// The label that puts a namespace in the scope of this test's webhook.
const SCOPE_LABEL: &str = "m365-operator.io/admission-test";
/// The path the test webhook is served at.
const PATH: &str = "/validate/configmaps";
/// The name of the test's webhook inside its configuration.
const HOOK: &str = "configmaps.admission-test.m365-operator.io";
/// How long the API server may take to start calling a new or changed configuration.
const TAKES_EFFECT: Duration = Duration::from_secs(60);

/// Refuses ConfigMaps labelled [`DENY_LABEL`] with [`REFUSAL`], allows everything else.
fn refuse_labelled() -> Review {
    Arc::new(|request: AdmissionRequest<DynamicObject>| {
        async move {
            let labelled = request
                .object
                .as_ref()
                .and_then(|object| object.metadata.labels.as_ref())
                .is_some_and(|labels| labels.contains_key(DENY_LABEL));
            let response = AdmissionResponse::from(&request);
            if labelled {
                response.deny(REFUSAL)
            } else {
                response
            }
        }
        .boxed()
    })
}

fn webhooks() -> Webhooks {
    Webhooks::new().route(PATH, refuse_labelled())
}

/// A fresh namespace that the test's webhooks select by label.
async fn scoped_namespace(client: &Client, prefix: &str) -> String {
    let namespace = cluster::fresh_namespace(client, prefix).await;
    let labels = json!({"metadata": {"labels": {SCOPE_LABEL: namespace}}});
    Api::<Namespace>::all(client.clone())
        .patch(&namespace, &PatchParams::default(), &Patch::Merge(labels))
        .await
        .expect("label the namespace");
    namespace
}

/// One webhook for ConfigMap creates in `namespace`, at `address`, trusting `ca_pem` (none:
/// an empty caBundle, as `kubectl apply` leaves it).
fn hook(
    name: &str,
    namespace: &str,
    address: SocketAddr,
    ca_pem: Option<&str>,
) -> ValidatingWebhook {
    ValidatingWebhook {
        name: name.into(),
        admission_review_versions: vec!["v1".into()],
        side_effects: "None".into(),
        failure_policy: Some("Fail".into()),
        timeout_seconds: Some(5),
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(SCOPE_LABEL.into(), namespace.into())])),
            ..LabelSelector::default()
        }),
        client_config: WebhookClientConfig {
            url: Some(format!("https://{address}{PATH}")),
            ca_bundle: ca_pem.map(|pem| ByteString(pem.as_bytes().to_vec())),
            service: None::<ServiceReference>,
        },
        rules: Some(vec![RuleWithOperations {
            api_groups: Some(vec!["".into()]),
            api_versions: Some(vec!["v1".into()]),
            operations: Some(vec!["CREATE".into()]),
            resources: Some(vec!["configmaps".into()]),
            scope: Some("Namespaced".into()),
        }]),
        ..ValidatingWebhook::default()
    }
}

/// A registered configuration, deleted when dropped, pass or fail.
struct Registered {
    name: String,
}

impl Registered {
    async fn create(client: &Client, name: &str, webhooks: Vec<ValidatingWebhook>) -> Self {
        let configuration = ValidatingWebhookConfiguration {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            webhooks: Some(webhooks),
        };
        // The guard exists before the object, so that nothing can leave it behind.
        let registered = Registered { name: name.into() };
        configurations(client)
            .create(&PostParams::default(), &configuration)
            .await
            .expect("create the webhook configuration");
        registered
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        // Drop may run inside the test's runtime, where blocking on it would stall; a thread
        // with its own runtime and client deletes it.
        let name = self.name.clone();
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the cleanup");
            runtime.block_on(async {
                let client = cluster::client(Identity::Admin).await;
                configurations(&client)
                    .delete(&name, &DeleteParams::default())
                    .await
                    .map(|_| ())
            })
        })
        .join();
        if !matches!(deleted, Ok(Ok(()))) {
            eprintln!(
                "could not delete webhook configuration {}: {deleted:?}",
                self.name
            );
        }
    }
}

fn configurations(client: &Client) -> Api<ValidatingWebhookConfiguration> {
    Api::all(client.clone())
}

/// The caBundle of every webhook in the configuration, in order.
async fn ca_bundles(client: &Client, name: &str) -> Vec<Option<Vec<u8>>> {
    let configuration = configurations(client)
        .get(name)
        .await
        .expect("read it back");
    configuration
        .webhooks
        .unwrap_or_default()
        .into_iter()
        .map(|webhook| webhook.client_config.ca_bundle.map(|b| b.0))
        .collect()
}

fn config_map(name: &str, labelled: bool) -> ConfigMap {
    let labels = labelled.then(|| BTreeMap::from([(DENY_LABEL.to_string(), "yes".to_string())]));
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels,
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

/// The API server's message when our webhook refuses.
fn refusal_message() -> String {
    format!("admission webhook \"{HOOK}\" denied the request: {REFUSAL}")
}

/// Dry-run creates of a labelled ConfigMap until the API server passes our refusal on: the
/// configuration is in effect and the API server trusts the served certificate.
async fn wait_until_the_hook_answers(client: &Client, namespace: &str) {
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let deadline = tokio::time::Instant::now() + TAKES_EFFECT;
    loop {
        let last = match config_maps
            .create(&dry_run, &config_map("probe", true))
            .await
        {
            Err(kube::Error::Api(status)) if status.message == refusal_message() => return,
            Err(other) => other.to_string(),
            Ok(_) => "allowed (the configuration is not in effect yet)".into(),
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "the API server did not call the webhook within {TAKES_EFFECT:?}; last: {last}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A labelled ConfigMap is refused with the reviewer's words; an unlabelled one is stored.
async fn assert_the_hook_decides(client: &Client, namespace: &str, round: &str) {
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let refused = config_maps
        .create(
            &PostParams::default(),
            &config_map(&format!("refused-{round}"), true),
        )
        .await;
    match refused {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.message, refusal_message());
            assert_eq!(status.code, 403, "{status:?}");
        }
        other => panic!("a labelled ConfigMap was not refused: {other:?}"),
    }
    let name = format!("accepted-{round}");
    config_maps
        .create(&PostParams::default(), &config_map(&name, false))
        .await
        .expect("an unlabelled ConfigMap is accepted");
    assert!(config_maps.get_opt(&name).await.unwrap().is_some());
}

async fn wait_for<T>(what: &str, mut look: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + TAKES_EFFECT;
    loop {
        if let Some(found) = look().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen in time"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn start(client: &Client, certificate: CertificateSource) -> Running {
    let settings = Settings {
        listen: loopback(),
        certificate,
    };
    admission::start(client.clone(), settings, webhooks())
        .await
        .expect("the webhook server starts")
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn the_operator_sets_its_ca_bundle_and_the_api_server_passes_its_refusal_on() {
    let client = cluster::client(Identity::Admin).await;
    let namespace = scoped_namespace(&client, "admission").await;
    let name = format!("m365-admission-test-{namespace}");
    // The Secret lives in the test's namespace, standing in for the operator's.
    let managed = ManagedCertificate {
        namespace: namespace.clone(),
        secret: DEFAULT_SECRET_NAME.into(),
        names: admission::certificate::service_names(
            "m365-operator",
            &namespace,
            &["127.0.0.1".into()],
        ),
        configuration: name.clone(),
        resync: Duration::from_secs(1),
    };
    let server = start(&client, CertificateSource::Managed(managed)).await;
    let address = server.local_addr();

    let secret: Secret = Api::namespaced(client.clone(), &namespace)
        .get(DEFAULT_SECRET_NAME)
        .await
        .expect("the certificate Secret is created");
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    let data = secret.data.expect("data");
    for key in [CA_KEY, CERT_KEY, KEY_KEY] {
        assert!(data.contains_key(key), "{key} in {:?}", data.keys());
    }
    let ca = data[CA_KEY].0.clone();

    // Registered after the server started, with empty caBundles, as `kubectl apply` would:
    // the server's next look fixes them. A second configuration, not named to it, must
    // stay as it is; it selects no namespace and may be ignored, so it changes nothing else.
    let other_name = format!("m365-admission-other-{namespace}");
    let mut bystander = hook(
        "bystander.admission-test.m365-operator.io",
        "no-such-namespace",
        address,
        None,
    );
    bystander.failure_policy = Some("Ignore".into());
    let _other = Registered::create(&client, &other_name, vec![bystander]).await;
    let _registered = Registered::create(
        &client,
        &name,
        vec![
            hook(HOOK, &namespace, address, None),
            hook(
                "second.admission-test.m365-operator.io",
                "no-such-namespace",
                address,
                None,
            ),
        ],
    )
    .await;
    let bundles = wait_for("the caBundle being set", async || {
        let bundles = ca_bundles(&client, &name).await;
        bundles.iter().all(Option::is_some).then_some(bundles)
    })
    .await;
    assert_eq!(bundles, [Some(ca.clone()), Some(ca.clone())]);

    wait_until_the_hook_answers(&client, &namespace).await;
    assert_the_hook_decides(&client, &namespace, "managed").await;

    // Several looks later, the other configuration is still untouched.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(ca_bundles(&client, &other_name).await, [None]);

    // Emptied again (a re-apply), it is set again.
    let emptied = json!({"webhooks": [{"name": HOOK, "clientConfig": {"caBundle": null}}]});
    configurations(&client)
        .patch(&name, &PatchParams::default(), &Patch::Strategic(emptied))
        .await
        .expect("empty the caBundle");
    wait_for("the caBundle being set again", async || {
        let bundles = ca_bundles(&client, &name).await;
        (bundles[0].as_deref() == Some(ca.as_slice())).then_some(())
    })
    .await;
    server.shutdown().await;
}

/// A test authority and a serving certificate for 127.0.0.1 it signed, made here rather
/// than by the operator, as cert-manager would: (CA PEM, certificate PEM, key PEM).
fn foreign_certificate(authority: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, authority);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// Writes the pair the way the kubelet updates a mounted Secret: each file replaced whole.
fn write_pair(dir: &Path, cert_pem: &str, key_pem: &str) {
    for (name, text) in [("tls.key", key_pem), ("tls.crt", cert_pem)] {
        let staging = dir.join(format!(".{name}.new"));
        std::fs::write(&staging, text).unwrap();
        std::fs::rename(&staging, dir.join(name)).unwrap();
    }
}

/// Whether a client trusting only `ca_pem` gets a decision from the server.
async fn trusted_by(address: SocketAddr, ca_pem: &str) -> bool {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    let body = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"});
    // The empty review is a bad request: what matters is that TLS let it through.
    client
        .post(format!("https://{address}{PATH}"))
        .json(&body)
        .send()
        .await
        .is_ok_and(|response| response.status() == 400)
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn certificate_files_are_served_and_a_replacement_is_followed_without_restart() {
    let client = cluster::client(Identity::Admin).await;
    let namespace = scoped_namespace(&client, "admission-files").await;
    let name = format!("m365-admission-test-{namespace}");
    let dir = tempfile::tempdir().unwrap();
    let (first_ca, cert, key) = foreign_certificate("first test CA");
    write_pair(dir.path(), &cert, &key);
    let server = start(&client, CertificateSource::Directory(dir.path().into())).await;
    let address = server.local_addr();

    let _registered = Registered::create(
        &client,
        &name,
        vec![hook(HOOK, &namespace, address, Some(&first_ca))],
    )
    .await;
    wait_until_the_hook_answers(&client, &namespace).await;
    assert_the_hook_decides(&client, &namespace, "first").await;
    // It never touched the caBundle: files mean someone else keeps it.
    assert_eq!(
        ca_bundles(&client, &name).await,
        [Some(first_ca.clone().into_bytes())]
    );

    let (second_ca, cert, key) = foreign_certificate("second test CA");
    write_pair(dir.path(), &cert, &key);
    wait_for("the new certificate being served", async || {
        (trusted_by(address, &second_ca).await).then_some(())
    })
    .await;
    assert!(!trusted_by(address, &first_ca).await);
    let trust_second = json!({"webhooks": [{
        "name": HOOK,
        "clientConfig": {"caBundle": ByteString(second_ca.clone().into_bytes())},
    }]});
    configurations(&client)
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Strategic(trust_second),
        )
        .await
        .expect("trust the second authority");
    wait_until_the_hook_answers(&client, &namespace).await;
    assert_the_hook_decides(&client, &namespace, "second").await;
    assert_eq!(
        server.local_addr(),
        address,
        "the same server, never restarted"
    );
    server.shutdown().await;
}
