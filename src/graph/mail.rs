//! Sending mail as a mailbox of the tenant, and finding a sent mail again.
//!
//! `sendMail` has no idempotency key. Each message therefore carries our id twice: as an
//! `x-` internet header (visible to recipients' tooling) and as a single-value extended
//! property, which Graph can filter on in the sender's Sent Items. After a crash between
//! "about to send" and "sent", a look there tells the two apart.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Call, Graph, GraphError, filter_literal};

/// The internet header that carries the message id.
pub const ID_HEADER: &str = "x-m365-operator-message-id";

/// The extended property that carries the message id: a named string property in a
/// property set of our own (the GUID is this project's, fixed forever).
pub const ID_PROPERTY: &str =
    "String {6c3b1f3e-8d2a-4b7e-9a51-2f0c4d9e7a10} Name m365OperatorMessageId";

/// A plain-text mail. Its body may carry a credential, so `Debug` leaves the body out.
#[derive(Clone, PartialEq)]
pub struct Mail {
    /// Our id, stamped on the message.
    pub id: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("id", &self.id)
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

#[derive(Deserialize)]
struct Messages {
    value: Vec<Value>,
}

impl Graph {
    /// Sends `mail` from `sender`'s mailbox and keeps a copy in its Sent Items.
    pub async fn send_mail(&self, sender: &str, mail: &Mail) -> Result<(), GraphError> {
        let recipients: Vec<Value> = mail
            .to
            .iter()
            .map(|a| json!({ "emailAddress": { "address": a } }))
            .collect();
        let body = json!({
            "message": {
                "subject": mail.subject,
                "body": { "contentType": "Text", "content": mail.body },
                "toRecipients": recipients,
                "internetMessageHeaders": [{ "name": ID_HEADER, "value": mail.id }],
                "singleValueExtendedProperties": [{ "id": ID_PROPERTY, "value": mail.id }],
            },
            "saveToSentItems": true,
        });
        let path = format!("/users/{sender}/sendMail");
        self.send(Call {
            body: Some(&body),
            at_most_once: true,
            ..Call::new("send mail", Method::POST, &path)
        })
        .await
        .map(drop)
    }

    /// Whether a mail with our id is in `sender`'s Sent Items.
    pub async fn was_sent(&self, sender: &str, id: &str) -> Result<bool, GraphError> {
        let path = format!("/users/{sender}/mailFolders/SentItems/messages");
        let filter = format!(
            "singleValueExtendedProperties/any(ep: ep/id eq {} and ep/value eq {})",
            filter_literal(ID_PROPERTY),
            filter_literal(id)
        );
        let query = [
            ("$filter", filter.as_str()),
            ("$select", "id"),
            ("$top", "1"),
        ];
        let call = Call {
            query: &query,
            ..Call::new("find sent mail", Method::GET, &path)
        };
        let found: Messages = self.json(call).await?;
        Ok(!found.value.is_empty())
    }
}
