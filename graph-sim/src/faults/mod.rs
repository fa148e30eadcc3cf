//! Faults a test switches on at run time to reproduce what real clients stumble over.

mod dice;
mod inject;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use dice::Dice;
pub use inject::{InBatch, inject};

/// Faults in force; replaced as a whole by [`Handle::set_faults`](crate::Handle::set_faults)
/// or `PUT /_sim/faults`, and set at start by [`Config::faults`](crate::Config::faults).
///
/// The random faults (`serverErrorRate`, `throttleRate`, `timeoutRate`) hit Graph requests,
/// those inside a `$batch` included, and never the token endpoint or the control API. With a
/// `seed` the same sequence of requests meets the same faults.
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
    /// Seeds the random faults; a fresh random seed when unset.
    pub seed: Option<u64>,
    /// Fraction (0 to 1) of Graph requests answered `500`, `503` or `504` without effect.
    pub server_error_rate: f64,
    /// Fraction of Graph requests answered `429 TooManyRequests` without effect.
    pub throttle_rate: f64,
    /// Fraction of Graph requests carried out whose answer is then held until the client
    /// gives up (or the simulator stops). Not applied inside a `$batch`.
    pub timeout_rate: f64,
    /// `Retry-After` of injected `429`s; a random 0.5–3 s with a fraction when unset.
    pub retry_after_seconds: Option<f64>,
    /// Added to the answer time of every Graph request outside a `$batch`.
    pub latency_ms: u64,
    /// Limits the random faults and the latency to requests matching one of these keys
    /// ("METHOD /path-pattern" as for `delayAfterCommitMs`); empty means every request.
    pub only: Vec<String>,
}

impl Faults {
    /// Checks that rates are fractions whose sum is at most 1.
    pub(crate) fn check(&self) -> Result<(), String> {
        let rates = [
            ("serverErrorRate", self.server_error_rate),
            ("throttleRate", self.throttle_rate),
            ("timeoutRate", self.timeout_rate),
        ];
        if let Some((name, rate)) = rates.iter().find(|(_, r)| !(0.0..=1.0).contains(r)) {
            return Err(format!("faults: {name} {rate} is not between 0 and 1"));
        }
        if rates.iter().map(|(_, r)| r).sum::<f64>() > 1.0 {
            return Err("faults: the rates add up to more than 1".into());
        }
        match self.retry_after_seconds {
            Some(s) if !(0.0..=3600.0).contains(&s) => Err(format!(
                "faults: retryAfterSeconds {s} is not between 0 and 3600"
            )),
            _ => Ok(()),
        }
    }

    /// Whether the random faults and the latency apply to `method path`.
    pub(crate) fn applies_to(&self, method: &str, path: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|key| key_matches(key, method, path))
    }

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

    #[test]
    fn rates_must_be_fractions_that_fit_together() {
        let mut f = Faults {
            server_error_rate: 0.5,
            throttle_rate: 0.4,
            ..Faults::default()
        };
        assert_eq!(f.check(), Ok(()));
        f.timeout_rate = 0.2;
        assert!(f.check().unwrap_err().contains("add up"));
        f.timeout_rate = -0.1;
        assert!(f.check().unwrap_err().contains("timeoutRate"));
    }

    #[test]
    fn only_limits_where_random_faults_apply() {
        let mut f = Faults::default();
        assert!(f.applies_to("GET", "/v1.0/users"));
        f.only = vec!["POST /users/{id}/assignLicense".into()];
        assert!(!f.applies_to("GET", "/v1.0/users"));
        assert!(f.applies_to("POST", "/v1.0/users/x/assignLicense"));
    }
}
