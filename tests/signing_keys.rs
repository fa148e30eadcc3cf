//! The signing keys live in one Secret on the real API server: created once, read back by
//! every later start, rotated without losing the keys that earlier tokens name.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use m365_operator::tokens::store::{self, DEFAULT_SECRET_NAME, KEY_RING_KEY};
use m365_operator::tokens::{FirstSession, issue_first_session, verify};
use support::cluster::{self, Identity};

fn session() -> FirstSession {
    FirstSession {
        issuer: "https://m365-operator.contoso.example".into(),
        subject: "7c1e0f6a-0000-0000-0000-00000000c0de".into(),
        upn: "zoe.muller@contoso.example".into(),
        role: "employee".into(),
        audience: None,
    }
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn the_key_ring_is_created_once_and_loaded_after() {
    let client = cluster::client(Identity::Admin).await;
    let namespace = cluster::fresh_namespace(&client, "signing-keys").await;

    let first = store::load_or_create(&client, &namespace, DEFAULT_SECRET_NAME)
        .await
        .expect("create the key ring");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let stored = secrets
        .get(DEFAULT_SECRET_NAME)
        .await
        .expect("the Secret exists");
    let version = stored.metadata.resource_version.clone();
    assert!(stored.data.unwrap().contains_key(KEY_RING_KEY));

    let second = store::load_or_create(&client, &namespace, DEFAULT_SECRET_NAME)
        .await
        .expect("load the key ring");
    assert_eq!(first.current_kid(), second.current_kid());
    let unchanged = secrets.get(DEFAULT_SECRET_NAME).await.unwrap();
    assert_eq!(
        unchanged.metadata.resource_version, version,
        "loading never rewrites"
    );

    // A token signed before a restart verifies after it.
    let token = issue_first_session(&first, &session(), jiff::Timestamp::now()).unwrap();
    assert!(verify(&second, token.jwt.expose()).is_ok());
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn rotation_is_stored_and_keeps_the_old_key_published() {
    let client = cluster::client(Identity::Admin).await;
    let namespace = cluster::fresh_namespace(&client, "signing-keys").await;
    let before = store::load_or_create(&client, &namespace, "keys")
        .await
        .unwrap();
    let token = issue_first_session(&before, &session(), jiff::Timestamp::now()).unwrap();

    let rotated = store::rotate(
        &client,
        &namespace,
        "keys",
        jiff::Timestamp::now(),
        Duration::from_secs(48 * 3600),
    )
    .await
    .expect("rotate");
    assert_ne!(rotated.current_kid(), before.current_kid());

    let reloaded = store::load_or_create(&client, &namespace, "keys")
        .await
        .unwrap();
    assert_eq!(reloaded.current_kid(), rotated.current_kid());
    let kids: Vec<&str> = reloaded.kids().collect();
    assert_eq!(kids, [before.current_kid(), rotated.current_kid()]);
    assert!(verify(&reloaded, token.jwt.expose()).is_ok());
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn replicas_starting_together_agree_on_one_ring() {
    let client = cluster::client(Identity::Admin).await;
    let namespace = cluster::fresh_namespace(&client, "signing-keys").await;
    let rings = futures::future::join_all(
        (0..4).map(|_| store::load_or_create(&client, &namespace, DEFAULT_SECRET_NAME)),
    )
    .await;
    let kids: Vec<String> = rings
        .into_iter()
        .map(|ring| ring.expect("load or create").current_kid().to_string())
        .collect();
    assert!(kids.iter().all(|kid| kid == &kids[0]), "{kids:?}");
}
