//! The operator's Prometheus metrics, served on `/metrics` by [`crate::http`].
//!
//! One registry per process, reached through the free functions below, so that a module can
//! count what it does with one line and without a handle threaded through its callers (the
//! Graph client, for one, knows nothing of the operator around it). Every label takes its
//! value from a closed set — a kind, an error category, a Graph operation, an HTTP status —
//! and never from an object name or an error message, so the number of series stays bounded.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// `Content-Type` of [`render`]'s output: the Prometheus text format.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Whether a piece of work finished inside its service-level agreement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SlaOutcome {
    /// Finished by its deadline.
    Met,
    /// Finished after its deadline, or not at all by then.
    Breached,
}

impl SlaOutcome {
    fn as_str(self) -> &'static str {
        match self {
            SlaOutcome::Met => "met",
            SlaOutcome::Breached => "breached",
        }
    }
}

/// Counts one reconcile from its start to its end; see [`reconcile_started`].
#[must_use = "a reconcile is only counted when it is finished"]
pub struct ReconcileTimer {
    metrics: &'static Metrics,
    kind: &'static str,
    started: Instant,
}

impl ReconcileTimer {
    /// Records the end of the reconcile: `Some(category)` when it failed, with the error's
    /// static category (e.g. `GraphUnavailable`).
    pub fn finish(self, error: Option<&'static str>) {
        self.metrics
            .reconcile_finished(self.kind, self.started.elapsed(), error);
        // Drop leaves the in-flight gauge.
    }
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        // Also runs for a reconcile cancelled mid-way (a lost lease drops the controllers),
        // which `finish` never saw.
        self.metrics.in_flight(self.kind).dec();
    }
}

/// Marks the start of a reconcile of `kind` (e.g. `"User"`): counts it in flight until the
/// returned timer is finished or dropped.
pub fn reconcile_started(kind: &'static str) -> ReconcileTimer {
    let metrics = global();
    metrics.in_flight(kind).inc();
    ReconcileTimer {
        metrics,
        kind,
        started: Instant::now(),
    }
}

/// Counts one Graph round trip: `status` is the HTTP status of the answer, `None` when no
/// answer came (a timeout or a broken connection).
pub fn graph_call(operation: &'static str, status: Option<u16>) {
    global().graph_call(operation, status);
}

/// Counts a pause before a Graph call is retried, by the failure's category (`Throttled`
/// when Graph asked us to slow down).
pub fn graph_wait(category: &'static str, pause: Duration) {
    global().graph_wait(category, pause);
}

/// Counts whether a piece of work of `kind` (e.g. `"User"` for a provisioning) finished
/// inside its SLA.
pub fn sla_outcome(kind: &'static str, outcome: SlaOutcome) {
    global().sla_outcome(kind, outcome);
}

/// Records whether this process holds the leader lease (always true without election).
pub fn set_leader(leader: bool) {
    global().leader.set(i64::from(leader));
}

/// Counts one admission decision on the webhook `path` (one of the routed paths, a closed
/// set): allowed or denied.
pub fn admission_decision(path: &str, allowed: bool) {
    global().admission_decision(path, allowed);
}

/// Every metric in the Prometheus text format.
pub fn render() -> String {
    global().render()
}

fn global() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kind: &'static str,
    category: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GraphCallLabels {
    operation: &'static str,
    /// The HTTP status, or `none`.
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WaitLabels {
    category: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SlaLabels {
    kind: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AdmissionLabels {
    /// A routed webhook path.
    path: String,
    /// `true` or `false`.
    allowed: &'static str,
}

type SecondsCounter = Counter<f64, std::sync::atomic::AtomicU64>;

/// Reconciles take from milliseconds (nothing to do) to minutes (Graph retries).
fn reconcile_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 15))
}

struct Metrics {
    registry: Registry,
    reconciles: Family<KindLabels, Counter>,
    reconcile_errors: Family<ErrorLabels, Counter>,
    reconcile_seconds: Family<KindLabels, Histogram, fn() -> Histogram>,
    reconciles_in_flight: Family<KindLabels, Gauge>,
    graph_calls: Family<GraphCallLabels, Counter>,
    graph_waits: Family<WaitLabels, Counter>,
    graph_wait_seconds: Family<WaitLabels, SecondsCounter>,
    sla_outcomes: Family<SlaLabels, Counter>,
    leader: Gauge,
    admission_decisions: Family<AdmissionLabels, Counter>,
}

