//! sendMail into the outbox.

use graph_sim::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

const SENDER: &str = "noreply@contoso.example";

fn with_sender() -> Config {
    let sender = json!({
        "displayName": "No Reply", "userPrincipalName": SENDER, "usageLocation": "DE",
        "assignedLicenses": [{"skuId": E3}],
    });
    let unlicensed = json!({"displayName": "Plain", "userPrincipalName": "plain@contoso.example"});
    Config {
        users: vec![sender, unlicensed],
        ..Config::default()
    }
}

fn welcome_mail() -> Value {
    json!({
        "message": {
            "subject": "Welcome",
            "body": {"contentType": "html", "content": "<p>Hello</p>"},
            "toRecipients": [
                {"emailAddress": {"address": "new.hire@contoso.example", "name": "New Hire"}},
            ],
            "ccRecipients": [{"emailAddress": {"address": "manager@contoso.example"}}],
            "internetMessageHeaders": [
                {"name": "x-m365-operator-mail", "value": "ns/alice/welcome"},
            ],
        },
        "saveToSentItems": false,
    })
}

#[tokio::test]
async fn a_licensed_sender_puts_the_mail_with_its_headers_in_the_outbox() {
    let env = env_with(with_sender()).await;
    let response = env
        .post(&format!("/users/{SENDER}/sendMail"), &welcome_mail())
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.text().await.unwrap(), "");
    let outbox = env.sim.outbox();
    assert_eq!(outbox.len(), 1);
    let mail = &outbox[0];
    assert_eq!(mail["from"], SENDER);
    assert_eq!(mail["to"], json!(["new.hire@contoso.example"]));
    assert_eq!(mail["cc"], json!(["manager@contoso.example"]));
    assert_eq!(mail["subject"], "Welcome");
    assert_eq!(mail["contentType"], "HTML");
    assert_eq!(mail["body"], "<p>Hello</p>");
    assert_eq!(
        mail["internetMessageHeaders"],
        json!([{"name": "x-m365-operator-mail", "value": "ns/alice/welcome"}])
    );
    assert!(mail["sentAt"].is_string());
}

#[tokio::test]
async fn a_sender_without_a_license_has_no_mailbox() {
    let env = env_with(with_sender()).await;
    let response = env
        .post("/users/plain@contoso.example/sendMail", &welcome_mail())
        .await;
    graph_error(
        response,
        StatusCode::NOT_FOUND,
        "MailboxNotEnabledForRESTAPI",
    )
    .await;
    assert!(env.sim.outbox().is_empty());
}

#[tokio::test]
async fn an_unknown_sender_is_not_found() {
    let env = env_with(with_sender()).await;
    let response = env
        .post("/users/ghost@contoso.example/sendMail", &welcome_mail())
        .await;
    graph_error(response, StatusCode::NOT_FOUND, "Request_ResourceNotFound").await;
}

#[tokio::test]
async fn malformed_messages_are_refused() {
    let env = env_with(with_sender()).await;
    let path = format!("/users/{SENDER}/sendMail");
    let mut no_recipients = welcome_mail();
    no_recipients["message"]["toRecipients"] = json!([]);
    no_recipients["message"]["ccRecipients"] = json!([]);
    let mut bad_header = welcome_mail();
    bad_header["message"]["internetMessageHeaders"] = json!([{"name": "Reply-To", "value": "x"}]);
    let mut bad_type = welcome_mail();
    bad_type["message"]["body"]["contentType"] = json!("markdown");
    for (body, code) in [
        (no_recipients, "ErrorInvalidRecipients"),
        (bad_header, "InvalidInternetMessageHeader"),
        (bad_type, "RequestBodyRead"),
        (json!({"subject": "no message"}), "RequestBodyRead"),
    ] {
        graph_error(env.post(&path, &body).await, StatusCode::BAD_REQUEST, code).await;
    }
    assert!(env.sim.outbox().is_empty());
}
