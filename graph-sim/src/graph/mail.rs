//! `/users/{id | userPrincipalName}/sendMail`: checks the sender's mailbox and the message,
//! puts the mail in the outbox and, unless told not to, a copy in the sender's Sent Items.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use tracing::info;

use crate::directory::address_is_valid;
use crate::http::body::JsonBody;
use crate::http::error::GraphError;
use crate::sim::Sim;
use crate::{clock, ids};

/// Characters of the body kept in `bodyPreview`.
const PREVIEW_LENGTH: usize = 255;

/// `POST /users/{id | userPrincipalName}/sendMail` → `202`, empty.
pub async fn send(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, GraphError> {
    let sender = sender(&sim, &key)?;
    let mail = OutgoingMail::from_request(&body)?;
    info!(from = %sender.address, subject = %mail.subject, "mail accepted");
    sim.post_mail(mail.outbox_entry(&sender.address));
    if mail.save_to_sent_items {
        sim.mailboxes()
            .save_sent(&sender.id, mail.sent_item(&sender));
    }
    Ok(StatusCode::ACCEPTED)
}

/// The mailbox owner a message goes out from.
struct Sender {
    id: String,
    address: String,
    name: String,
}

/// The sender's mailbox. A user without a license has no mailbox, which Exchange reports as
/// `MailboxNotEnabledForRESTAPI` rather than as a missing user.
fn sender(sim: &Sim, key: &str) -> Result<Sender, GraphError> {
    let view = sim.view();
    let directory = sim.directory();
    let user = directory.find_visible(key, view)?;
    if user.license_skus().is_empty() {
        return Err(no_mailbox());
    }
    Ok(Sender {
        id: user.id().to_string(),
        address: user.text("mail").unwrap_or(user.upn()).to_string(),
        name: user.text("displayName").unwrap_or_default().to_string(),
    })
}

/// Exchange's answer for a user with no (usable) mailbox.
pub fn no_mailbox() -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "MailboxNotEnabledForRESTAPI",
        "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
    )
}

/// A recipient: an address and an optional display name.
struct Recipient {
    address: String,
    name: Option<String>,
}

/// A message accepted for sending.
struct OutgoingMail {
    to: Vec<Recipient>,
    cc: Vec<Recipient>,
    bcc: Vec<Recipient>,
    subject: String,
    content_type: &'static str,
    content: String,
    headers: Vec<Value>,
    extended_properties: Vec<Value>,
    save_to_sent_items: bool,
}

impl OutgoingMail {
    /// Reads and checks a sendMail body.
    fn from_request(body: &Value) -> Result<Self, GraphError> {
        let message = body
            .get("message")
            .and_then(Value::as_object)
            .ok_or_else(|| unreadable("The request body must carry a 'message' object."))?;
        // The service saves a copy unless the request says otherwise.
        let save_to_sent_items = match body.get("saveToSentItems") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(save)) => *save,
            Some(_) => return Err(unreadable("'saveToSentItems' must be true or false.")),
        };
        let (content_type, content) = message_body(message.get("body"))?;
        let mail = Self {
            to: recipients(message, "toRecipients")?,
            cc: recipients(message, "ccRecipients")?,
            bcc: recipients(message, "bccRecipients")?,
            subject: optional_text(message, "subject")?,
            content_type,
            content,
            headers: headers(message.get("internetMessageHeaders"))?,
            extended_properties: extended_properties(message.get("singleValueExtendedProperties"))?,
            save_to_sent_items,
        };
        if mail.to.is_empty() && mail.cc.is_empty() && mail.bcc.is_empty() {
            return Err(invalid_recipients("At least one recipient is required."));
        }
        Ok(mail)
    }

    fn outbox_entry(&self, from: &str) -> Value {
        let addresses = |list: &[Recipient]| -> Vec<String> {
            list.iter().map(|r| r.address.clone()).collect()
        };
        json!({
            "from": from,
            "to": addresses(&self.to),
            "cc": addresses(&self.cc),
            "bcc": addresses(&self.bcc),
            "subject": self.subject,
            "contentType": self.content_type,
            "body": self.content,
            "internetMessageHeaders": self.headers,
            "singleValueExtendedProperties": self.extended_properties,
            "sentAt": clock::rfc3339_now(),
        })
    }

    /// The copy filed in the sender's Sent Items, as Exchange describes a message.
    fn sent_item(&self, sender: &Sender) -> Map<String, Value> {
        let now = clock::rfc3339_now();
        let from = json!({"emailAddress": {"name": sender.name, "address": sender.address}});
        let domain = sender.address.rsplit('@').next().unwrap_or("localhost");
        let item = json!({
            "id": ids::message_id(),
            "createdDateTime": now,
            "lastModifiedDateTime": now,
            "receivedDateTime": now,
            "sentDateTime": now,
            "hasAttachments": false,
            "internetMessageId": format!("<{}@{domain}>", ids::guid()),
            "subject": self.subject,
            "bodyPreview": self.content.chars().take(PREVIEW_LENGTH).collect::<String>(),
            "importance": "normal",
            "conversationId": ids::message_id(),
            "isRead": true,
            "isDraft": false,
            "body": {"contentType": self.content_type.to_ascii_lowercase(), "content": self.content},
            "sender": from,
            "from": from,
            "toRecipients": recipients_json(&self.to),
            "ccRecipients": recipients_json(&self.cc),
            "bccRecipients": recipients_json(&self.bcc),
            "replyTo": [],
            "internetMessageHeaders": self.headers,
            "singleValueExtendedProperties": self.extended_properties,
        });
        match item {
            Value::Object(props) => props,
            _ => unreachable!("a json! object literal is an object"),
        }
    }
}

