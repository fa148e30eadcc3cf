//! The same port over TLS, with the simulator's own certificate authority.

use graph_sim::Config;
use reqwest::{Certificate, Client, StatusCode};
use serde_json::Value;

use crate::support::*;

fn trusting(ca_pem: &str) -> Client {
    Client::builder()
        .no_proxy()
        .add_root_certificate(Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

fn three_users() -> Config {
    Config {
        users: ["a", "b", "c"]
            .iter()
            .map(|n| seed(&format!("{n}@contoso.example")))
            .collect(),
        ..Config::default()
    }
}

#[tokio::test]
async fn https_on_the_same_port_hands_out_https_links() {
    let sim = start(three_users()).await;
    let https = sim.https_url();
    assert_eq!(https, sim.base_url().replacen("http://", "https://", 1));
    let http = trusting(&sim.ca_pem());
    let token = token_for(&http, &https, CLIENT_ID, SECRET).await;
    let page: Value = http
        .get(format!("{https}/v1.0/users?$top=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next = page["@odata.nextLink"].as_str().unwrap();
    assert!(next.starts_with(&format!("{https}/v1.0/users?")), "{next}");
    assert!(page["@odata.context"].as_str().unwrap().starts_with(&https));

    let plain = env_with(three_users()).await;
    let page = plain.get_json("/users?$top=1").await;
    let next = page["@odata.nextLink"].as_str().unwrap();
    assert!(next.starts_with("http://127.0.0.1:"), "{next}");
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_authority_is_refused() {
    let sim = start(Config::default()).await;
    let other = start(Config::default()).await;
    let wrong = trusting(&other.ca_pem());
    assert!(
        wrong
            .get(format!("{}/_sim/state", sim.https_url()))
            .send()
            .await
            .is_err()
    );
    let right = trusting(&sim.ca_pem());
    let state = right
        .get(format!("{}/_sim/state", sim.https_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(state.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_authority_is_written_where_the_configuration_says() {
    let path = std::env::temp_dir().join(format!("graph-sim-ca-{}.pem", std::process::id()));
    let sim = start(Config {
        ca_cert_file: Some(path.clone()),
        ..Config::default()
    })
    .await;
    let written = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(written, sim.ca_pem());
    assert!(written.starts_with("-----BEGIN CERTIFICATE-----"));
}
