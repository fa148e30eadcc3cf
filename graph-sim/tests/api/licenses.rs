//! Subscriptions and license assignment.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

async fn consumed(env: &Env, sku_id: &str) -> u64 {
    let skus: Value = env.get("/subscribedSkus").await.json().await.unwrap();
    let sku = skus["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["skuId"] == sku_id)
        .unwrap();
    sku["consumedUnits"].as_u64().unwrap()
}

#[tokio::test]
async fn subscribed_skus_report_seats() {
    let env = env().await;
    let response = env.get("/subscribedSkus").await;
    assert_eq!(response.status(), StatusCode::OK);
    let skus: Value = response.json().await.unwrap();
    let e3 = skus["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["skuPartNumber"] == "ENTERPRISEPACK")
        .unwrap();
    assert_eq!(e3["skuId"], E3);
    assert_eq!(e3["id"], format!("{TENANT}_{E3}"));
    assert_eq!(e3["consumedUnits"], 0);
    assert_eq!(
        e3["prepaidUnits"],
        json!({"enabled": 25, "suspended": 0, "warning": 0, "lockedOut": 0})
    );
    assert_eq!(e3["capabilityStatus"], "Enabled");
    assert!(e3["servicePlans"].is_array());
}

#[tokio::test]
async fn assigning_answers_200_with_the_user_and_takes_a_seat_once() {
    let env = env().await;
    let id = env.create_located_user("lic@contoso.example").await;
    for _ in 0..2 {
        let response = env.assign(&id, E3).await;
        assert_eq!(response.status(), StatusCode::OK);
        let user: Value = response.json().await.unwrap();
        assert_eq!(user["id"], id.as_str());
    }
    assert_eq!(consumed(&env, E3).await, 1);
    let user: Value = env
        .get(&format!("/users/{id}?$select=assignedLicenses"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        user["assignedLicenses"],
        json!([{"disabledPlans": [], "skuId": E3}])
    );
}

#[tokio::test]
async fn a_user_without_usage_location_cannot_be_licensed() {
    let env = env().await;
    let id = env.create_user(&new_user("nowhere@contoso.example")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let error = graph_error(
        env.assign(&id, E3).await,
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
    )
    .await;
    assert_eq!(
        error["message"],
        "License assignment cannot be done for user with invalid usage location."
    );
    assert_eq!(consumed(&env, E3).await, 0);
}

#[tokio::test]
async fn unknown_skus_and_malformed_bodies_are_refused() {
    let env = env().await;
    let id = env.create_located_user("odd@contoso.example").await;
    let unknown = env
        .assign(&id, "05e9a617-0261-4cee-bb44-138d3ef5d965")
        .await;
    graph_error(unknown, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
    let half = env
        .post(
            &format!("/users/{id}/assignLicense"),
            &json!({"addLicenses": [{"skuId": E3}]}),
        )
        .await;
    let error = graph_error(half, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("removeLicenses"),
        "{error}"
    );
}

#[tokio::test]
async fn seats_run_out_and_set_seats_or_removal_frees_them() {
    let env = env().await;
    env.sim.set_seats("ENTERPRISEPREMIUM", 1);
    let first = env.create_located_user("first@contoso.example").await;
    let second = env.create_located_user("second@contoso.example").await;
    assert_eq!(env.assign(&first, E5).await.status(), StatusCode::OK);

    let full = graph_error(
        env.assign(&second, E5).await,
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
    )
    .await;
    assert_eq!(
        full["message"],
        format!("Subscription with SKU {E5} does not have any available licenses.")
    );

    env.sim.set_seats("ENTERPRISEPREMIUM", 2);
    assert_eq!(env.assign(&second, E5).await.status(), StatusCode::OK);
    assert_eq!(consumed(&env, E5).await, 2);

    let remove = json!({"addLicenses": [], "removeLicenses": [E5]});
    let removed = env
        .post(&format!("/users/{first}/assignLicense"), &remove)
        .await;
    assert_eq!(removed.status(), StatusCode::OK);
    assert_eq!(consumed(&env, E5).await, 1);
    let again = env
        .post(&format!("/users/{first}/assignLicense"), &remove)
        .await;
    graph_error(again, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
}

#[tokio::test]
async fn assigning_to_an_unknown_user_is_not_found() {
    let env = env().await;
    let response = env.assign("3f1d0c2a-0000-4000-8000-000000000000", E3).await;
    graph_error(response, StatusCode::NOT_FOUND, "Request_ResourceNotFound").await;
}
