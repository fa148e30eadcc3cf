//! OData query options as Graph reads them: names without regard to case, values decoded.

use axum::extract::{FromRequestParts, Query};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::http::error::GraphError;

/// The query string as ordered, decoded name/value pairs.
#[derive(Debug, Default)]
pub struct QueryParams(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = GraphError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::try_from_uri(&parts.uri)
            .map(|Query(pairs)| Self(pairs))
            .map_err(|e| GraphError::bad_request("BadRequest", e.body_text()))
    }
}

impl QueryParams {
    /// The options of `uri`; an unreadable query string reads as no options.
    pub fn from_uri(uri: &axum::http::Uri) -> Self {
        Query::try_from_uri(uri)
            .map(|Query(pairs)| Self(pairs))
            .unwrap_or_default()
    }

    /// The value of option `name` (given with its `$`), matched without regard to case.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The names of the system query options present (those starting with `$`).
    pub fn system_options(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| k.starts_with('$'))
    }
}

/// Whether the request opted into advanced queries: `ConsistencyLevel: eventual` and
/// `$count=true`, both of which Graph demands.
pub fn is_advanced(headers: &HeaderMap, params: &QueryParams) -> bool {
    is_eventual(headers)
        && params
            .option("$count")
            .is_some_and(|c| c.eq_ignore_ascii_case("true"))
}

/// Whether the request sent `ConsistencyLevel: eventual`.
pub fn is_eventual(headers: &HeaderMap) -> bool {
    headers
        .get("ConsistencyLevel")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"))
}

/// Percent-encodes a query component for links the simulator hands out. Keeps the characters
/// OData expressions use that are safe in a query, so links stay readable.
pub fn encode_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b if b.is_ascii_alphanumeric() || b"-._~$'():/@,*!".contains(&b) => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_match_without_case() {
        let params = QueryParams(vec![
            ("$Filter".into(), "x".into()),
            ("foo".into(), "y".into()),
        ]);
        assert_eq!(params.option("$filter"), Some("x"));
        assert_eq!(params.system_options().collect::<Vec<_>>(), ["$Filter"]);
    }

    #[test]
    fn encoding_escapes_separators_and_spaces() {
        assert_eq!(
            encode_component("userPrincipalName eq 'o''neil@x' & a=b+c#"),
            "userPrincipalName%20eq%20'o''neil@x'%20%26%20a%3Db%2Bc%23"
        );
    }
}
