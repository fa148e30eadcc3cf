//! The procedure's policy types (business calendar, approval policy, SLA record) are meant
//! to be embedded in CRDs. A probe CRD that embeds them must be accepted by a real API server
//! (structural schema, CEL rules within the cost budget), and its rules must refuse bad
//! values with messages that name the rule.

mod support;

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, CustomResource, CustomResourceExt, KubeSchema};
use m365_operator::approval::{ApprovalPolicy, StrictApproval};
use m365_operator::sla::{BusinessCalendar, SlaRecord, Weekday};
use serde::{Deserialize, Serialize};
use support::cluster::{self, Identity};

/// A stand-in for the resource that will carry these types.
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "probe.m365-operator.io",
    version = "v1alpha1",
    kind = "PolicyProbe",
    namespaced
)]
#[serde(rename_all = "camelCase")]
struct PolicyProbeSpec {
    calendar: BusinessCalendar,
    approval: ApprovalPolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sla: Option<SlaRecord>,
}

/// A change that breaks one rule.
type Edit = fn(&mut PolicyProbeSpec);

fn good_spec() -> PolicyProbeSpec {
    PolicyProbeSpec {
        calendar: BusinessCalendar {
            time_zone: "Europe/Berlin".into(),
            working_days: vec![Weekday::Monday, Weekday::Friday],
            holidays: vec!["2026-12-25".into()],
            ..BusinessCalendar::default()
        },
        approval: ApprovalPolicy {
            approvers: vec!["hr.partner@contoso.example".into()],
            approver_group: None,
            max_age_days: Some(30),
            strict: Some(StrictApproval {
                issuer: "https://hr.contoso.example".into(),
                audience: "m365-operator".into(),
                jwks: Some(r#"{"keys":[]}"#.into()),
                public_key_pem: None,
            }),
        },
        sla: None,
    }
}

async fn install(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = PolicyProbe::crd();
    let name = crd.metadata.name.clone().unwrap();
    crds.patch(
        &name,
        &PatchParams::apply(cluster::FIELD_MANAGER).force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("the API server accepts the probe CRD");
    let established = await_condition(crds, &name, conditions::is_crd_established());
    tokio::time::timeout(Duration::from_secs(30), established)
        .await
        .expect("Established in time")
        .expect("watching the CRD");
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn embedded_policies_are_accepted_and_their_rules_enforced() {
    let client = cluster::client(Identity::Admin).await;
    install(&client).await;
    let namespace = cluster::fresh_namespace(&client, "policy-schemas").await;
    let probes: Api<PolicyProbe> = Api::namespaced(client, &namespace);
    let create = |name: &str, spec: PolicyProbeSpec| {
        let probes = probes.clone();
        let probe = PolicyProbe::new(name, spec);
        async move { probes.create(&PostParams::default(), &probe).await }
    };
    create("good", good_spec())
        .await
        .expect("a valid spec is stored");

    let refusals: [(&str, Edit, &str); 5] = [
        (
            "closes-early",
            |s| s.calendar.end = "08:00".into(),
            "must start before it ends",
        ),
        (
            "bad-time",
            |s| s.calendar.start = "9:00".into(),
            "start must be a time of day",
        ),
        (
            "bad-holiday",
            |s| s.calendar.holidays = vec!["25.12.2026".into()],
            "YYYY-MM-DD",
        ),
        (
            "nobody",
            |s| s.approval.approvers.clear(),
            "needs approvers, an approverGroup",
        ),
        (
            "two-keys",
            |s| s.approval.strict.as_mut().unwrap().public_key_pem = Some("-".repeat(20)),
            "exactly one of jwks and publicKeyPem",
        ),
    ];
    for (name, edit, message) in refusals {
        let mut spec = good_spec();
        edit(&mut spec);
        match create(name, spec).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 422, "{name}: {status:?}");
                assert!(
                    status.message.contains(message),
                    "{name}: {}",
                    status.message
                );
            }
            other => panic!("{name}: expected a refusal, got {other:?}"),
        }
    }
}
