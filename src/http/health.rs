//! Where the process is in its life, as the liveness and readiness probes report it.

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

/// A stage of the operator's life. It only moves forward, except that a standby replica
/// that wins the lease goes on to [`Phase::Syncing`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Starting up: not talking to the API server yet.
    Starting,
    /// Another replica holds the leader lease; this one waits to take over.
    Standby,
    /// The controllers run and are filling their caches.
    Syncing,
    /// The controllers' caches are filled: they reconcile from a complete view.
    Serving,
    /// Shutdown began: in-flight reconciles drain, nothing new starts.
    Stopping,
}

impl Phase {
    /// Whether the readiness probe passes. A standby replica is ready: it does what it
    /// should, and a rollout or a disruption budget must not wait for it to lead.
    pub fn is_ready(self) -> bool {
        matches!(self, Phase::Standby | Phase::Serving)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Phase::Starting => "starting",
            Phase::Standby => "standby",
            Phase::Syncing => "syncing",
            Phase::Serving => "serving",
            Phase::Stopping => "stopping",
        };
        f.write_str(name)
    }
}

/// The process's [`Phase`], shared by whatever moves it on and whatever reports it.
#[derive(Clone, Debug)]
pub struct Health {
    phase: Arc<watch::Sender<Phase>>,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// A process that is [`Phase::Starting`].
    pub fn new() -> Self {
        Health {
            phase: Arc::new(watch::Sender::new(Phase::Starting)),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Moves to `phase`, unless shutdown has begun: nothing leaves [`Phase::Stopping`].
    pub fn set(&self, phase: Phase) {
        self.phase.send_if_modified(|current| {
            let change = *current != Phase::Stopping && *current != phase;
            if change {
                *current = phase;
            }
            change
        });
    }

    /// Begins shutdown: readiness fails from now on, and [`Health::stopping`] resolves.
    pub fn begin_shutdown(&self) {
        self.set(Phase::Stopping);
    }

    /// Resolves once shutdown has begun (at once if it has).
    pub fn stopping(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut phase = self.phase.subscribe();
        async move {
            // The sender lives in `self` and its clones; if all are gone, nobody is left to
            // wait for, and resolving is as good as anything.
            let _ = phase.wait_for(|p| *p == Phase::Stopping).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn only_a_standby_or_a_synced_replica_is_ready() {
        let ready: Vec<Phase> = [
            Phase::Starting,
            Phase::Standby,
            Phase::Syncing,
            Phase::Serving,
            Phase::Stopping,
        ]
        .into_iter()
        .filter(|p| p.is_ready())
        .collect();
        assert_eq!(ready, [Phase::Standby, Phase::Serving]);
    }

    #[test]
    fn nothing_leaves_stopping() {
        let health = Health::new();
        health.set(Phase::Serving);
        health.begin_shutdown();
        health.set(Phase::Serving);
        assert_eq!(health.phase(), Phase::Stopping);
    }

    #[tokio::test]
    async fn stopping_resolves_when_shutdown_begins() {
        let health = Health::new();
        let stopping = tokio::spawn(health.stopping());
        health.set(Phase::Serving);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!stopping.is_finished(), "resolved before shutdown began");
        health.begin_shutdown();
        tokio::time::timeout(Duration::from_secs(1), stopping)
            .await
            .expect("resolves after begin_shutdown")
            .expect("the task ran");
        // And at once for anyone asking later.
        tokio::time::timeout(Duration::from_millis(100), health.stopping())
            .await
            .expect("resolves at once once stopping");
    }
}
