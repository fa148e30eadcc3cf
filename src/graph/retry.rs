//! When to try a Graph call again, and how long to wait first.

use std::time::Duration;

use super::error::{Category, GraphError};

/// Bounds for retries inside one reconcile. Longer waits belong to the controller's requeue,
/// where they hold no worker.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// How long a call about a just-created object keeps retrying "not found".
    pub replication_window: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(400),
            max_delay: Duration::from_secs(20),
            replication_window: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The pause before attempt `attempt + 1`, or `None` when the error is final or the
    /// attempts are used up. `Retry-After` wins over our own backoff.
    pub fn delay(&self, attempt: u32, error: &GraphError, jitter: f64) -> Option<Duration> {
        if attempt + 1 >= self.max_attempts || !error.category.is_transient() {
            return None;
        }
        if error.category == Category::Throttled
            && let Some(after) = error.retry_after
        {
            return Some(after.min(self.max_delay));
        }
        let exponential = self.base_delay.saturating_mul(1 << attempt.min(16));
        // Full jitter keeps many reconcilers from retrying in lock step.
        Some(exponential.min(self.max_delay).mul_f64(0.5 + jitter / 2.0))
    }
}

impl RetryPolicy {
    /// The pause between looks for an object that is still replicating: short at first,
    /// since most objects appear within seconds.
    pub fn replication_pause(&self, attempt: u32) -> Duration {
        let pause = Duration::from_millis(250).saturating_mul(1 << attempt.min(4));
        pause.min(Duration::from_secs(2))
    }
}

/// Reads `Retry-After` in seconds; Graph sends fractions such as `2.128`.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// A number in [0, 1) from the OS random source; zero if it is unavailable, which only
/// removes the jitter.
pub fn jitter() -> f64 {
    let mut buf = [0u8; 4];
    match getrandom::fill(&mut buf) {
        Ok(()) => f64::from(u32::from_le_bytes(buf)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(category: Category, retry_after: Option<Duration>) -> GraphError {
        GraphError {
            category,
            operation: "test",
            status: None,
            code: String::new(),
            message: String::new(),
            details: vec![],
            retry_after,
        }
    }

    #[test]
    fn retry_after_wins_when_throttled() {
        let p = RetryPolicy::default();
        let e = error(Category::Throttled, Some(Duration::from_millis(2128)));
        assert_eq!(p.delay(0, &e, 0.9), Some(Duration::from_millis(2128)));
    }

    #[test]
    fn backoff_grows_and_stops() {
        let p = RetryPolicy::default();
        let e = error(Category::Unavailable, None);
        assert_eq!(p.delay(0, &e, 1.0), Some(Duration::from_millis(400)));
        assert_eq!(p.delay(2, &e, 1.0), Some(Duration::from_millis(1600)));
        assert_eq!(p.delay(1, &e, 0.0), Some(Duration::from_millis(400)));
        assert_eq!(p.delay(3, &e, 1.0), None);
    }

    #[test]
    fn final_errors_are_not_retried() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0, &error(Category::Conflict, None), 0.5), None);
        assert_eq!(p.delay(0, &error(Category::Rejected, None), 0.5), None);
    }

    #[test]
    fn retry_after_parses_fractions() {
        assert_eq!(
            parse_retry_after("2.128"),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }
}
