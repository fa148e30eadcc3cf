//! Creating, reading and updating users, with Entra's validation and uniqueness rules.

use graph_sim::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

const DEFAULT_SET: [&str; 11] = [
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

fn keys(entity: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = entity
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|k| !k.starts_with('@'))
        .collect();
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn create_answers_201_with_the_default_set_and_fills_in_addresses() {
    let env = env().await;
    let created = env.create_user(&new_user("jane.doe@contoso.example")).await;
    assert_eq!(keys(&created), DEFAULT_SET);
    assert_eq!(created["mail"], "jane.doe@contoso.example");
    assert_eq!(created["businessPhones"], json!([]));
    let id = created["id"].as_str().unwrap();
    assert_eq!(id.len(), 36);

    let stored = env.sim.users().into_iter().find(|u| u["id"] == id).unwrap();
    assert_eq!(
        stored["proxyAddresses"],
        json!(["SMTP:jane.doe@contoso.example"])
    );
    assert_eq!(stored["accountEnabled"], true);
    assert_eq!(
        stored["passwordProfile"]["forceChangePasswordNextSignIn"],
        true
    );
    assert!(
        !stored.to_string().contains(GOOD_PASSWORD),
        "password leaked: {stored}"
    );
}

#[tokio::test]
async fn a_duplicate_upn_is_an_object_conflict_even_in_another_case() {
    let env = env().await;
    env.create_user(&new_user("sam@contoso.example")).await;
    for upn in ["sam@contoso.example", "SAM@Contoso.Example"] {
        let response = env.post("/users", &new_user(upn)).await;
        let error = graph_error(response, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
        assert_eq!(error["details"][0]["code"], "ObjectConflict");
        assert_eq!(error["details"][0]["target"], "userPrincipalName");
    }
    assert_eq!(env.sim.users().len(), 1);
}

#[tokio::test]
async fn a_upn_taken_as_another_users_address_conflicts_on_proxy_addresses() {
    let owner = json!({
        "displayName": "Shared", "userPrincipalName": "owner@contoso.example",
        "mail": "help@contoso.example",
    });
    let env = env_with(Config {
        users: vec![owner],
        ..Config::default()
    })
    .await;
    let response = env.post("/users", &new_user("Help@contoso.example")).await;
    let error = graph_error(response, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
    assert_eq!(error["details"][0]["code"], "ObjectConflict");
    assert_eq!(error["details"][0]["target"], "proxyAddresses");
}

#[tokio::test]
async fn an_accented_upn_is_invalid() {
    let env = env().await;
    let mut body = new_user("josé@contoso.example");
    body["mailNickname"] = json!("jose");
    let response = env.post("/users", &body).await;
    let error = graph_error(response, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
    assert_eq!(error["message"], "Property userPrincipalName is invalid.");
    assert_eq!(error["details"][0]["code"], "InvalidValue");
    assert_eq!(error["details"][0]["target"], "userPrincipalName");
}

#[tokio::test]
async fn an_unverified_domain_is_refused() {
    let env = env().await;
    let response = env.post("/users", &new_user("jane@fabrikam.example")).await;
    let error = graph_error(response, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("domain portion of the userPrincipalName"),
        "{message}"
    );
}

#[tokio::test]
async fn weak_passwords_are_refused() {
    let env = env().await;
    for password in [
        "Sh0rt!x",
        "alllowercase",
        "Sécurité2024!",
        "Xjdoe#2024",
        "Password#2024",
    ] {
        let mut body = new_user("jdoe@contoso.example");
        body["passwordProfile"]["password"] = json!(password);
        let response = env.post("/users", &body).await;
        let error = graph_error(response, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("password complexity"),
            "{password}: {message}"
        );
    }
    assert!(env.sim.users().is_empty());
}

#[tokio::test]
async fn missing_required_properties_and_bad_values_are_refused() {
    let env = env().await;
    let mut no_nickname = new_user("kim@contoso.example");
    no_nickname.as_object_mut().unwrap().remove("mailNickname");
    let mut bad_location = new_user("kim@contoso.example");
    bad_location["usageLocation"] = json!("de");
    let mut bad_nickname = new_user("kim@contoso.example");
    bad_nickname["mailNickname"] = json!("kim smith");
    let mut unknown = new_user("kim@contoso.example");
    unknown["favouriteColour"] = json!("teal");
    for (body, target) in [
        (no_nickname, "mailNickname"),
        (bad_location, "usageLocation"),
        (bad_nickname, "mailNickname"),
        (unknown, "favouriteColour"),
    ] {
        let response = env.post("/users", &body).await;
        let error = graph_error(response, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
        assert_eq!(error["details"][0]["target"], target, "{error}");
    }
}

#[tokio::test]
async fn extension_attributes_are_stored_and_read_back_with_select() {
    let env = env().await;
    let mut body = new_user("marked@contoso.example");
    body["onPremisesExtensionAttributes"] = json!({"extensionAttribute7": "m365-operator:ns/name"});
    let id = env.create_user(&body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let response = env
        .get(&format!(
            "/users/{id}?$select=id,onPremisesExtensionAttributes"
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let user: Value = response.json().await.unwrap();
    assert_eq!(keys(&user), ["id", "onPremisesExtensionAttributes"]);
    let attributes = user["onPremisesExtensionAttributes"].as_object().unwrap();
    assert_eq!(attributes.len(), 15);
    assert_eq!(attributes["extensionAttribute7"], "m365-operator:ns/name");
    assert_eq!(attributes["extensionAttribute1"], Value::Null);
}

#[tokio::test]
async fn a_user_is_read_by_id_or_upn_and_unknown_ones_are_not_found() {
    let env = env().await;
    let id = env.create_user(&new_user("o'hara@contoso.example")).await["id"].clone();
    for key in [id.as_str().unwrap(), "O'Hara@contoso.example"] {
        let response = env.get(&format!("/users/{key}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let user: Value = response.json().await.unwrap();
        assert_eq!(user["id"], id);
        assert_eq!(keys(&user), DEFAULT_SET);
    }
    let missing = env.get("/users/nobody@contoso.example").await;
    graph_error(missing, StatusCode::NOT_FOUND, "Request_ResourceNotFound").await;
}

#[tokio::test]
async fn patch_answers_204_and_validates_what_it_changes() {
    let env = env().await;
    let id = env.create_user(&new_user("lee@contoso.example")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.create_user(&new_user("taken@contoso.example")).await;
    let path = format!("/users/{id}");

    let ok = env
        .patch(
            &path,
            &json!({"usageLocation": "FR", "accountEnabled": false}),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_eq!(ok.text().await.unwrap(), "");
    let user: Value = env
        .get(&format!("{path}?$select=usageLocation,accountEnabled"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            user["usageLocation"].as_str(),
            user["accountEnabled"].as_bool()
        ),
        (Some("FR"), Some(false))
    );

    let bad = env.patch(&path, &json!({"usageLocation": "France"})).await;
    graph_error(bad, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
    let clash = env
        .patch(
            &path,
            &json!({"userPrincipalName": "Taken@contoso.example"}),
        )
        .await;
    let error = graph_error(clash, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
    assert_eq!(error["details"][0]["code"], "ObjectConflict");
    let read_only = env
        .patch(
            &path,
            &json!({"proxyAddresses": ["SMTP:x@contoso.example"]}),
        )
        .await;
    graph_error(read_only, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
}

#[tokio::test]
async fn renaming_keeps_the_old_address_as_a_secondary() {
    let env = env().await;
    let id = env.create_user(&new_user("old.name@contoso.example")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let renamed = env
        .patch(
            &format!("/users/{id}"),
            &json!({"userPrincipalName": "new.name@contoso.example"}),
        )
        .await;
    assert_eq!(renamed.status(), StatusCode::NO_CONTENT);
    let user = env
        .sim
        .users()
        .into_iter()
        .find(|u| u["id"] == id.as_str())
        .unwrap();
    assert_eq!(user["mail"], "new.name@contoso.example");
    assert_eq!(
        user["proxyAddresses"],
        json!([
            "SMTP:new.name@contoso.example",
            "smtp:old.name@contoso.example"
        ])
    );
    let reuse = env
        .post("/users", &new_user("old.name@contoso.example"))
        .await;
    let error = graph_error(reuse, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
    assert_eq!(error["details"][0]["target"], "proxyAddresses");
}
