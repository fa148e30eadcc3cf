//! The operator signs in to a tenant with a certificate or a federated workload identity
//! token, end to end, and the token service refuses the wrong certificate, audience or
//! subject with the AADSTS code the operator then reports.

mod support;

use std::collections::BTreeMap;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use graph_sim::{ClientCredential, FederatedCredential, FederatedIssuer};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use m365_operator::api::Tenant;
use rcgen::{CertificateParams, KeyPair, PKCS_RSA_SHA256};
use serde_json::json;
use support::scenario::{Scenario, sim_config, wait};

const ISSUER: &str = "https://oidc.cluster.example";
const EXCHANGE: &str = "api://AzureADTokenExchange";

/// An RSA key and its self-signed certificate, as an app registration would hold them.
struct AppCertificate {
    key_pem: String,
    certificate_pem: String,
    public_key_pem: String,
}

fn app_certificate() -> AppCertificate {
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256).unwrap();
    let certificate = CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&key)
        .unwrap();
    AppCertificate {
        key_pem: key.serialize_pem(),
        certificate_pem: certificate.pem(),
        public_key_pem: key.public_key_pem(),
    }
}

async fn connected(scenario: &Scenario) -> (String, String, String) {
    let tenant = wait(
        "a Connected verdict on the new credentials",
        || async { scenario.tenants().get(scenario.tenant_name()).await.ok() },
        |t: &Tenant| {
            t.status.as_ref().is_some_and(|s| {
                s.observed_generation == t.metadata.generation && !s.conditions.is_empty()
            })
        },
    )
    .await;
    let c = tenant
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Connected")
        .unwrap();
    (c.status, c.reason, c.message)
}

async fn use_credentials(scenario: &Scenario, credentials: serde_json::Value) {
    scenario
        .patch_tenant(json!({ "credentials": credentials }))
        .await;
}

async fn tls_secret(scenario: &Scenario, name: &str, cert: &AppCertificate) {
    let data = BTreeMap::from([
        (
            "tls.crt".to_string(),
            ByteString(cert.certificate_pem.clone().into_bytes()),
        ),
        (
            "tls.key".to_string(),
            ByteString(cert.key_pem.clone().into_bytes()),
        ),
    ]);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(data),
        ..Default::default()
    };
    let api: Api<Secret> = Api::namespaced(scenario.client.clone(), &scenario.namespace);
    api.create(&PostParams::default(), &secret).await.unwrap();
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn a_registered_certificate_signs_in_and_another_is_refused() {
    let registered = app_certificate();
    let stranger = app_certificate();
    let mut config = sim_config();
    config.clients[0].certificates = vec![registered.certificate_pem.clone()];
    let scenario = Scenario::with_sim_config("certificate", config)
        .await
        .with_operator();
    tls_secret(&scenario, "app-cert", &registered).await;
    tls_secret(&scenario, "other-cert", &stranger).await;

    for algorithm in ["PS256", "RS256"] {
        let certificate =
            json!({"namespace": scenario.namespace, "name": "app-cert", "algorithm": algorithm});
        use_credentials(
            &scenario,
            json!({"clientSecret": null, "certificate": certificate}),
        )
        .await;
        let verdict = connected(&scenario).await;
        assert_eq!(verdict.0, "True", "{algorithm}: {verdict:?}");
    }
    scenario
        .create(&scenario.user("cert", "Carl", "Certo"))
        .await;
    scenario.wait_ready("cert").await;

    let other = json!({"namespace": scenario.namespace, "name": "other-cert"});
    use_credentials(&scenario, json!({"certificate": other})).await;
    let (status, reason, message) = connected(&scenario).await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "CredentialsInvalid")
    );
    assert!(message.contains("AADSTS700027"), "{message}");
    let logs = scenario.operator.as_ref().unwrap().logs();
    assert!(!logs.contains("PRIVATE KEY") && !logs.contains(&registered.key_pem[40..80]));
}

/// A projected service-account token as the kubelet writes it.
fn federated_token(issuer_key: &AppCertificate, subject: &str, audience: &str) -> String {
    let now = jiff::Timestamp::now().as_second();
    let claims = json!({"iss": ISSUER, "sub": subject, "aud": audience, "iat": now, "nbf": now, "exp": now + 3600});
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(issuer_key.key_pem.as_bytes()).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid =
        Some(URL_SAFE_NO_PAD.encode(digest(&SHA256, issuer_key.public_key_pem.as_bytes())));
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn a_federated_token_file_signs_in_and_a_wrong_subject_or_audience_is_refused() {
    let issuer_key = app_certificate();
    let subject = "system:serviceaccount:m365-operator:m365-operator";
    let mut config = sim_config();
    config.federated_issuers = vec![FederatedIssuer {
        issuer: ISSUER.into(),
        public_keys: vec![issuer_key.public_key_pem.clone()],
    }];
    config.clients.push(ClientCredential {
        client_id: "00000000-0000-0000-0000-0000000000c3".into(),
        federated_credentials: vec![FederatedCredential {
            issuer: ISSUER.into(),
            subject: subject.into(),
            audiences: vec![EXCHANGE.into()],
        }],
        ..Default::default()
    });
    let scenario = Scenario::with_sim_config("federated", config)
        .await
        .with_operator();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("azure-identity-token");
    let workload = json!({
        "clientId": "00000000-0000-0000-0000-0000000000c3",
        "clientSecret": null,
        "workloadIdentity": {"tokenFile": token_file.to_str().unwrap()},
    });

    std::fs::write(&token_file, federated_token(&issuer_key, subject, EXCHANGE)).unwrap();
    use_credentials(&scenario, workload.clone()).await;
    assert_eq!(connected(&scenario).await.0, "True");
    scenario
        .create(&scenario.user("wi", "Wanda", "Ident"))
        .await;
    scenario.wait_ready("wi").await;

    // The file is read afresh for every token: a rotated (here: wrong) one takes effect.
    let wrong = [
        ("system:serviceaccount:other:intruder", EXCHANGE),
        (subject, "api://SomethingElse"),
    ];
    for (round, (sub, aud)) in wrong.into_iter().enumerate() {
        std::fs::write(&token_file, federated_token(&issuer_key, sub, aud)).unwrap();
        // Any spec change makes the operator sign in afresh instead of using its cached token.
        let limits =
            json!({"resourceUnitsPer10Seconds": 1000 + round, "writesPer150Seconds": 1000});
        scenario.patch_tenant(json!({"rateLimits": limits})).await;
        let (status, reason, message) = connected(&scenario).await;
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("False", "CredentialsInvalid"),
            "{sub} {aud}"
        );
        assert!(message.contains("AADSTS7002"), "{message}");
    }
}
