//! Listing users: filters, $select, $top and paging.

use std::collections::HashSet;

use graph_sim::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

async fn list(env: &Env, query: &str) -> Value {
    let response = env.get(&format!("/users?{query}")).await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    response.json().await.unwrap()
}

fn upns(page: &Value) -> Vec<&str> {
    let mut upns: Vec<&str> = page["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap())
        .collect();
    upns.sort_unstable();
    upns
}

fn seeded(upns: &[&str]) -> Config {
    let users = upns
        .iter()
        .map(|upn| json!({"displayName": upn, "userPrincipalName": upn}))
        .collect();
    Config {
        users,
        ..Config::default()
    }
}

#[tokio::test]
async fn filter_by_upn_with_a_doubled_apostrophe() {
    let env = env_with(seeded(&["o'neil@contoso.example", "oneil@contoso.example"])).await;
    let page = list(
        &env,
        "$filter=userPrincipalName%20eq%20'O''Neil@contoso.example'",
    )
    .await;
    assert_eq!(upns(&page), ["o'neil@contoso.example"]);
}

#[tokio::test]
async fn filter_by_mail_proxy_address_prefix_and_or() {
    let env = env_with(seeded(&[
        "ann@contoso.example",
        "bob@contoso.example",
        "anders@contoso.example",
    ]))
    .await;
    let by_mail = list(&env, "$filter=mail eq 'BOB@contoso.example'").await;
    assert_eq!(upns(&by_mail), ["bob@contoso.example"]);
    let by_proxy = list(
        &env,
        "$filter=proxyAddresses/any(p:p eq 'smtp:ann@contoso.example')",
    )
    .await;
    assert_eq!(upns(&by_proxy), ["ann@contoso.example"]);
    let by_prefix = list(&env, "$filter=startsWith(userPrincipalName,'an')").await;
    assert_eq!(
        upns(&by_prefix),
        ["anders@contoso.example", "ann@contoso.example"]
    );
    let either = list(
        &env,
        "$filter=mail eq 'ann@contoso.example' or userPrincipalName eq 'bob@contoso.example'",
    )
    .await;
    assert_eq!(
        upns(&either),
        ["ann@contoso.example", "bob@contoso.example"]
    );
}

#[tokio::test]
async fn unsupported_filters_are_request_unsupported_query() {
    let env = env().await;
    for filter in [
        "displayName gt 'a'",
        "endsWith(mail,'@contoso.example')",
        "createdDateTime eq 'x'",
    ] {
        let response = env.get(&format!("/users?$filter={filter}")).await;
        graph_error(
            response,
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
        )
        .await;
    }
}

#[tokio::test]
async fn advanced_filters_work_with_consistency_level_and_count() {
    let env = env_with(seeded(&["a@contoso.example", "b@contoso.example"])).await;
    let response = env
        .http
        .get(env.graph("/users?$filter=endsWith(mail,'b@contoso.example')&$count=true"))
        .bearer_auth(&env.token)
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["@odata.count"], 1);
    assert_eq!(upns(&page), ["b@contoso.example"]);
}

#[tokio::test]
async fn paging_follows_absolute_next_links() {
    let names: Vec<String> = (0..250)
        .map(|i| format!("user{i:03}@contoso.example"))
        .collect();
    let env = env_with(seeded(
        &names.iter().map(String::as_str).collect::<Vec<_>>(),
    ))
    .await;
    let mut next = Some(env.graph("/users?$top=100&$select=id,userPrincipalName"));
    let (mut sizes, mut seen) = (Vec::new(), HashSet::new());
    while let Some(url) = next.take() {
        assert!(url.starts_with(&env.sim.base_url()), "{url}");
        let response = env
            .http
            .get(&url)
            .bearer_auth(&env.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.unwrap();
        let value = page["value"].as_array().unwrap();
        sizes.push(value.len());
        seen.extend(
            value
                .iter()
                .map(|u| u["userPrincipalName"].as_str().unwrap().to_string()),
        );
        assert!(
            value.iter().all(|u| u.as_object().unwrap().len() == 2),
            "$select kept"
        );
        next = page["@odata.nextLink"].as_str().map(str::to_string);
        assert!(sizes.len() <= 3, "too many pages");
    }
    assert_eq!(sizes, [100, 100, 50]);
    assert_eq!(seen, names.into_iter().collect::<HashSet<_>>());
}

#[tokio::test]
async fn the_default_page_is_100_and_top_is_at_most_999() {
    let names: Vec<String> = (0..120).map(|i| format!("p{i}@contoso.example")).collect();
    let env = env_with(seeded(
        &names.iter().map(String::as_str).collect::<Vec<_>>(),
    ))
    .await;
    let page = list(&env, "").await;
    assert_eq!(page["value"].as_array().unwrap().len(), 100);
    assert!(
        page["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$skiptoken=")
    );
    let too_big = env.get("/users?$top=1000").await;
    graph_error(too_big, StatusCode::BAD_REQUEST, "Request_BadRequest").await;
}

#[tokio::test]
async fn select_limits_properties_and_defaults_hide_the_rest() {
    let uma = json!({
        "displayName": "Uma", "userPrincipalName": "uma@contoso.example", "usageLocation": "NL",
    });
    let env = env_with(Config {
        users: vec![uma],
        ..Config::default()
    })
    .await;
    let default = list(&env, "").await;
    let user = default["value"][0].as_object().unwrap();
    assert_eq!(user.len(), 11);
    for hidden in [
        "accountEnabled",
        "usageLocation",
        "mailNickname",
        "proxyAddresses",
        "assignedLicenses",
    ] {
        assert!(!user.contains_key(hidden), "{hidden}");
    }
    let chosen = list(&env, "$select=accountEnabled,USAGELOCATION,proxyAddresses").await;
    assert_eq!(
        chosen["value"][0],
        json!({
            "accountEnabled": true, "usageLocation": "NL",
            "proxyAddresses": ["SMTP:uma@contoso.example"],
        })
    );
    let unknown = env.get("/users?$select=favouriteColour").await;
    graph_error(unknown, StatusCode::BAD_REQUEST, "BadRequest").await;
}

fn in_order(page: &Value) -> Vec<&str> {
    page["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn orderby_sorts_and_pages_in_order() {
    let env = env_with(seeded(&[
        "carol@contoso.example",
        "alice@contoso.example",
        "bob@contoso.example",
    ]))
    .await;
    let page = list(&env, "$orderby=displayName desc&$top=2").await;
    assert_eq!(
        in_order(&page),
        ["carol@contoso.example", "bob@contoso.example"]
    );
    let next = page["@odata.nextLink"].as_str().unwrap();
    let rest: Value = env
        .http
        .get(next)
        .bearer_auth(&env.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(in_order(&rest), ["alice@contoso.example"]);
    let filtered = env
        .get("/users?$orderby=displayName&$filter=startsWith(displayName,'a')")
        .await;
    graph_error(
        filtered,
        StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
    )
    .await;
}

#[tokio::test]
async fn search_needs_eventual_consistency() {
    let env = env_with(seeded(&[
        "zoe.muller@contoso.example",
        "bob@contoso.example",
    ]))
    .await;
    let query = "/users?$search=%22displayName:zoe%22";
    graph_error(
        env.get(query).await,
        StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
    )
    .await;
    let found: Value = env
        .http
        .get(env.graph(query))
        .bearer_auth(&env.token)
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(upns(&found), ["zoe.muller@contoso.example"]);
}
