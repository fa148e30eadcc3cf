//! Delete, restore, permanent delete, revoking sessions, blocking sign-in, and the rule that
//! apps cannot act on administrators.

use std::time::Duration;

use graph_sim::{Config, RoleAssignmentSeed};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";

fn tenant(upns: &[&str]) -> Config {
    Config {
        users: upns.iter().map(|u| licensed_seed(u)).collect(),
        ..Config::default()
    }
}

#[tokio::test]
async fn a_deleted_user_is_gone_listed_as_deleted_and_frees_its_seat() {
    let env = env_with(tenant(&["leaver@contoso.example"])).await;
    let id = id_of(&env.sim, "leaver@contoso.example");
    let deleted = env.delete(&format!("/users/{id}")).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    graph_error(
        env.get(&format!("/users/{id}")).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    )
    .await;
    graph_error(
        env.delete(&format!("/users/{id}")).await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    )
    .await;
    let listed = env
        .get_json("/directory/deletedItems/microsoft.graph.user")
        .await;
    assert_eq!(listed["value"][0]["id"], id.as_str());
    assert_eq!(listed["value"][0]["@odata.type"], "#microsoft.graph.user");
    assert!(listed["value"][0]["deletedDateTime"].is_string());
    let one = env.get_json(&format!("/directory/deletedItems/{id}")).await;
    assert_eq!(one["userPrincipalName"], "leaver@contoso.example");
    let skus = env.get_json("/subscribedSkus").await;
    let e3 = skus["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["skuId"] == E3)
        .unwrap();
    assert_eq!(e3["consumedUnits"], 0, "a deleted user holds no seat");
    assert!(env.sim.users().is_empty());
    assert_eq!(env.sim.deleted_users().len(), 1);
}

#[tokio::test]
async fn restore_brings_the_user_back_unless_its_upn_was_reused() {
    let env = env_with(tenant(&[
        "comeback@contoso.example",
        "taken@contoso.example",
    ]))
    .await;
    let back = id_of(&env.sim, "comeback@contoso.example");
    env.delete(&format!("/users/{back}")).await;
    let restored = env
        .post_empty(&format!("/directory/deletedItems/{back}/restore"))
        .await;
    assert_eq!(restored.status(), StatusCode::OK);
    let restored: Value = restored.json().await.unwrap();
    assert_eq!(restored["id"], back.as_str());
    assert_eq!(restored["deletedDateTime"], Value::Null);
    let user = env
        .get_json(&format!("/users/{back}?$select=assignedLicenses"))
        .await;
    assert_eq!(user["assignedLicenses"][0]["skuId"], E3);

    let taken = id_of(&env.sim, "taken@contoso.example");
    env.delete(&format!("/users/{taken}")).await;
    env.create_user(&new_user("taken@contoso.example")).await;
    let conflict = env
        .post_empty(&format!("/directory/deletedItems/{taken}/restore"))
        .await;
    let error = graph_error(conflict, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
    assert_eq!(error["details"][0]["code"], "ObjectConflict");
    graph_error(
        env.post_empty("/directory/deletedItems/6e2c0b1a-0000-4000-8000-000000000001/restore")
            .await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    )
    .await;
}

#[tokio::test]
async fn a_permanent_delete_cannot_be_undone() {
    let env = env_with(tenant(&["gone@contoso.example"])).await;
    let id = id_of(&env.sim, "gone@contoso.example");
    env.delete(&format!("/users/{id}")).await;
    let purged = env.delete(&format!("/directory/deletedItems/{id}")).await;
    assert_eq!(purged.status(), StatusCode::NO_CONTENT);
    graph_error(
        env.post_empty(&format!("/directory/deletedItems/{id}/restore"))
            .await,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
    )
    .await;
    assert!(env.sim.deleted_users().is_empty());
}

#[tokio::test]
async fn deleted_users_are_purged_when_the_retention_ends() {
    let env = env_with(Config {
        deleted_retention_seconds: 1,
        ..tenant(&["brief@contoso.example"])
    })
    .await;
    let id = id_of(&env.sim, "brief@contoso.example");
    env.delete(&format!("/users/{id}")).await;
    assert_eq!(env.sim.deleted_users().len(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let listed = env
        .get_json("/directory/deletedItems/microsoft.graph.user")
        .await;
    assert_eq!(listed["value"], json!([]));
}

#[tokio::test]
async fn revoking_sessions_answers_true_and_stamps_the_user() {
    let env = env_with(tenant(&["lost.phone@contoso.example"])).await;
    let revoked = env
        .post_empty("/users/lost.phone@contoso.example/revokeSignInSessions")
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    let body: Value = revoked.json().await.unwrap();
    assert_eq!(body["value"], true);
    let user = env
        .get_json("/users/lost.phone@contoso.example?$select=signInSessionsValidFromDateTime")
        .await;
    assert!(
        user["signInSessionsValidFromDateTime"].is_string(),
        "{user}"
    );
    let blocked = env
        .patch(
            "/users/lost.phone@contoso.example",
            &json!({"accountEnabled": false}),
        )
        .await;
    assert_eq!(blocked.status(), StatusCode::NO_CONTENT);
    let user = env
        .get_json("/users/lost.phone@contoso.example?$select=accountEnabled")
        .await;
    assert_eq!(user["accountEnabled"], false);
}

#[tokio::test]
async fn apps_cannot_change_administrators() {
    let env = env_with(Config {
        role_assignments: vec![RoleAssignmentSeed {
            principal: "boss@contoso.example".into(),
            role_definition_id: GLOBAL_ADMIN.into(),
        }],
        ..tenant(&["boss@contoso.example"])
    })
    .await;
    let boss = "/users/boss@contoso.example";
    let patch = env.patch(boss, &json!({"accountEnabled": false})).await;
    graph_error(patch, StatusCode::FORBIDDEN, "Authorization_RequestDenied").await;
    graph_error(
        env.delete(boss).await,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
    )
    .await;
    graph_error(
        env.post_empty(&format!("{boss}/revokeSignInSessions"))
            .await,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
    )
    .await;
    assert_eq!(
        env.get(boss).await.status(),
        StatusCode::OK,
        "reads still work"
    );
}