impl Metrics {
    fn new() -> Self {
        let metrics = Metrics {
            registry: Registry::with_prefix("m365"),
            reconciles: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_seconds: Family::new_with_constructor(reconcile_histogram),
            reconciles_in_flight: Family::default(),
            graph_calls: Family::default(),
            graph_waits: Family::default(),
            graph_wait_seconds: Family::default(),
            sla_outcomes: Family::default(),
            leader: Gauge::default(),
            admission_decisions: Family::default(),
        };
        metrics.registered()
    }

    fn registered(mut self) -> Self {
        let r = &mut self.registry;
        r.register(
            "reconciles",
            "Reconciles finished, by kind",
            self.reconciles.clone(),
        );
        r.register(
            "reconcile_errors",
            "Reconciles that failed, by kind and error category",
            self.reconcile_errors.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "How long reconciles took, by kind",
            self.reconcile_seconds.clone(),
        );
        r.register(
            "reconciles_in_flight",
            "Reconciles running now, by kind",
            self.reconciles_in_flight.clone(),
        );
        r.register(
            "graph_calls",
            "Microsoft Graph round trips, by operation and HTTP status (none: no answer)",
            self.graph_calls.clone(),
        );
        r.register(
            "graph_retry_waits",
            "Pauses before retrying a Graph call, by failure category (Throttled: Graph asked us to slow down)",
            self.graph_waits.clone(),
        );
        r.register(
            "graph_retry_wait_seconds",
            "Seconds spent pausing before Graph retries, by failure category",
            self.graph_wait_seconds.clone(),
        );
        r.register(
            "sla_outcomes",
            "Work finished inside (met) or outside (breached) its SLA, by kind",
            self.sla_outcomes.clone(),
        );
        r.register(
            "leader",
            "1 while this process holds the leader lease and runs the controllers",
            self.leader.clone(),
        );
        r.register(
            "admission_decisions",
            "Admission webhook decisions, by webhook path and whether the request was allowed",
            self.admission_decisions.clone(),
        );
        self
    }

    fn in_flight(&self, kind: &'static str) -> Gauge {
        self.reconciles_in_flight
            .get_or_create_owned(&KindLabels { kind })
    }

    fn reconcile_finished(&self, kind: &'static str, took: Duration, error: Option<&'static str>) {
        let labels = KindLabels { kind };
        self.reconciles.get_or_create(&labels).inc();
        self.reconcile_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if let Some(category) = error {
            self.reconcile_errors
                .get_or_create(&ErrorLabels { kind, category })
                .inc();
        }
    }

    fn graph_call(&self, operation: &'static str, status: Option<u16>) {
        let status = status.map_or_else(|| "none".to_string(), |s| s.to_string());
        self.graph_calls
            .get_or_create(&GraphCallLabels { operation, status })
            .inc();
    }

    fn graph_wait(&self, category: &'static str, pause: Duration) {
        let labels = WaitLabels { category };
        self.graph_waits.get_or_create(&labels).inc();
        self.graph_wait_seconds
            .get_or_create(&labels)
            .inc_by(pause.as_secs_f64());
    }

    fn sla_outcome(&self, kind: &'static str, outcome: SlaOutcome) {
        let outcome = outcome.as_str();
        self.sla_outcomes
            .get_or_create(&SlaLabels { kind, outcome })
            .inc();
    }

    fn admission_decision(&self, path: &str, allowed: bool) {
        let labels = AdmissionLabels {
            path: path.to_string(),
            allowed: if allowed { "true" } else { "false" },
        };
        self.admission_decisions.get_or_create(&labels).inc();
    }

    fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of one sample line, e.g. `m365_reconciles_total{kind="User"}`.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|value| value.parse().expect("a number"))
    }

    #[test]
    fn reconciles_are_counted_by_kind_and_error_category() {
        let metrics = Metrics::new();
        metrics.reconcile_finished("User", Duration::from_millis(20), None);
        metrics.reconcile_finished("User", Duration::from_millis(30), Some("GraphUnavailable"));
        metrics.reconcile_finished("Tenant", Duration::from_millis(5), None);
        let text = metrics.render();
        assert_eq!(
            sample(&text, r#"m365_reconciles_total{kind="User"}"#),
            Some(2.0)
        );
        assert_eq!(
            sample(&text, r#"m365_reconciles_total{kind="Tenant"}"#),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"m365_reconcile_errors_total{kind="User",category="GraphUnavailable"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"m365_reconcile_duration_seconds_count{kind="User"}"#
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(&text, r#"m365_reconcile_duration_seconds_sum{kind="User"}"#),
            Some(0.05)
        );
    }

    #[test]
    fn graph_calls_without_an_answer_are_labelled_none() {
        let metrics = Metrics::new();
        metrics.graph_call("create user", Some(201));
        metrics.graph_call("create user", Some(201));
        metrics.graph_call("create user", None);
        let text = metrics.render();
        assert_eq!(
            sample(
                &text,
                r#"m365_graph_calls_total{operation="create user",status="201"}"#
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"m365_graph_calls_total{operation="create user",status="none"}"#
            ),
            Some(1.0)
        );
    }

    #[test]
    fn retry_waits_add_up_their_seconds() {
        let metrics = Metrics::new();
        metrics.graph_wait("Throttled", Duration::from_millis(1500));
        metrics.graph_wait("Throttled", Duration::from_millis(500));
        let text = metrics.render();
        assert_eq!(
            sample(
                &text,
                r#"m365_graph_retry_waits_total{category="Throttled"}"#
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"m365_graph_retry_wait_seconds_total{category="Throttled"}"#
            ),
            Some(2.0)
        );
    }

    #[test]
    fn sla_outcomes_are_met_or_breached() {
        let metrics = Metrics::new();
        metrics.sla_outcome("User", SlaOutcome::Met);
        metrics.sla_outcome("User", SlaOutcome::Breached);
        metrics.sla_outcome("User", SlaOutcome::Breached);
        let text = metrics.render();
        let series =
            |outcome| format!(r#"m365_sla_outcomes_total{{kind="User",outcome="{outcome}"}}"#);
        assert_eq!(sample(&text, &series("met")), Some(1.0));
        assert_eq!(sample(&text, &series("breached")), Some(2.0));
    }

    #[test]
    fn a_reconcile_is_in_flight_until_its_timer_ends_even_when_dropped() {
        let metrics: &'static Metrics = Box::leak(Box::new(Metrics::new()));
        let timer = |kind| {
            metrics.in_flight(kind).inc();
            ReconcileTimer {
                metrics,
                kind,
                started: Instant::now(),
            }
        };
        let in_flight = || {
            sample(
                &metrics.render(),
                r#"m365_reconciles_in_flight{kind="User"}"#,
            )
        };
        let finished = timer("User");
        let cancelled = timer("User");
        assert_eq!(in_flight(), Some(2.0));
        finished.finish(None);
        assert_eq!(in_flight(), Some(1.0));
        drop(cancelled);
        assert_eq!(in_flight(), Some(0.0));
        // Only the finished one counts as a reconcile.
        assert_eq!(
            sample(&metrics.render(), r#"m365_reconciles_total{kind="User"}"#),
            Some(1.0)
        );
    }

    #[test]
    fn admission_decisions_are_counted_by_path_and_outcome() {
        let metrics = Metrics::new();
        metrics.admission_decision("/validate/roleassignments", true);
        metrics.admission_decision("/validate/roleassignments", false);
        metrics.admission_decision("/validate/roleassignments", false);
        let text = metrics.render();
        let series = |allowed| {
            format!(
                r#"m365_admission_decisions_total{{path="/validate/roleassignments",allowed="{allowed}"}}"#
            )
        };
        assert_eq!(sample(&text, &series("true")), Some(1.0));
        assert_eq!(sample(&text, &series("false")), Some(2.0));
    }

    #[test]
    fn the_leader_gauge_follows_the_lease() {
        set_leader(true);
        assert_eq!(sample(&render(), "m365_leader"), Some(1.0));
        set_leader(false);
        assert_eq!(sample(&render(), "m365_leader"), Some(0.0));
    }
}
