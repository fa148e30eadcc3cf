//! `/users/{id | userPrincipalName}/sendMail`: checks the sender's mailbox and the message,
//! then puts the mail in the outbox.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use tracing::info;

use crate::clock;
use crate::directory::address_is_valid;
use crate::http::body::JsonBody;
use crate::http::error::GraphError;
use crate::sim::Sim;

/// `POST /users/{id | userPrincipalName}/sendMail` → `202`, empty.
pub async fn send(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, GraphError> {
    let from = sender_address(&sim, &key)?;
    let mail = OutgoingMail::from_request(&body)?;
    info!(%from, subject = %mail.subject, "mail accepted");
    sim.post_mail(mail.into_outbox_entry(&from));
    Ok(StatusCode::ACCEPTED)
}

/// The sender's address. A user without a license has no mailbox, which Exchange reports as
/// `MailboxNotEnabledForRESTAPI` rather than as a missing user.
fn sender_address(sim: &Sim, key: &str) -> Result<String, GraphError> {
    let view = sim.view();
    let directory = sim.directory();
    let user = directory.find_visible(key, view)?;
    if user.license_skus().is_empty() {
        return Err(GraphError::new(
            StatusCode::NOT_FOUND,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        ));
    }
    Ok(user.text("mail").unwrap_or(user.upn()).to_string())
}

/// A message accepted for sending.
struct OutgoingMail {
    to: Vec<String>,
    cc: Vec<String>,
    bcc: Vec<String>,
    subject: String,
    content_type: &'static str,
    content: String,
    headers: Vec<Value>,
}

impl OutgoingMail {
    /// Reads and checks a sendMail body.
    fn from_request(body: &Value) -> Result<Self, GraphError> {
        let message = body
            .get("message")
            .and_then(Value::as_object)
            .ok_or_else(|| unreadable("The request body must carry a 'message' object."))?;
        if body
            .get("saveToSentItems")
            .is_some_and(|s| !s.is_boolean() && !s.is_null())
        {
            return Err(unreadable("'saveToSentItems' must be true or false."));
        }
        let (content_type, content) = message_body(message.get("body"))?;
        let mail = Self {
            to: recipients(message, "toRecipients")?,
            cc: recipients(message, "ccRecipients")?,
            bcc: recipients(message, "bccRecipients")?,
            subject: optional_text(message, "subject")?,
            content_type,
            content,
            headers: headers(message.get("internetMessageHeaders"))?,
        };
        if mail.to.is_empty() && mail.cc.is_empty() && mail.bcc.is_empty() {
            return Err(invalid_recipients("At least one recipient is required."));
        }
        Ok(mail)
    }

    fn into_outbox_entry(self, from: &str) -> Value {
        json!({
            "from": from,
            "to": self.to,
            "cc": self.cc,
            "bcc": self.bcc,
            "subject": self.subject,
            "contentType": self.content_type,
            "body": self.content,
            "internetMessageHeaders": self.headers,
            "sentAt": clock::rfc3339_now(),
        })
    }
}

fn recipients(message: &Map<String, Value>, field: &str) -> Result<Vec<String>, GraphError> {
    let Some(list) = message.get(field).filter(|l| !l.is_null()) else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| unreadable(&format!("'{field}' must be an array.")))?;
    list.iter()
        .map(|recipient| {
            let address = recipient
                .pointer("/emailAddress/address")
                .and_then(Value::as_str);
            match address {
                Some(a) if address_is_valid(a) => Ok(a.to_string()),
                _ => Err(invalid_recipients(&format!(
                    "A recipient in '{field}' has no valid address."
                ))),
            }
        })
        .collect()
}

fn message_body(body: Option<&Value>) -> Result<(&'static str, String), GraphError> {
    let Some(body) = body.filter(|b| !b.is_null()) else {
        return Ok(("Text", String::new()));
    };
    let content_type = match body.get("contentType").and_then(Value::as_str) {
        None => "Text",
        Some(t) if t.eq_ignore_ascii_case("text") => "Text",
        Some(t) if t.eq_ignore_ascii_case("html") => "HTML",
        Some(other) => {
            return Err(unreadable(&format!(
                "'{other}' is not a body content type."
            )));
        }
    };
    let content = body
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok((content_type, content.to_string()))
}

fn optional_text(message: &Map<String, Value>, field: &str) -> Result<String, GraphError> {
    match message.get(field) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err(unreadable(&format!("'{field}' must be a string."))),
    }
}

/// Custom headers; Exchange accepts only names starting with `x-` (any case).
fn headers(list: Option<&Value>) -> Result<Vec<Value>, GraphError> {
    let Some(list) = list.filter(|l| !l.is_null()) else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| unreadable("'internetMessageHeaders' must be an array."))?;
    list.iter().map(header).collect()
}

fn header(entry: &Value) -> Result<Value, GraphError> {
    let name = entry
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let value = entry.get("value").and_then(Value::as_str);
    match value {
        Some(value) if name.len() > 2 && name[..2].eq_ignore_ascii_case("x-") => {
            Ok(json!({"name": name, "value": value}))
        }
        _ => Err(GraphError::bad_request(
            "InvalidInternetMessageHeader",
            format!(
                "The internet message header name '{name}' should start with 'x-' or 'X-' and \
                 have a value."
            ),
        )),
    }
}

fn unreadable(message: &str) -> GraphError {
    GraphError::bad_request("RequestBodyRead", message)
}

fn invalid_recipients(message: &str) -> GraphError {
    GraphError::bad_request("ErrorInvalidRecipients", message)
}
