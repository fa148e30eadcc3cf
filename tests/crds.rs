//! The CRDs: generated from the Rust types, checked in, and accepted by a real API server
//! that enforces their schema and CEL rules with messages a person can act on.

mod support;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, PostParams};
use m365_operator::api::{self, User};
use serde_json::json;
use support::cluster::{self, Identity};
use support::scenario::Scenario;

const CHECKED_IN: &str = include_str!("../crds/m365-operator.yaml");

#[test]
fn checked_in_crds_match_the_code() {
    assert!(
        CHECKED_IN == api::crds_yaml(),
        "crds/m365-operator.yaml is stale: run `cargo run -- crd > crds/m365-operator.yaml`"
    );
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn crds_are_established_and_structural() {
    let client = cluster::client(Identity::Admin).await;
    cluster::install_crds(&client).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    for name in ["users.m365-operator.io", "tenants.m365-operator.io"] {
        let crd = crds.get(name).await.expect("the CRD is installed");
        let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
        let status = |t: &str| {
            conditions
                .iter()
                .find(|c| c.type_ == t)
                .map(|c| c.status.clone())
        };
        assert_eq!(
            status("Established").as_deref(),
            Some("True"),
            "{name}: {conditions:?}"
        );
        assert_ne!(
            status("NonStructuralSchema").as_deref(),
            Some("True"),
            "{name}: {conditions:?}"
        );
    }
}

/// Creates a User from the scenario's valid template with `change` merged into its spec and
/// returns the API server's refusal message.
async fn refusal(scenario: &Scenario, name: &str, change: serde_json::Value) -> String {
    let mut manifest = serde_json::to_value(scenario.user(name, "Ann", "Lee")).unwrap();
    for (key, value) in change.as_object().unwrap() {
        manifest["spec"][key] = value.clone();
    }
    let api: Api<DynamicObject> = Api::namespaced_with(
        scenario.client.clone(),
        &scenario.namespace,
        &ApiResource::erase::<User>(&()),
    );
    let object: DynamicObject = serde_json::from_value(manifest).unwrap();
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => panic!("the API server accepted {change}"),
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            status.message
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn bad_users_are_refused_at_apply_time_with_readable_messages() {
    let scenario = Scenario::without_operator("crd-refusals").await;
    let cases = [
        (json!({"givenName": "  "}), "givenName must not be empty"),
        (json!({"surname": ""}), "surname must not be empty"),
        (
            json!({"usageLocation": "de"}),
            "usageLocation must be a two-letter ISO 3166 country code",
        ),
        (
            json!({"usageLocation": "DEU"}),
            "usageLocation must be a two-letter ISO 3166 country code",
        ),
        (json!({"license": "E4"}), "supported values: \"E3\", \"E5\""),
        (
            json!({"upnLocalPart": "ann..lee"}),
            "upnLocalPart may use letters A-Z",
        ),
        (
            json!({"upnLocalPart": "zoë"}),
            "upnLocalPart may use letters A-Z",
        ),
        (
            json!({"approval": {"approver": "nobody", "reference": "HR-1"}}),
            "approvedAt: Required value",
        ),
        (
            json!({"welcomeMail": {"recipient": "not-an-address"}}),
            "welcomeMail.recipient must be a mail address",
        ),
    ];
    for (i, (change, expected)) in cases.into_iter().enumerate() {
        let message = refusal(&scenario, &format!("bad-{i}"), change.clone()).await;
        assert!(
            message.contains(expected),
            "for {change}: {message:?} lacks {expected:?}"
        );
    }
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn a_valid_user_is_accepted_with_defaults() {
    let scenario = Scenario::without_operator("crd-accepts").await;
    let mut user = scenario.user("ann-lee", "Ann", "Lee");
    user.spec.tenant = "default".into();
    let created = scenario.create(&user).await;
    assert_eq!(created.spec.tenant, "default");
    assert_eq!(created.spec.license, m365_operator::api::LicenseTier::E3);
}
