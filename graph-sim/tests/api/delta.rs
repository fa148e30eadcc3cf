//! `/users/delta`: a paged first round, then changes only, removals, and expired tokens.

use std::time::Duration;

use graph_sim::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

impl Env {
    /// GET an absolute link the simulator handed out.
    async fn follow(&self, link: &str) -> Value {
        let response = self
            .http
            .get(link)
            .bearer_auth(&self.token)
            .header("Prefer", "odata.maxpagesize=2")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{link}");
        response.json().await.unwrap()
    }

    /// Follows next links to the end of a round: its items and its delta link.
    async fn round(&self, first: &str) -> (Vec<Value>, String) {
        let mut items = Vec::new();
        let mut page = self.follow(first).await;
        loop {
            items.extend(page["value"].as_array().unwrap().iter().cloned());
            let Some(next) = page["@odata.nextLink"].as_str().map(str::to_string) else {
                let delta = page["@odata.deltaLink"].as_str().unwrap().to_string();
                return (items, delta);
            };
            page = self.follow(&next).await;
        }
    }
}

fn upns(items: &[Value]) -> Vec<&str> {
    items
        .iter()
        .filter_map(|i| i["userPrincipalName"].as_str())
        .collect()
}

fn removed(items: &[Value]) -> Vec<(&str, &str)> {
    items
        .iter()
        .filter(|i| i.get("@removed").is_some())
        .map(|i| {
            (
                i["id"].as_str().unwrap(),
                i["@removed"]["reason"].as_str().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_first_round_pages_and_later_rounds_report_only_changes() {
    let env = env_with(Config {
        users: ["a", "b", "c"]
            .iter()
            .map(|n| seed(&format!("{n}@contoso.example")))
            .collect(),
        ..Config::default()
    })
    .await;
    let (items, delta) = env.round(&env.graph("/users/delta")).await;
    assert_eq!(
        upns(&items),
        [
            "a@contoso.example",
            "b@contoso.example",
            "c@contoso.example"
        ]
    );
    assert!(delta.contains("/v1.0/users/delta?$deltatoken="), "{delta}");

    let b = id_of(&env.sim, "b@contoso.example");
    env.patch("/users/a@contoso.example", &json!({"jobTitle": "Lead"}))
        .await;
    env.delete(&format!("/users/{b}")).await;
    env.create_user(&new_user("d@contoso.example")).await;
    let (items, delta) = env.round(&delta).await;
    assert_eq!(upns(&items), ["a@contoso.example", "d@contoso.example"]);
    assert_eq!(removed(&items), [(b.as_str(), "changed")]);

    env.delete(&format!("/directory/deletedItems/{b}")).await;
    let (items, delta) = env.round(&delta).await;
    assert_eq!(removed(&items), [(b.as_str(), "deleted")]);

    let (items, _) = env.round(&delta).await;
    assert_eq!(items, Vec::<Value>::new());
}

#[tokio::test]
async fn a_user_hidden_by_replication_shows_up_in_a_later_round() {
    let env = env_with(Config {
        replication_lag_ms: 800,
        ..Config::default()
    })
    .await;
    let (_, delta) = env.round(&env.graph("/users/delta")).await;
    env.create_user(&new_user("late@contoso.example")).await;
    let (items, early) = env.round(&delta).await;
    assert!(items.is_empty(), "{items:?}");
    tokio::time::sleep(Duration::from_millis(900)).await;
    let (items, _) = env.round(&early).await;
    assert_eq!(upns(&items), ["late@contoso.example"]);
}

#[tokio::test]
async fn latest_skips_the_first_round() {
    let env = env_with(Config {
        users: vec![seed("old@contoso.example")],
        ..Config::default()
    })
    .await;
    let (items, delta) = env
        .round(&env.graph("/users/delta?$deltatoken=latest"))
        .await;
    assert!(items.is_empty());
    env.create_user(&new_user("new@contoso.example")).await;
    let (items, _) = env.round(&delta).await;
    assert_eq!(upns(&items), ["new@contoso.example"]);
}

#[tokio::test]
async fn an_expired_delta_token_is_410_sync_state_not_found() {
    let env = env_with(Config {
        delta_token_lifetime_seconds: 1,
        ..Config::default()
    })
    .await;
    let (_, delta) = env.round(&env.graph("/users/delta")).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let expired = env
        .http
        .get(&delta)
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap();
    graph_error(expired, StatusCode::GONE, "syncStateNotFound").await;
    let forged = env.get("/users/delta?$deltatoken=nonsense").await;
    graph_error(forged, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
}
