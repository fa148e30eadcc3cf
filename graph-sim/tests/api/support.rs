//! Starting simulators and talking to them.

use graph_sim::{Config, Handle};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";
pub const CLIENT_ID: &str = "00000000-0000-0000-0000-0000000000c1";
pub const SECRET: &str = "sim-client-secret";
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
pub const E3: &str = "6fd2c87f-b296-42f0-b197-1e91e994b900";
pub const E5: &str = "c7df2760-2c81-4ef7-b578-5b5392b571df";
/// Meets every password rule and contains no alias used in these tests.
pub const GOOD_PASSWORD: &str = "Kx9#mVq2!zR7";

/// A running simulator with a client holding a valid token.
pub struct Env {
    pub sim: Handle,
    pub http: Client,
    pub token: String,
}

/// A simulator on an ephemeral loopback port.
pub async fn start(config: Config) -> Handle {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    graph_sim::serve(config, listener)
        .await
        .expect("start simulator")
}

/// A client that never goes through a proxy, so nothing leaves the machine.
pub fn client() -> Client {
    Client::builder().no_proxy().build().expect("build client")
}

/// A simulator for `config` and a client with a token.
pub async fn env_with(config: Config) -> Env {
    let sim = start(config).await;
    let http = client();
    let token = fetch_token(&http, &sim.base_url()).await;
    Env { sim, http, token }
}

/// A simulator with the default configuration and a client with a token.
pub async fn env() -> Env {
    env_with(Config::default()).await
}

/// The token endpoint of the default tenant.
pub fn token_url(base_url: &str) -> String {
    format!("{base_url}/{TENANT}/oauth2/v2.0/token")
}

/// The client-credentials form of the default client.
pub fn token_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", SECRET),
        ("scope", GRAPH_SCOPE),
    ]
}

async fn fetch_token(http: &Client, base_url: &str) -> String {
    token_for(http, base_url, CLIENT_ID, SECRET).await
}

/// A token for another client of the configuration.
pub async fn token_for(http: &Client, base_url: &str, client_id: &str, secret: &str) -> String {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("scope", GRAPH_SCOPE),
    ];
    let response = http
        .post(token_url(base_url))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// A valid `POST /users` body.
pub fn new_user(upn: &str) -> Value {
    let nickname = upn.split('@').next().unwrap().replace('\'', "");
    json!({
        "accountEnabled": true,
        "displayName": format!("User {nickname}"),
        "mailNickname": nickname,
        "userPrincipalName": upn,
        "passwordProfile": {"password": GOOD_PASSWORD, "forceChangePasswordNextSignIn": true},
    })
}

impl Env {
    /// `base_url/v1.0{path}`.
    pub fn graph(&self, path: &str) -> String {
        format!("{}/v1.0{path}", self.sim.base_url())
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(self.graph(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.http
            .post(self.graph(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.http
            .delete(self.graph(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    /// A POST without a body.
    pub async fn post_empty(&self, path: &str) -> Response {
        self.http
            .post(self.graph(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    /// The JSON body of a GET that must succeed.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.http
            .patch(self.graph(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a user and returns the `201` body.
    pub async fn create_user(&self, body: &Value) -> Value {
        let response = self.post("/users", body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "create {body}");
        response.json().await.unwrap()
    }

    /// Creates a user with a usage location and returns its id.
    pub async fn create_located_user(&self, upn: &str) -> String {
        let mut body = new_user(upn);
        body["usageLocation"] = json!("DE");
        self.create_user(&body).await["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `assignLicense` adding `sku`.
    pub async fn assign(&self, user: &str, sku: &str) -> Response {
        let body =
            json!({"addLicenses": [{"skuId": sku, "disabledPlans": []}], "removeLicenses": []});
        self.post(&format!("/users/{user}/assignLicense"), &body)
            .await
    }
}

/// A user body for `Config::users`, visible at once.
pub fn seed(upn: &str) -> Value {
    let name = upn.split('@').next().unwrap();
    json!({"displayName": name, "userPrincipalName": upn, "usageLocation": "DE"})
}

/// A user body for `Config::users` holding an E3 license (so it has a mailbox).
pub fn licensed_seed(upn: &str) -> Value {
    let mut body = seed(upn);
    body["assignedLicenses"] = json!([{"skuId": E3}]);
    body
}

/// The id of the user with this UPN in the simulator.
pub fn id_of(sim: &Handle, upn: &str) -> String {
    sim.users()
        .iter()
        .find(|u| u["userPrincipalName"] == upn)
        .and_then(|u| u["id"].as_str())
        .expect("user present")
        .to_string()
}

/// Asserts a Graph error envelope with this status and code and returns its `error` object.
pub async fn graph_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["innerError"]["request-id"].is_string(),
        "{body}"
    );
    body["error"].clone()
}

/// Asserts a token-endpoint error with this status, `error` and AADSTS code.
pub async fn aad_error(response: Response, status: StatusCode, error: &str, code: u64) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"], json!([code]), "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    body
}
