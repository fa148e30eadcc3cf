//! Checks the test harness itself: the control plane answers, RBAC is on,
//! and each test identity is who later RBAC tests assume it is.

mod support;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{ListParams, PostParams};
use support::cluster::{self, Identity};

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn admin_lists_namespaces() {
    let namespaces = Api::<Namespace>::all(cluster::client(Identity::Admin).await)
        .list(&ListParams::default())
        .await
        .expect("the admin lists namespaces");
    let names: Vec<_> = namespaces
        .iter()
        .filter_map(|ns| ns.metadata.name.as_deref())
        .collect();
    assert!(names.contains(&"default"), "namespaces: {names:?}");
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn employee_may_not_list_namespaces() {
    let result = Api::<Namespace>::all(cluster::client(Identity::Employee).await)
        .list(&ListParams::default())
        .await;
    match result {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("expected 403 Forbidden, got {other:?}"),
    }
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn identities_authenticate_as_configured() {
    for identity in Identity::ALL {
        let review = Api::<SelfSubjectReview>::all(cluster::client(identity).await)
            .create(&PostParams::default(), &SelfSubjectReview::default())
            .await
            .unwrap_or_else(|e| panic!("{identity:?} reviews itself: {e}"));
        let user = review
            .status
            .and_then(|status| status.user_info)
            .unwrap_or_else(|| panic!("{identity:?}: review without user info"));

        assert_eq!(
            user.username.as_deref(),
            Some(identity.user_name()),
            "{identity:?}"
        );
        let mut groups = user.groups.unwrap_or_default();
        groups.sort();
        let mut expected: Vec<_> = identity.groups().iter().map(|g| g.to_string()).collect();
        expected.push("system:authenticated".to_owned());
        expected.sort();
        assert_eq!(groups, expected, "{identity:?}");
    }
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn fresh_namespaces_are_distinct() {
    let client = cluster::client(Identity::Admin).await;
    let first = cluster::fresh_namespace(&client, "harness").await;
    let second = cluster::fresh_namespace(&client, "harness").await;

    assert_ne!(first, second);
    for name in [&first, &second] {
        assert!(name.starts_with("harness-"), "{name}");
        Api::<Namespace>::all(client.clone())
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("namespace {name} exists: {e}"));
    }
}

#[tokio::test]
#[ignore = "needs the control plane; run tests/run.sh"]
async fn crds_install_twice() {
    let client = cluster::client(Identity::Admin).await;
    // A second apply of the same CRDs must be a no-op, as when several test
    // binaries install them.
    cluster::install_crds(&client).await;
    cluster::install_crds(&client).await;
}
