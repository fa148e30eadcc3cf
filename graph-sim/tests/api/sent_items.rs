//! Sent Items: what `sendMail` leaves behind, and finding a message again by a custom
//! property, the way a client tells "sent" from "not sent" after a crash.

use graph_sim::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

const SENDER: &str = "noreply@contoso.example";
const PROPERTY: &str = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name M365OperatorMailId";
const FOLDER: &str = "/users/noreply@contoso.example/mailFolders/SentItems/messages";

fn tenant() -> Config {
    Config {
        users: vec![licensed_seed(SENDER), seed("plain@contoso.example")],
        ..Config::default()
    }
}

fn mail(subject: &str, marker: &str, save: Option<bool>) -> Value {
    let mut body = json!({"message": {
        "subject": subject,
        "body": {"contentType": "Text", "content": format!("About {subject}")},
        "toRecipients": [{"emailAddress": {"address": "hire@example.net", "name": "Hire"}}],
        "internetMessageHeaders": [{"name": "x-m365-operator-mail", "value": marker}],
        "singleValueExtendedProperties": [{"id": PROPERTY, "value": marker}],
    }});
    if let Some(save) = save {
        body["saveToSentItems"] = json!(save);
    }
    body
}

impl Env {
    async fn send(&self, body: &Value) {
        let sent = self.post(&format!("/users/{SENDER}/sendMail"), body).await;
        assert_eq!(sent.status(), StatusCode::ACCEPTED);
    }
}

fn by_property(marker: &str) -> String {
    let filter = format!(
        "singleValueExtendedProperties/any(ep: ep/id eq '{PROPERTY}' and ep/value eq '{marker}')"
    );
    format!(
        "{FOLDER}?$filter={}",
        filter
            .replace(' ', "%20")
            .replace('{', "%7B")
            .replace('}', "%7D")
    )
}

#[tokio::test]
async fn sent_mail_is_kept_unless_the_request_says_not_to() {
    let env = env_with(tenant()).await;
    env.send(&mail("Kept by default", "ns/a/1", None)).await;
    env.send(&mail("Kept on request", "ns/a/2", Some(true)))
        .await;
    env.send(&mail("Not kept", "ns/a/3", Some(false))).await;
    assert_eq!(env.sim.outbox().len(), 3, "the outbox sees every mail");
    let listed = env.get_json(FOLDER).await;
    let subjects: Vec<&str> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["Kept on request", "Kept by default"]);
    let first = &listed["value"][0];
    assert_eq!(first["from"]["emailAddress"]["address"], SENDER);
    assert_eq!(first["toRecipients"][0]["emailAddress"]["name"], "Hire");
    assert!(
        first.get("internetMessageHeaders").is_none(),
        "only on request"
    );
    assert!(
        first.get("singleValueExtendedProperties").is_none(),
        "only on request"
    );
}

#[tokio::test]
async fn a_message_is_found_by_its_extended_property() {
    let env = env_with(tenant()).await;
    env.send(&mail("First", "ns/a/1", None)).await;
    env.send(&mail("Second", "ns/a/2", None)).await;
    let found = env.get_json(&by_property("ns/a/1")).await;
    assert_eq!(found["value"].as_array().unwrap().len(), 1);
    assert_eq!(found["value"][0]["subject"], "First");
    let missing = env.get_json(&by_property("ns/a/9")).await;
    assert_eq!(missing["value"], json!([]));

    let selected = env
        .get_json(&format!(
            "{}&$select=subject,internetMessageHeaders\
             &$expand=singleValueExtendedProperties($filter=id%20eq%20'{}')",
            by_property("ns/a/2"),
            PROPERTY
                .replace(' ', "%20")
                .replace('{', "%7B")
                .replace('}', "%7D")
        ))
        .await;
    let message = &selected["value"][0];
    assert_eq!(message["internetMessageHeaders"][0]["value"], "ns/a/2");
    assert_eq!(
        message["singleValueExtendedProperties"][0]["value"],
        "ns/a/2"
    );
    assert!(message["id"].is_string());
    assert!(
        message.get("body").is_none(),
        "$select keeps only what it names"
    );
}

#[tokio::test]
async fn both_folder_spellings_work_and_pages_link_on() {
    let env = env_with(tenant()).await;
    for n in 0..3 {
        env.send(&mail(&format!("Mail {n}"), &format!("ns/a/{n}"), None))
            .await;
    }
    let call_form = env
        .get_json(&format!(
            "/users/{SENDER}/mailFolders('SentItems')/messages"
        ))
        .await;
    assert_eq!(call_form["value"].as_array().unwrap().len(), 3);
    let page = env
        .get_json(&format!(
            "/users/{SENDER}/mailFolders/sentitems/messages?$top=2"
        ))
        .await;
    assert_eq!(page["value"].as_array().unwrap().len(), 2);
    let next = page["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains("$skip=2"), "{next}");
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
    assert_eq!(rest["value"][0]["subject"], "Mail 0");
    assert!(rest.get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn other_folders_mailboxless_users_and_bad_filters_are_refused() {
    let env = env_with(tenant()).await;
    graph_error(
        env.get(&format!("/users/{SENDER}/mailFolders/Archive/messages"))
            .await,
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
    )
    .await;
    graph_error(
        env.get("/users/plain@contoso.example/mailFolders/SentItems/messages")
            .await,
        StatusCode::NOT_FOUND,
        "MailboxNotEnabledForRESTAPI",
    )
    .await;
    graph_error(
        env.get(&format!("{FOLDER}?$filter=importance%20eq%20'high'"))
            .await,
        StatusCode::BAD_REQUEST,
        "ErrorInvalidUrlQueryFilter",
    )
    .await;
    let mut bad = mail("Bad property", "x", None);
    bad["message"]["singleValueExtendedProperties"] = json!([{"id": "Name X", "value": "x"}]);
    graph_error(
        env.post(&format!("/users/{SENDER}/sendMail"), &bad).await,
        StatusCode::BAD_REQUEST,
        "ErrorInvalidProperty",
    )
    .await;
}
