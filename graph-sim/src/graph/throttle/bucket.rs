//! A token bucket: a capacity refilled evenly over a window.

use std::time::{Duration, Instant};

/// Units available now, refilled at `capacity / window` per second up to `capacity`.
#[derive(Clone, Debug)]
pub struct Bucket {
    capacity: f64,
    window: Duration,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new(capacity: u32, window: Duration, now: Instant) -> Self {
        Self {
            capacity: f64::from(capacity),
            window,
            tokens: f64::from(capacity),
            last: now,
        }
    }

    /// Changes the capacity (a tenant grew into another size class), keeping what was used.
    pub fn resize(&mut self, capacity: u32, now: Instant) {
        self.refill(now);
        let used = self.capacity - self.tokens;
        self.capacity = f64::from(capacity);
        self.tokens = (self.capacity - used).max(0.0);
    }

    /// Seconds until `cost` units are available; zero when they are now.
    pub fn wait_for(&mut self, cost: u32, now: Instant) -> f64 {
        self.refill(now);
        let missing = f64::from(cost) - self.tokens;
        if missing <= 0.0 {
            return 0.0;
        }
        // A request costing more than the whole bucket waits one full window.
        let missing = missing.min(self.capacity);
        missing * self.window.as_secs_f64() / self.capacity.max(1.0)
    }

    /// Takes `cost` units, which [`wait_for`](Self::wait_for) said are there.
    pub fn take(&mut self, cost: u32) {
        self.tokens = (self.tokens - f64::from(cost)).max(0.0);
    }

    /// The share of the capacity in use, from 0 to 1.
    pub fn usage(&self) -> f64 {
        if self.capacity <= 0.0 {
            return 1.0;
        }
        1.0 - self.tokens / self.capacity
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        let rate = self.capacity / self.window.as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(self.capacity);
        self.last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drained_bucket_refills_over_its_window() {
        let start = Instant::now();
        let mut bucket = Bucket::new(10, Duration::from_secs(10), start);
        assert_eq!(bucket.wait_for(10, start), 0.0);
        bucket.take(10);
        assert!((bucket.usage() - 1.0).abs() < 1e-9);
        let wait = bucket.wait_for(3, start);
        assert!((wait - 3.0).abs() < 1e-9, "{wait}");
        assert_eq!(bucket.wait_for(3, start + Duration::from_secs(3)), 0.0);
    }

    #[test]
    fn resizing_keeps_the_units_in_use() {
        let start = Instant::now();
        let mut bucket = Bucket::new(10, Duration::from_secs(10), start);
        bucket.take(8);
        bucket.resize(20, start);
        assert!((bucket.usage() - 0.4).abs() < 1e-9);
    }
}
