//! A client-side rate budget per tenant, so the operator stays under Graph's throttling
//! limits instead of bouncing off them, and so bulk work cannot starve urgent work.
//!
//! Graph meters identity calls in resource units per 10 s and writes per 150 s, per app and
//! tenant. Every call first takes its cost from two token buckets. Normal calls leave a
//! reserve untouched; urgent ones (deactivations, security incidents) may spend it, so a
//! 500-user import cannot delay a termination.

use std::time::Duration;

use reqwest::Method;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Share of each bucket that only urgent calls may use.
const URGENT_RESERVE: f64 = 0.2;

tokio::task_local! {
    static PRIORITY: Priority;
}

/// How urgently a call must go out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    Normal,
    /// Deactivations and security incidents.
    Urgent,
}

/// Runs `work` with every Graph call in it marked urgent.
pub async fn urgently<F: std::future::Future>(work: F) -> F::Output {
    PRIORITY.scope(Priority::Urgent, work).await
}

fn current_priority() -> Priority {
    PRIORITY.try_with(|p| *p).unwrap_or(Priority::Normal)
}

/// The tenant's limits the budget keeps under.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub resource_units_per_10s: u32,
    pub writes_per_150s: u32,
}

impl Default for Limits {
    /// Graph's published limits for a small tenant (under 50 users), the lowest tier, less a
    /// margin for other apps' calls that share the tenant-wide write quota.
    fn default() -> Self {
        Limits {
            resource_units_per_10s: 3_000,
            writes_per_150s: 2_700,
        }
    }
}

/// What one call costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    pub resource_units: u32,
    pub writes: u32,
}

/// The cost Graph charges for a request, by the published table: some list endpoints cost
/// more, `$select` and a small `$top` cost less, `$expand` more; every write is one unit and
/// one write.
pub fn cost(method: &Method, path: &str, query: &[(&str, &str)]) -> Cost {
    if *method != Method::GET {
        return Cost {
            resource_units: 1,
            writes: 1,
        };
    }
    let base: i32 = if path == "/subscribedSkus" || path.ends_with("/members") {
        3
    } else if path == "/users"
        || ["/memberOf", "/transitiveMemberOf", "/licenseDetails"]
            .iter()
            .any(|s| path.ends_with(s))
    {
        2
    } else {
        1
    };
    let has = |name: &str| query.iter().any(|(k, _)| *k == name);
    let small_top = query
        .iter()
        .any(|(k, v)| *k == "$top" && v.parse::<u32>().is_ok_and(|n| n < 20));
    let units = base - i32::from(has("$select")) + i32::from(has("$expand")) - i32::from(small_top);
    Cost {
        resource_units: units.max(1) as u32,
        writes: 0,
    }
}

struct Bucket {
    capacity: f64,
    tokens: f64,
    per_second: f64,
}

impl Bucket {
    fn new(capacity: u32, window: Duration) -> Self {
        let capacity = f64::from(capacity.max(1));
        Bucket {
            capacity,
            tokens: capacity,
            per_second: capacity / window.as_secs_f64(),
        }
    }

    fn refill(&mut self, elapsed: Duration) {
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.per_second).min(self.capacity);
    }

    /// How long until `amount` can be taken without going below the reserve.
    fn wait_for(&self, amount: u32, reserve: f64) -> Duration {
        let needed = f64::from(amount) + self.capacity * reserve - self.tokens;
        if needed <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(needed / self.per_second)
        }
    }
}

struct Buckets {
    units: Bucket,
    writes: Bucket,
    last: Instant,
}

/// Two token buckets shared by every caller of one tenant's Graph client.
pub struct RateBudget {
    buckets: Mutex<Buckets>,
}

impl std::fmt::Debug for RateBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateBudget")
    }
}

impl RateBudget {
    pub fn new(limits: Limits) -> Self {
        let buckets = Buckets {
            units: Bucket::new(limits.resource_units_per_10s, Duration::from_secs(10)),
            writes: Bucket::new(limits.writes_per_150s, Duration::from_secs(150)),
            last: Instant::now(),
        };
        RateBudget {
            buckets: Mutex::new(buckets),
        }
    }

    /// Waits until the call's cost fits, then spends it. Returns how long it waited.
    pub async fn spend(&self, cost: Cost) -> Duration {
        let reserve = match current_priority() {
            Priority::Urgent => 0.0,
            Priority::Normal => URGENT_RESERVE,
        };
        let started = Instant::now();
        loop {
            let wait = self.try_spend(cost, reserve).await;
            if wait.is_zero() {
                return started.elapsed();
            }
            tokio::time::sleep(wait).await;
        }
    }

    async fn try_spend(&self, cost: Cost, reserve: f64) -> Duration {
        let mut b = self.buckets.lock().await;
        let now = Instant::now();
        let elapsed = now - b.last;
        b.last = now;
        b.units.refill(elapsed);
        b.writes.refill(elapsed);
        // A cost larger than the reserve-free capacity would wait forever; let it through
        // against the full bucket instead.
        let reserve_for = |bucket: &Bucket, amount: u32| {
            if f64::from(amount) > bucket.capacity * (1.0 - reserve) {
                0.0
            } else {
                reserve
            }
        };
        let wait = b
            .units
            .wait_for(
                cost.resource_units,
                reserve_for(&b.units, cost.resource_units),
            )
            .max(
                b.writes
                    .wait_for(cost.writes, reserve_for(&b.writes, cost.writes)),
            );
        if wait.is_zero() {
            b.units.tokens -= f64::from(cost.resource_units);
            b.writes.tokens -= f64::from(cost.writes);
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_follow_the_published_table() {
        let get = Method::GET;
        assert_eq!(cost(&get, "/users", &[]).resource_units, 2);
        assert_eq!(cost(&get, "/users", &[("$select", "id")]).resource_units, 1);
        assert_eq!(cost(&get, "/subscribedSkus", &[]).resource_units, 3);
        assert_eq!(
            cost(&get, "/users/x/memberOf", &[("$top", "5")]).resource_units,
            1
        );
        assert_eq!(
            cost(&get, "/users/x", &[("$expand", "manager")]).resource_units,
            2
        );
        assert_eq!(
            cost(&Method::POST, "/users", &[]),
            Cost {
                resource_units: 1,
                writes: 1
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn normal_calls_leave_the_reserve_to_urgent_ones() {
        let budget = RateBudget::new(Limits {
            resource_units_per_10s: 10,
            writes_per_150s: 10,
        });
        let write = Cost {
            resource_units: 1,
            writes: 1,
        };
        for _ in 0..8 {
            assert_eq!(budget.spend(write).await, Duration::ZERO);
        }
        // Two writes are left, both in the reserve: a normal call has to wait for a refill...
        assert!(budget.spend(write).await >= Duration::from_secs(10));
        // ...while an urgent one goes at once.
        let budget = RateBudget::new(Limits {
            resource_units_per_10s: 10,
            writes_per_150s: 10,
        });
        for _ in 0..8 {
            budget.spend(write).await;
        }
        assert_eq!(urgently(budget.spend(write)).await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn spending_refills_over_the_window() {
        let budget = RateBudget::new(Limits {
            resource_units_per_10s: 5,
            writes_per_150s: 100,
        });
        let read = Cost {
            resource_units: 1,
            writes: 0,
        };
        for _ in 0..4 {
            budget.spend(read).await;
        }
        let waited = budget.spend(read).await;
        assert!(
            waited >= Duration::from_secs(2) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
    }
}
