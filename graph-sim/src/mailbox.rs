//! Mailboxes, as far as a sender can see them: the Sent Items folder, where `sendMail` leaves
//! a copy of each message unless told not to.

use std::collections::{HashMap, VecDeque};

use serde_json::{Map, Value};

/// How many messages one Sent Items folder keeps; older ones are dropped first.
const FOLDER_CAPACITY: usize = 10_000;

/// A message in a Sent Items folder.
#[derive(Clone, Debug)]
pub struct SentItem {
    /// Every stored property, `id`, `internetMessageHeaders` and
    /// `singleValueExtendedProperties` included.
    pub props: Map<String, Value>,
}

/// The Sent Items folders of every mailbox, by the owner's object id.
#[derive(Debug, Default)]
pub struct Mailboxes {
    sent_items: HashMap<String, VecDeque<SentItem>>,
}

impl Mailboxes {
    /// Files `props` in the Sent Items of `owner_id`.
    pub fn save_sent(&mut self, owner_id: &str, props: Map<String, Value>) {
        let folder = self.sent_items.entry(owner_id.to_string()).or_default();
        if folder.len() == FOLDER_CAPACITY {
            folder.pop_front();
        }
        folder.push_back(SentItem { props });
    }

    /// The Sent Items of `owner_id`, newest first.
    pub fn sent_items(&self, owner_id: &str) -> Vec<&SentItem> {
        self.sent_items
            .get(owner_id)
            .map(|folder| folder.iter().rev().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(subject: &str) -> Map<String, Value> {
        json!({"subject": subject}).as_object().unwrap().clone()
    }

    #[test]
    fn sent_items_are_kept_per_owner_newest_first() {
        let mut boxes = Mailboxes::default();
        boxes.save_sent("a", message("one"));
        boxes.save_sent("b", message("other"));
        boxes.save_sent("a", message("two"));
        let subjects: Vec<&Value> = boxes
            .sent_items("a")
            .iter()
            .map(|m| &m.props["subject"])
            .collect();
        assert_eq!(subjects, [&json!("two"), &json!("one")]);
        assert!(boxes.sent_items("nobody").is_empty());
    }
}
