//! Throttling of Graph requests: token buckets per app and tenant for resource units and
//! writes, one for the whole tenant's writes, and the headers that report on them.

mod bucket;
pub mod cost;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use bucket::Bucket;
use cost::Cost;

use crate::config::ThrottleLimits;
use crate::http::auth::Caller;
use crate::http::error::GraphError;
use crate::sim::Sim;

/// Above this share of a limit, responses carry `x-ms-throttle-limit-percentage`.
const REPORTED_USAGE: f64 = 0.8;

/// The resource units a request cost, left on its response for the request log.
#[derive(Clone, Copy, Debug)]
pub struct ResourceUnits(pub u32);

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    /// Seconds until the request would pass.
    pub retry_after: f64,
    /// `Tenant_Application/ReadWrite`, `Tenant_Application/Write` or `Tenant/Write`.
    pub scope: &'static str,
    /// `ResourceUnitLimitExceeded` or `WriteLimitExceeded`.
    pub information: &'static str,
}

/// The buckets of one simulated tenant.
#[derive(Debug)]
pub struct Throttle {
    limits: ThrottleLimits,
    apps: HashMap<String, AppBuckets>,
    tenant_writes: Bucket,
}

#[derive(Debug)]
struct AppBuckets {
    units: Bucket,
    writes: Bucket,
}

impl Throttle {
    /// Full buckets under `limits`.
    pub fn new(limits: ThrottleLimits) -> Self {
        let tenant_writes = Bucket::new(
            limits.tenant_writes,
            millis(limits.tenant_write_window_ms),
            Instant::now(),
        );
        Self {
            limits,
            apps: HashMap::new(),
            tenant_writes,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &ThrottleLimits {
        &self.limits
    }

    /// Lets a request of `app` costing `cost` through, in a tenant of `users` users, and
    /// returns the highest share of a limit now in use; or says how long to wait.
    pub fn admit(&mut self, app: &str, cost: Cost, users: usize) -> Result<f64, Refusal> {
        if !self.limits.enabled {
            return Ok(0.0);
        }
        let now = Instant::now();
        let unit_limit = self.limits.resource_units_for(users);
        let limits = &self.limits;
        let buckets = self
            .apps
            .entry(app.to_ascii_lowercase())
            .or_insert_with(|| AppBuckets::new(limits, unit_limit, now));
        buckets.units.resize(unit_limit, now);
        let checks = [
            (
                buckets.units.wait_for(cost.units, now),
                "Tenant_Application/ReadWrite",
                UNITS,
            ),
            (
                buckets.writes.wait_for(cost.writes, now),
                "Tenant_Application/Write",
                WRITES,
            ),
            (
                self.tenant_writes.wait_for(cost.writes, now),
                "Tenant/Write",
                WRITES,
            ),
        ];
        if let Some((wait, scope, information)) = checks.into_iter().find(|(w, ..)| *w > 0.0) {
            return Err(Refusal {
                retry_after: wait,
                scope,
                information,
            });
        }
        buckets.units.take(cost.units);
        buckets.writes.take(cost.writes);
        self.tenant_writes.take(cost.writes);
        let usage = [buckets.units.usage(), buckets.writes.usage()];
        Ok(usage.into_iter().fold(self.tenant_writes.usage(), f64::max))
    }
}

const UNITS: &str = "ResourceUnitLimitExceeded";
const WRITES: &str = "WriteLimitExceeded";

impl AppBuckets {
    fn new(limits: &ThrottleLimits, units: u32, now: Instant) -> Self {
        Self {
            units: Bucket::new(units, millis(limits.resource_unit_window_ms), now),
            writes: Bucket::new(limits.writes, millis(limits.write_window_ms), now),
        }
    }
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Middleware in front of the Graph resources: charges the request to its app's buckets, or
/// answers `429` with the throttling headers.
pub async fn throttle(State(sim): State<Arc<Sim>>, request: Request, next: Next) -> Response {
    let cost = cost::of(request.method(), request.uri());
    let app = request
        .extensions()
        .get::<Caller>()
        .map(|c| c.client_id.clone())
        .unwrap_or_default();
    let users = sim.directory().live_user_count();
    let verdict = sim.throttle().admit(&app, cost, users);
    let usage = match verdict {
        Ok(usage) => usage,
        Err(refusal) => return refused(&refusal, &app, &sim.tenant_id).into_response(),
    };
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert("x-ms-resource-unit", HeaderValue::from(cost.units));
    let percentage = HeaderValue::from_str(&format!("{usage:.2}"));
    if let (true, Ok(value)) = (usage > REPORTED_USAGE, percentage) {
        headers.insert("x-ms-throttle-limit-percentage", value);
    }
    response.extensions_mut().insert(ResourceUnits(cost.units));
    response
}

fn refused(refusal: &Refusal, app: &str, tenant_id: &str) -> GraphError {
    GraphError::too_many_requests(refusal.retry_after)
        .with_header(
            "x-ms-throttle-scope",
            format!("{}/{app}/{tenant_id}", refusal.scope),
        )
        .with_header("x-ms-throttle-information", refusal.information)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ThrottleLimits {
        ThrottleLimits {
            resource_units_small: 10,
            resource_units_medium: 20,
            writes: 3,
            ..ThrottleLimits::default()
        }
    }

    const READ: Cost = Cost {
        units: 2,
        writes: 0,
    };
    const WRITE: Cost = Cost {
        units: 1,
        writes: 1,
    };

    #[test]
    fn resource_units_run_out_per_app() {
        let mut throttle = Throttle::new(limits());
        for _ in 0..5 {
            assert!(throttle.admit("app", READ, 1).is_ok());
        }
        let refusal = throttle.admit("app", READ, 1).unwrap_err();
        assert_eq!(refusal.scope, "Tenant_Application/ReadWrite");
        assert_eq!(refusal.information, "ResourceUnitLimitExceeded");
        assert!(
            refusal.retry_after > 1.5 && refusal.retry_after <= 2.0,
            "{refusal:?}"
        );
        assert!(throttle.admit("other-app", READ, 1).is_ok());
    }

    #[test]
    fn writes_have_their_own_quota() {
        let mut throttle = Throttle::new(limits());
        for _ in 0..3 {
            assert!(throttle.admit("app", WRITE, 1).is_ok());
        }
        let refusal = throttle.admit("app", WRITE, 1).unwrap_err();
        assert_eq!(refusal.information, "WriteLimitExceeded");
        assert!(throttle.admit("app", READ, 1).is_ok(), "reads still pass");
    }

    #[test]
    fn a_bigger_tenant_gets_more_units_and_usage_is_reported() {
        let mut throttle = Throttle::new(limits());
        for _ in 0..9 {
            assert!(throttle.admit("app", READ, 100).is_ok());
        }
        let usage = throttle.admit("app", READ, 100).unwrap();
        assert!((usage - 1.0).abs() < 0.01, "{usage}");
        assert!(throttle.admit("app", READ, 100).is_err());
    }

    #[test]
    fn disabled_limits_admit_everything() {
        let mut throttle = Throttle::new(ThrottleLimits {
            enabled: false,
            ..limits()
        });
        for _ in 0..100 {
            assert_eq!(throttle.admit("app", WRITE, 1), Ok(0.0));
        }
    }
}