fn recipients_json(list: &[Recipient]) -> Vec<Value> {
    list.iter()
        .map(|r| {
            let name = r.name.clone().unwrap_or_else(|| r.address.clone());
            json!({"emailAddress": {"name": name, "address": r.address}})
        })
        .collect()
}

fn recipients(message: &Map<String, Value>, field: &str) -> Result<Vec<Recipient>, GraphError> {
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
            let name = recipient
                .pointer("/emailAddress/name")
                .and_then(Value::as_str);
            match address {
                Some(a) if address_is_valid(a) => Ok(Recipient {
                    address: a.to_string(),
                    name: name.map(str::to_string),
                }),
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
    optional_array(list, "internetMessageHeaders")?
        .iter()
        .map(header)
        .collect()
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

/// Single-value extended properties: `{"id": "String {GUID} Name X", "value": "..."}`.
fn extended_properties(list: Option<&Value>) -> Result<Vec<Value>, GraphError> {
    optional_array(list, "singleValueExtendedProperties")?
        .iter()
        .map(|entry| {
            let id = entry.get("id").and_then(Value::as_str).unwrap_or_default();
            let value = entry.get("value").and_then(Value::as_str);
            match value {
                Some(value) if extended_property_id_is_valid(id) => {
                    Ok(json!({"id": id, "value": value}))
                }
                _ => Err(GraphError::bad_request(
                    "ErrorInvalidProperty",
                    format!("The extended property '{id}' has no valid id or no value."),
                )),
            }
        })
        .collect()
}

/// `Type {GUID} Name name`, `Type {GUID} Id 0xNNNN` or `Type 0xNNNN`.
fn extended_property_id_is_valid(id: &str) -> bool {
    let mut parts = id.splitn(4, ' ');
    let kind = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    let typed = !kind.is_empty() && kind.chars().all(|c| c.is_ascii_alphabetic());
    let tagged = |tag: &str| tag.len() > 2 && tag[..2].eq_ignore_ascii_case("0x");
    let named = |set: &str, how: &str, name: &str| {
        let guid = set
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .is_some_and(ids::is_guid);
        guid && (how.eq_ignore_ascii_case("Name") && !name.trim().is_empty()
            || how.eq_ignore_ascii_case("Id") && tagged(name))
    };
    typed
        && match rest.as_slice() {
            [tag] => tagged(tag),
            [set, how, name] => named(set, how, name),
            _ => false,
        }
}

fn optional_array<'a>(list: Option<&'a Value>, field: &str) -> Result<&'a [Value], GraphError> {
    match list {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(unreadable(&format!("'{field}' must be an array."))),
    }
}

fn unreadable(message: &str) -> GraphError {
    GraphError::bad_request("RequestBodyRead", message)
}

fn invalid_recipients(message: &str) -> GraphError {
    GraphError::bad_request("ErrorInvalidRecipients", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_property_ids_follow_exchanges_shapes() {
        let set = "{66f5a359-4659-4830-9070-00047ec6ac6e}";
        assert!(extended_property_id_is_valid(&format!(
            "String {set} Name Op Id"
        )));
        assert!(extended_property_id_is_valid(&format!(
            "Integer {set} Id 0x8541"
        )));
        assert!(extended_property_id_is_valid("String 0x0037"));
        assert!(!extended_property_id_is_valid(&format!(
            "String {set} Name "
        )));
        assert!(!extended_property_id_is_valid("String {not-a-guid} Name X"));
        assert!(!extended_property_id_is_valid("Name X"));
    }

    #[test]
    fn save_to_sent_items_defaults_to_true() {
        let body = json!({"message": {"toRecipients": [{"emailAddress": {"address": "a@b"}}]}});
        assert!(
            OutgoingMail::from_request(&body)
                .unwrap()
                .save_to_sent_items
        );
        let mut off = body.clone();
        off["saveToSentItems"] = json!(false);
        assert!(!OutgoingMail::from_request(&off).unwrap().save_to_sent_items);
    }
}
