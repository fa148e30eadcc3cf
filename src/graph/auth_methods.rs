//! Authentication methods: issuing a Temporary Access Pass, the time-limited passcode a new
//! hire can sign in with instead of a password.
//!
//! Graph shows the pass only once, in the answer to the create. A user has at most one: a new
//! pass replaces the one before, which stops working.

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{Call, Category, Graph, GraphError, Sensitive};

const OPERATION: &str = "create temporary access pass";

/// What to ask for; what is left out the tenant's Temporary Access Pass policy decides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccessPassRequest {
    /// Minutes the pass stays usable from its creation (Graph accepts 10 to 43200).
    pub lifetime_minutes: Option<u32>,
    /// Whether the first sign-in uses the pass up.
    pub usable_once: Option<bool>,
}

/// A pass Graph just issued.
#[derive(Debug, Clone)]
pub struct TemporaryAccessPass {
    /// The method's id, safe to log.
    pub id: String,
    /// The pass itself: a credential, never logged or shown anywhere but to its owner.
    pub pass: Sensitive,
    /// When it starts to work, as Graph reports it.
    pub start: Option<jiff::Timestamp>,
    /// How long it works from `start`.
    pub lifetime_minutes: Option<u32>,
    /// Whether the first sign-in uses it up.
    pub usable_once: Option<bool>,
}

impl TemporaryAccessPass {
    /// When the pass stops working, if Graph said when it starts and for how long.
    pub fn valid_until(&self) -> Option<jiff::Timestamp> {
        let minutes = i64::from(self.lifetime_minutes?);
        self.start?
            .checked_add(jiff::SignedDuration::from_mins(minutes))
            .ok()
    }
}

impl AccessPassRequest {
    fn body(&self) -> Value {
        let mut body = Map::new();
        if let Some(minutes) = self.lifetime_minutes {
            body.insert("lifetimeInMinutes".into(), json!(minutes));
        }
        if let Some(once) = self.usable_once {
            body.insert("isUsableOnce".into(), json!(once));
        }
        Value::Object(body)
    }
}

impl Graph {
    /// Issues a new Temporary Access Pass to the account, replacing any it had.
    ///
    /// Retried like any write when Graph gives no answer: if the lost attempt did issue a
    /// pass, the retry's pass replaces it, and only the pass whose text we received can ever
    /// be mailed. A repeat is therefore harmless here, unlike a repeated mail. What must not
    /// happen is a new pass after the welcome mail went out, which would void the mailed one;
    /// the caller asks for a pass only while no welcome mail is recorded or found as sent.
    pub async fn create_temporary_access_pass(
        &self,
        user_id: &str,
        request: &AccessPassRequest,
    ) -> Result<TemporaryAccessPass, GraphError> {
        let path = format!("/users/{user_id}/authentication/temporaryAccessPassMethods");
        let body = request.body();
        let call = Call {
            body: Some(&body),
            refers_to_new_object: true,
            ..Call::new(OPERATION, Method::POST, &path)
        };
        let (status, answer) = self.send(call).await?;
        // Read as a plain value: a typed decoding error could quote the answer, pass included.
        let answer: Value = serde_json::from_slice(&answer)
            .map_err(|_| malformed(status.as_u16(), "the answer is not JSON"))?;
        read_pass(&answer).ok_or_else(|| malformed(status.as_u16(), "the answer holds no pass"))
    }
}

fn read_pass(answer: &Value) -> Option<TemporaryAccessPass> {
    let text = |name: &str| answer.get(name).and_then(Value::as_str);
    Some(TemporaryAccessPass {
        id: text("id")?.to_string(),
        pass: Sensitive::new(text("temporaryAccessPass").filter(|p| !p.is_empty())?),
        start: text("startDateTime")
            .or_else(|| text("createdDateTime"))
            .and_then(|t| t.parse().ok()),
        lifetime_minutes: answer
            .get("lifetimeInMinutes")
            .and_then(Value::as_u64)
            .and_then(|m| u32::try_from(m).ok()),
        usable_once: answer.get("isUsableOnce").and_then(Value::as_bool),
    })
}

fn malformed(status: u16, what: &str) -> GraphError {
    GraphError {
        category: Category::Unavailable,
        operation: OPERATION,
        status: Some(status),
        code: "MalformedAnswer".into(),
        message: format!("Graph answered, but {what}"),
        details: Vec::new(),
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_settings_given_are_sent() {
        assert_eq!(AccessPassRequest::default().body(), json!({}));
        let request = AccessPassRequest {
            lifetime_minutes: Some(480),
            usable_once: Some(true),
        };
        assert_eq!(
            request.body(),
            json!({"lifetimeInMinutes": 480, "isUsableOnce": true})
        );
    }

    #[test]
    fn the_created_pass_is_read_with_its_validity() {
        let answer = json!({
            "id": "6f1967b7-15e8-4935-ac26-d50770ed07a7",
            "temporaryAccessPass": "+drkzqAD",
            "createdDateTime": "2026-06-02T16:21:09.765173Z",
            "startDateTime": "2026-06-05T00:00:00Z",
            "lifetimeInMinutes": 60,
            "isUsableOnce": false,
        });
        let pass = read_pass(&answer).unwrap();
        assert_eq!(pass.pass.expose(), "+drkzqAD");
        assert_eq!(pass.usable_once, Some(false));
        assert_eq!(
            pass.valid_until().unwrap().to_string(),
            "2026-06-05T01:00:00Z"
        );
        assert!(!format!("{pass:?}").contains("+drkzqAD"));
    }

    #[test]
    fn an_answer_without_a_pass_is_not_a_pass() {
        assert!(read_pass(&json!({"id": "m", "temporaryAccessPass": null})).is_none());
        assert!(read_pass(&json!({"id": "m", "temporaryAccessPass": ""})).is_none());
        let error = malformed(201, "the answer holds no pass");
        assert_eq!(error.category, Category::Unavailable);
    }
}
