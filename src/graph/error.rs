//! Graph and token-service failures, sorted into what a caller should do about them.

use std::time::Duration;

/// What kind of failure this is, which decides retry and the condition reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// The service is throttling us; try again after `retry_after`.
    Throttled,
    /// A 5xx, a timeout or a broken connection: try again with backoff.
    Unavailable,
    /// The object does not exist, or is not replicated yet right after a create.
    NotFound,
    /// A uniqueness rule refused the write (`ObjectConflict`).
    Conflict,
    /// The request itself is wrong and will fail again unchanged.
    Rejected,
    /// The app is not allowed to do this (403).
    Forbidden,
    /// The app's credentials were refused.
    Unauthenticated,
}

impl Category {
    /// A stable CamelCase label for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Throttled => "Throttled",
            Category::Unavailable => "Unavailable",
            Category::NotFound => "NotFound",
            Category::Conflict => "Conflict",
            Category::Rejected => "Rejected",
            Category::Forbidden => "Forbidden",
            Category::Unauthenticated => "Unauthenticated",
        }
    }

    /// Whether the same request may succeed later without any change on our side.
    pub fn is_transient(self) -> bool {
        matches!(self, Category::Throttled | Category::Unavailable)
    }
}

/// A failed Graph or token call. Carries the service's code and message, which never hold
/// our credentials, and nothing from the request body.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {} {code}: {message}", status.map(|s| s.to_string()).unwrap_or_else(|| "no answer".into()))]
pub struct GraphError {
    pub category: Category,
    /// What we were doing, e.g. "create user".
    pub operation: &'static str,
    pub status: Option<u16>,
    /// Graph's `error.code`, or the token service's `AADSTSnnnn`.
    pub code: String,
    pub message: String,
    /// `error.details[].code` and `.target` pairs.
    pub details: Vec<(String, String)>,
    pub retry_after: Option<Duration>,
}

impl GraphError {
    /// A failure to reach the service at all.
    pub fn unreachable(operation: &'static str, err: &reqwest::Error) -> Self {
        // reqwest's Display names the URL but never a header or body, so no secret leaks.
        let message = std::error::Error::source(err)
            .map(|source| format!("{err}: {source}"))
            .unwrap_or_else(|| err.to_string());
        GraphError {
            category: Category::Unavailable,
            operation,
            status: None,
            code: if err.is_timeout() {
                "Timeout"
            } else {
                "ConnectionFailed"
            }
            .into(),
            message,
            details: Vec::new(),
            retry_after: None,
        }
    }

    /// Whether a detail names this code, e.g. `ObjectConflict`.
    pub fn has_detail(&self, code: &str) -> bool {
        self.details.iter().any(|(c, _)| c == code)
    }

    /// The property a conflict or validation error is about, when Graph says.
    pub fn target(&self) -> Option<&str> {
        self.details
            .iter()
            .map(|(_, t)| t.as_str())
            .find(|t| !t.is_empty())
    }
}

/// Sorts a Graph answer by status and code, as Microsoft documents them.
pub fn categorize(status: u16, code: &str, message: &str) -> Category {
    match status {
        429 => Category::Throttled,
        500..=599 => Category::Unavailable,
        401 => Category::Unauthenticated,
        403 => Category::Forbidden,
        404 => Category::NotFound,
        400 if code == "Request_ResourceNotFound" => Category::NotFound,
        // Right after a create, references to the new object fail this way until it replicates.
        400 if message.contains("Not a valid reference update") => Category::NotFound,
        400 if message.contains("already exist") => Category::Conflict,
        _ => Category::Rejected,
    }
}

/// Sorts a token-service answer by its AADSTS code.
pub fn categorize_token(status: u16, aadsts: Option<u32>) -> Category {
    match (status, aadsts) {
        (429, _) => Category::Throttled,
        (500..=599, _) => Category::Unavailable,
        // Clock skew on an assertion: a fresh assertion may well pass.
        (_, Some(700024)) => Category::Unavailable,
        _ => Category::Unauthenticated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_answers_sort_by_status_and_code() {
        assert_eq!(categorize(429, "TooManyRequests", ""), Category::Throttled);
        assert_eq!(
            categorize(503, "serviceNotAvailable", ""),
            Category::Unavailable
        );
        assert_eq!(
            categorize(404, "Request_ResourceNotFound", ""),
            Category::NotFound
        );
        assert_eq!(
            categorize(400, "Request_BadRequest", "Not a valid reference update."),
            Category::NotFound
        );
        assert_eq!(
            categorize(
                400,
                "Request_BadRequest",
                "Another object with the same value for property userPrincipalName already exists."
            ),
            Category::Conflict
        );
        assert_eq!(
            categorize(400, "Request_BadRequest", "weak password"),
            Category::Rejected
        );
        assert_eq!(
            categorize(403, "Authorization_RequestDenied", ""),
            Category::Forbidden
        );
    }

    #[test]
    fn token_answers_sort_by_aadsts_code() {
        assert_eq!(
            categorize_token(401, Some(7000215)),
            Category::Unauthenticated
        );
        assert_eq!(
            categorize_token(400, Some(90002)),
            Category::Unauthenticated
        );
        assert_eq!(categorize_token(400, Some(700024)), Category::Unavailable);
        assert_eq!(categorize_token(503, None), Category::Unavailable);
        assert!(!Category::Unauthenticated.is_transient());
        assert!(Category::Throttled.is_transient());
    }
}
