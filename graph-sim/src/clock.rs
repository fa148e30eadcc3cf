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

/// Seconds since the epoch as RFC 3339, as the token endpoint quotes assertion times.
pub fn from_epoch(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Now in seconds since the epoch, as JWT claims count time.
pub fn epoch_now() -> i64 {
    Utc::now().timestamp()
}
