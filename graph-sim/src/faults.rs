//! Faults a test switches on at run time to reproduce what real clients stumble over.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Faults in force; replaced as a whole by [`Handle::set_faults`](crate::Handle::set_faults)
/// or `PUT /_sim/faults`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// The request is carried out and committed, then the answer is held back this long
    /// (key "METHOD /path-pattern", e.g. "POST /users"). Models a client timing out
    /// after the service already acted — the case that makes naive clients create duplicates.
    ///
    /// The pattern is matched against the path below `/v1.0` (or the whole path when the pattern
    /// itself starts with `/v1.0`), segment by segment and case-insensitively; a segment written
    /// `{name}` or `*` matches any one segment, e.g. `POST /users/{id}/assignLicense`.
    pub delay_after_commit_ms: BTreeMap<String, u64>,
    /// Overrides the configured replication lag when set.
    pub replication_lag_ms: Option<u64>,
}

impl Faults {
    /// How long to hold back the answer to `method path`, if a key matches it.
    pub(crate) fn delay_after_commit(&self, method: &str, path: &str) -> Option<Duration> {
        self.delay_after_commit_ms
            .iter()
            .find(|(key, _)| key_matches(key, method, path))
            .map(|(_, ms)| Duration::from_millis(*ms))
    }
}

fn key_matches(key: &str, method: &str, path: &str) -> bool {
    let Some((key_method, pattern)) = key.trim().split_once(char::is_whitespace) else {
        return false;
    };
    key_method.eq_ignore_ascii_case(method) && path_matches(pattern.trim(), path)
}

fn path_matches(pattern: &str, path: &str) -> bool {
    let path = if starts_with_graph_root(pattern) {
        path
    } else if starts_with_graph_root(path) {
        &path["/v1.0".len()..]
    } else {
        path
    };
    let wanted: Vec<&str> = segments(pattern).collect();
    let got: Vec<&str> = segments(path).collect();
    wanted.len() == got.len() && wanted.iter().zip(&got).all(|(w, g)| segment_matches(w, g))
}

fn starts_with_graph_root(path: &str) -> bool {
    let mut parts = segments(path);
    parts
        .next()
        .is_some_and(|first| first.eq_ignore_ascii_case("v1.0"))
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

fn segment_matches(wanted: &str, got: &str) -> bool {
    let wildcard = wanted == "*" || (wanted.starts_with('{') && wanted.ends_with('}'));
    wildcard || wanted.eq_ignore_ascii_case(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(key: &str) -> Faults {
        Faults {
            delay_after_commit_ms: BTreeMap::from([(key.to_string(), 250)]),
            ..Faults::default()
        }
    }

    #[test]
    fn a_graph_pattern_matches_below_the_version_segment() {
        let f = faults("POST /users");
        assert_eq!(
            f.delay_after_commit("POST", "/v1.0/users"),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            f.delay_after_commit("post", "/v1.0/Users/"),
            Some(Duration::from_millis(250))
        );
        assert_eq!(f.delay_after_commit("GET", "/v1.0/users"), None);
        assert_eq!(f.delay_after_commit("POST", "/v1.0/users/abc"), None);
    }

    #[test]
    fn placeholders_match_one_segment() {
        let f = faults("POST /users/{id}/assignLicense");
        assert!(
            f.delay_after_commit("POST", "/v1.0/users/42/assignLicense")
                .is_some()
        );
        assert!(
            f.delay_after_commit("POST", "/v1.0/users/assignLicense")
                .is_none()
        );
    }

    #[test]
    fn patterns_may_name_the_version_or_the_token_endpoint() {
        assert!(
            faults("PATCH /v1.0/users/*")
                .delay_after_commit("PATCH", "/v1.0/users/x")
                .is_some()
        );
        let token = faults("POST /{tenant}/oauth2/v2.0/token");
        assert!(
            token
                .delay_after_commit("POST", "/contoso.example/oauth2/v2.0/token")
                .is_some()
        );
    }

    #[test]
    fn a_key_without_a_method_matches_nothing() {
        assert!(
            faults("/users")
                .delay_after_commit("POST", "/v1.0/users")
                .is_none()
        );
    }
}
