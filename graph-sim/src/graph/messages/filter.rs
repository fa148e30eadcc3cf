//! `$filter` on messages: the lambda over `singleValueExtendedProperties` that finds a message
//! by a custom property, and equality on a few plain properties.

use serde_json::Value;

use crate::graph::filter::{Token, lex};

/// One condition every matching message meets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// `singleValueExtendedProperties/any(ep: ep/id eq 'id' and ep/value eq 'value')`.
    ExtendedProperty {
        /// The property id, required by Exchange.
        id: String,
        /// The value, when the filter names one.
        value: Option<String>,
    },
    /// `subject eq '...'`, `internetMessageId eq '...'` or `id eq '...'`.
    Equals {
        /// The property.
        field: &'static str,
        /// The value.
        value: String,
    },
}

/// A parsed message filter: conditions joined by `and`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageFilter(Vec<Condition>);

const PLAIN_FIELDS: &[&str] = &["subject", "internetMessageId", "id", "conversationId"];

impl MessageFilter {
    /// Parses `$filter`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let tokens = lex(text).map_err(|e| format!("{e:?}"))?;
        let mut reader = Reader { tokens, next: 0 };
        let mut conditions = vec![reader.condition()?];
        while reader.keyword("and") {
            conditions.push(reader.condition()?);
        }
        match reader.tokens.get(reader.next) {
            None => Ok(Self(conditions)),
            Some(token) => Err(format!("unexpected {token:?}")),
        }
    }

    /// Whether a message with these properties matches. Strings compare without case, as
    /// Exchange compares them.
    pub fn matches(&self, message: &serde_json::Map<String, Value>) -> bool {
        self.0.iter().all(|condition| match condition {
            Condition::ExtendedProperty { id, value } => message
                .get("singleValueExtendedProperties")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|p| {
                    same(p.get("id"), id) && value.as_ref().is_none_or(|v| same(p.get("value"), v))
                }),
            Condition::Equals { field, value } => same(message.get(*field), value),
        })
    }
}

fn same(found: Option<&Value>, wanted: &str) -> bool {
    found
        .and_then(Value::as_str)
        .is_some_and(|f| f.to_lowercase() == wanted.to_lowercase())
}

struct Reader {
    tokens: Vec<Token>,
    next: usize,
}

impl Reader {
    fn condition(&mut self) -> Result<Condition, String> {
        let word = self.word()?;
        if word.eq_ignore_ascii_case("singleValueExtendedProperties/any") {
            return self.extended_property();
        }
        let field = PLAIN_FIELDS
            .iter()
            .find(|f| f.eq_ignore_ascii_case(&word))
            .ok_or_else(|| format!("filtering on '{word}' is not supported"))?;
        self.expect_keyword("eq")?;
        Ok(Condition::Equals {
            field,
            value: self.text()?,
        })
    }

    /// `(ep: ep/id eq '...' [and ep/value eq '...'])`, in either order.
    fn extended_property(&mut self) -> Result<Condition, String> {
        self.expect(&Token::Open)?;
        let variable = self.word()?;
        self.expect(&Token::Colon)?;
        let (mut id, mut value) = (None, None);
        loop {
            let path = self.word()?;
            let member = path
                .strip_prefix(&format!("{variable}/"))
                .ok_or_else(|| format!("'{path}' does not use the lambda variable"))?;
            self.expect_keyword("eq")?;
            let text = self.text()?;
            match member.to_ascii_lowercase().as_str() {
                "id" => id = Some(text),
                "value" => value = Some(text),
                other => {
                    return Err(format!(
                        "'{other}' is not a property of an extended property"
                    ));
                }
            }
            if !self.keyword("and") {
                break;
            }
        }
        self.expect(&Token::Close)?;
        let id = id.ok_or("an extended property filter must compare its id")?;
        Ok(Condition::ExtendedProperty { id, value })
    }

    fn word(&mut self) -> Result<String, String> {
        match self.tokens.get(self.next) {
            Some(Token::Word(word)) => {
                self.next += 1;
                Ok(word.clone())
            }
            other => Err(format!("expected a name, found {other:?}")),
        }
    }

    fn text(&mut self) -> Result<String, String> {
        match self.tokens.get(self.next) {
            Some(Token::Text(text)) => {
                self.next += 1;
                Ok(text.clone())
            }
            other => Err(format!("expected a string, found {other:?}")),
        }
    }

    fn keyword(&mut self, keyword: &str) -> bool {
        let found = matches!(self.tokens.get(self.next), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword));
        if found {
            self.next += 1;
        }
        found
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), String> {
        if self.keyword(keyword) {
            Ok(())
        } else {
            Err(format!("expected '{keyword}'"))
        }
    }

    fn expect(&mut self, token: &Token) -> Result<(), String> {
        if self.tokens.get(self.next) == Some(token) {
            self.next += 1;
            Ok(())
        } else {
            Err(format!("expected {token:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ID: &str = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name OperatorMailId";

    fn message() -> serde_json::Map<String, Value> {
        json!({"subject": "Welcome", "singleValueExtendedProperties": [{"id": ID, "value": "ns/a/1"}]})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn the_documented_lambda_finds_a_message_by_its_property() {
        let text = format!(
            "singleValueExtendedProperties/any(ep: ep/id eq '{ID}' and ep/value eq 'ns/a/1')"
        );
        let filter = MessageFilter::parse(&text).unwrap();
        assert!(filter.matches(&message()));
        let other = text.replace("ns/a/1", "ns/a/2");
        assert!(!MessageFilter::parse(&other).unwrap().matches(&message()));
    }

    #[test]
    fn plain_equality_and_conjunctions_work() {
        let filter = MessageFilter::parse(&format!(
            "subject eq 'welcome' and singleValueExtendedProperties/any(x:x/id eq '{ID}')"
        ))
        .unwrap();
        assert!(filter.matches(&message()));
    }

    #[test]
    fn a_lambda_without_the_id_or_an_unknown_field_is_refused() {
        assert!(
            MessageFilter::parse("singleValueExtendedProperties/any(ep: ep/value eq 'x')").is_err()
        );
        assert!(MessageFilter::parse("importance eq 'high'").is_err());
    }
}
