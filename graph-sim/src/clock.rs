//! Wall-clock timestamps in the formats the real services use.

use chrono::{SecondsFormat, Utc};

/// Now as RFC 3339 with a `Z` suffix, as Graph writes `createdDateTime`.
pub fn rfc3339_now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Now as Graph writes `innerError.date`: no fraction, no zone designator.
pub fn graph_error_date() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Now as the token endpoint writes the `timestamp` of its errors.
pub fn aad_timestamp() -> String {
    Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string()
}
