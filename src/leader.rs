//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several replicas only one
//! reconciles.
//!
//! The holder renews the Lease every [`LeaseSettings::renew_every`]. Another replica takes it
//! over when it is released, or when its record has not changed for the lease duration *as
//! that replica's own clock measures it* — comparing our clock with the holder's `renewTime`
//! would make a skewed clock steal a live lease. Every write is an update at the
//! resourceVersion read, so of two replicas taking over at once, one gets a conflict.
//!
//! A holder that cannot renew for longer than the lease duration minus one renew period gives
//! up before anyone else may take over, and [`Elector::lead`] then drops the work and
//! returns [`LeaderError::Lost`].

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tracing::{info, warn};

use crate::http::{Health, Phase};
use crate::metrics;

/// Name of the Lease unless configured otherwise.
pub const DEFAULT_LEASE_NAME: &str = "m365-operator";

/// Which Lease to hold, as whom, and how often to renew it.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    /// Namespace of the Lease: the operator's own.
    pub namespace: String,
    /// Name of the Lease, the same for every replica of one installation.
    pub name: String,
    /// This replica's name in `holderIdentity`: unique among the replicas.
    pub identity: String,
    /// How long a lease holds without renewal.
    pub lease_duration: Duration,
    /// How often the holder renews, and a standby looks again.
    pub renew_every: Duration,
}

impl LeaseSettings {
    /// Checks that the timings leave the holder time to renew before the lease runs out.
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_duration.as_secs() < 2 || self.lease_duration.subsec_nanos() != 0 {
            return Err("the lease duration must be a whole number of seconds, at least 2".into());
        }
        // A failed renewal needs a retry before the holder must give up.
        if self.renew_every.is_zero() || self.renew_every * 2 >= self.lease_duration {
            return Err(format!(
                "renewing every {:?} cannot keep a lease of {:?}: renew more than twice in \
                 a lease",
                self.renew_every, self.lease_duration
            ));
        }
        Ok(())
    }

    /// Without a successful renewal for this long the holder gives up, one renew period
    /// before another replica may take over.
    fn renew_deadline(&self) -> Duration {
        self.lease_duration.saturating_sub(self.renew_every)
    }
}

/// The identity to hold the lease under: the pod's name when it runs in a pod, or else the
/// host name and process id, which tells two processes on one machine apart.
pub fn default_identity() -> String {
    if let Ok(pod) = std::env::var("POD_NAME")
        && !pod.is_empty()
    {
        return pod;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}-{}", std::process::id())
}

/// Why the work stopped without finishing.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// Another replica holds the lease now, or it could not be renewed in time.
    #[error("lost the leader lease {lease}: {why}")]
    Lost { lease: String, why: String },
}

/// Campaigns for, holds and releases one Lease.
#[derive(Clone)]
pub struct Elector {
    leases: Api<Lease>,
    settings: LeaseSettings,
}

impl Elector {
    /// An elector for the Lease in `settings`, which it creates when missing. Give it a
    /// client of its own, so that renewals never wait behind the controllers' requests.
    pub fn new(client: kube::Client, settings: LeaseSettings) -> Self {
        Elector {
            leases: Api::namespaced(client, &settings.namespace),
            settings,
        }
    }

    /// Runs `work` only while holding the lease: waits to acquire it (as a standby, reported
    /// in `health`), renews it while `work` runs, and releases it when `work` ends so that a
    /// standby takes over at once. Returns `Ok(None)` when shutdown began before this
    /// replica led, and [`LeaderError::Lost`], with `work` dropped, when the lease was lost.
    pub async fn lead<F: Future>(
        &self,
        work: F,
        health: &Health,
    ) -> Result<Option<F::Output>, LeaderError> {
        let mut observer = Observer::default();
        tokio::select! {
            () = self.acquire(&mut observer, health) => {}
            () = health.stopping() => return Ok(None),
        }
        info!(lease = %self.lease_name(), identity = %self.settings.identity, "became the leader");
        metrics::set_leader(true);
        // Renewals run on a task of their own: the work may keep its task busy for longer
        // than a renewal may take.
        let elector = self.clone();
        let mut renewals = tokio::spawn(async move { elector.keep(&mut observer).await });
        let outcome = tokio::select! {
            output = work => Ok(Some(output)),
            lost = &mut renewals => Err(lost.unwrap_or_else(|e| LeaderError::Lost {
                lease: self.lease_name(),
                why: format!("the renewal task ended: {e}"),
            })),
        };
        renewals.abort();
        metrics::set_leader(false);
        if outcome.is_ok() {
            self.release().await;
        }
        outcome
    }

    /// Returns once this replica holds the lease.
    async fn acquire(&self, observer: &mut Observer, health: &Health) {
        let mut reported_holder = None;
        loop {
            match self.try_hold(observer).await {
                Ok(Standing::Leader) => return,
                Ok(Standing::Follower { holder }) => {
                    health.set(Phase::Standby);
                    if reported_holder.as_ref() != Some(&holder) {
                        info!(lease = %self.lease_name(), %holder, "another replica leads; standing by");
                        reported_holder = Some(holder);
                    }
                }
                Err(e) => {
                    warn!(lease = %self.lease_name(), error = %e, "cannot read or write the leader lease")
                }
            }
            tokio::time::sleep(self.settings.renew_every).await;
        }
    }

    /// Renews the lease until it is lost; returns why.
    async fn keep(&self, observer: &mut Observer) -> LeaderError {
        let mut renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.settings.renew_every).await;
            // A request that hangs must not keep us leading past the point where another
            // replica may take over.
            let deadline = renewed + self.settings.renew_deadline();
            let attempt = tokio::time::timeout_at(deadline, self.try_hold(observer)).await;
            let why = match attempt {
                Ok(Ok(Standing::Leader)) => {
                    renewed = tokio::time::Instant::now();
                    continue;
                }
                Ok(Ok(Standing::Follower { holder })) => format!("{holder} holds it now"),
                Ok(Err(e)) if tokio::time::Instant::now() >= deadline => {
                    format!("not renewed for {:?}: {e}", renewed.elapsed())
                }
                Err(_) => format!(
                    "not renewed for {:?}: the API server did not answer",
                    renewed.elapsed()
                ),
                Ok(Err(e)) => {
                    warn!(lease = %self.lease_name(), error = %e, "renewing the leader lease failed; retrying");
                    continue;
                }
            };
            return LeaderError::Lost {
                lease: self.lease_name(),
                why,
            };
        }
    }

    /// One round: reads the lease and creates, renews or takes it over if that is due.
    async fn try_hold(&self, observer: &mut Observer) -> kube::Result<Standing> {
        let current = self.leases.get_opt(&self.settings.name).await?;
        let expired = current
            .as_ref()
            .is_some_and(|lease| observer.expired(lease.spec.as_ref(), Instant::now()));
        let now = jiff::Timestamp::now();
        let decision = decide(current.as_ref(), &self.settings, expired, now);
        let written = match decision {
            Decision::Wait { holder } => return Ok(Standing::Follower { holder }),
            Decision::Create(lease) => self.leases.create(&PostParams::default(), &lease).await,
            Decision::Update(lease) => {
                self.leases
                    .replace(&self.settings.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match written {
            Ok(lease) => {
                observer.expired(lease.spec.as_ref(), Instant::now());
                Ok(Standing::Leader)
            }
            // Someone wrote first; whoever holds the lease now leads until the next look.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Standing::Follower {
                holder: self.holder().await,
            }),
            Err(e) => Err(e),
        }
    }

    /// Who holds the lease, for the logs.
    async fn holder(&self) -> String {
        let lease = self.leases.get_opt(&self.settings.name).await;
        lease
            .ok()
            .flatten()
            .and_then(|lease| lease.spec?.holder_identity)
            .unwrap_or_else(|| "another replica".into())
    }

    /// Hands the lease back so that a standby need not wait for it to expire.
    async fn release(&self) {
        let released = async {
            let Some(mut lease) = self.leases.get_opt(&self.settings.name).await? else {
                return Ok(false);
            };
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() != Some(&self.settings.identity) {
                return Ok(false);
            }
            spec.holder_identity = None;
            spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
            spec.lease_duration_seconds = Some(1);
            self.leases
                .replace(&self.settings.name, &PostParams::default(), &lease)
                .await
                .map(|_| true)
        };
        match released.await {
            Ok(true) => info!(lease = %self.lease_name(), "released the leader lease"),
            Ok(false) => {}
            Err(e) => warn!(
                lease = %self.lease_name(),
                error = %e,
                "could not release the leader lease; a standby takes over once it expires"
            ),
        }
    }

    fn lease_name(&self) -> String {
        format!("{}/{}", self.settings.namespace, self.settings.name)
    }
}

/// Where this replica stands after one round.
#[derive(Debug, PartialEq)]
enum Standing {
    Leader,
    Follower { holder: String },
}

/// What one round does, decided from the lease as read.
#[derive(Debug)]
enum Decision {
    Create(Lease),
    /// Renew our own lease, or take over one that is released or expired.
    Update(Lease),
    Wait {
        holder: String,
    },
}

/// Decides what to do about `current`; `expired` says whether its record has stood still
/// for its duration by our clock.
fn decide(
    current: Option<&Lease>,
    settings: &LeaseSettings,
    expired: bool,
    now: jiff::Timestamp,
) -> Decision {
    let Some(current) = current else {
        return Decision::Create(Lease {
            metadata: ObjectMeta {
                name: Some(settings.name.clone()),
                namespace: Some(settings.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(held_spec(settings, now, 0)),
        });
    };
    let spec = current.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let transitions = spec.lease_transitions.unwrap_or(0);
    let new_spec = if holder == settings.identity {
        LeaseSpec {
            renew_time: Some(MicroTime(now)),
            lease_duration_seconds: Some(duration_seconds(settings)),
            ..spec
        }
    } else if holder.is_empty() || expired {
        held_spec(settings, now, transitions.saturating_add(1))
    } else {
        return Decision::Wait { holder };
    };
    Decision::Update(Lease {
        // Keeps the resourceVersion read: a concurrent write makes ours conflict.
        metadata: current.metadata.clone(),
        spec: Some(new_spec),
    })
}

fn held_spec(settings: &LeaseSettings, now: jiff::Timestamp, transitions: i32) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(settings.identity.clone()),
        lease_duration_seconds: Some(duration_seconds(settings)),
        acquire_time: Some(MicroTime(now)),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    }
}

fn duration_seconds(settings: &LeaseSettings) -> i32 {
    i32::try_from(settings.lease_duration.as_secs()).unwrap_or(i32::MAX)
}

/// Tells whether a lease's record has stood still for its duration, by our own clock.
#[derive(Default)]
struct Observer {
    last: Option<(Record, Instant)>,
}

/// The parts of a lease that change when its holder renews it or hands it on.
#[derive(Clone, Debug, PartialEq)]
struct Record {
    holder: Option<String>,
    renew_time: Option<jiff::Timestamp>,
    transitions: Option<i32>,
    duration: Duration,
}

impl Observer {
    /// Notes the record seen at `now`; true when it has not changed for its duration.
    fn expired(&mut self, spec: Option<&LeaseSpec>, now: Instant) -> bool {
        let spec = spec.cloned().unwrap_or_default();
        let record = Record {
            holder: spec.holder_identity,
            renew_time: spec.renew_time.map(|t| t.0),
            transitions: spec.lease_transitions,
            duration: Duration::from_secs(spec.lease_duration_seconds.unwrap_or(0).max(0) as u64),
        };
        match &self.last {
            Some((seen, since)) if *seen == record => now.duration_since(*since) >= record.duration,
            _ => {
                self.last = Some((record, now));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(identity: &str) -> LeaseSettings {
        LeaseSettings {
            namespace: "m365-operator".into(),
            name: DEFAULT_LEASE_NAME.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        }
    }

    fn lease(holder: Option<&str>, renewed: jiff::Timestamp, transitions: i32) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(DEFAULT_LEASE_NAME.into()),
                namespace: Some("m365-operator".into()),
                resource_version: Some("42".into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_string),
                lease_duration_seconds: Some(15),
                acquire_time: Some(MicroTime(renewed)),
                renew_time: Some(MicroTime(renewed)),
                lease_transitions: Some(transitions),
                ..LeaseSpec::default()
            }),
        }
    }

    fn updated(decision: Decision) -> Lease {
        match decision {
            Decision::Update(lease) => lease,
            other => panic!("expected an update, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_lease_is_created_for_us() {
        let now = jiff::Timestamp::now();
        let Decision::Create(lease) = decide(None, &settings("a"), false, now) else {
            panic!("expected a create");
        };
        let spec = lease.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.lease_transitions, Some(0));
        assert_eq!(spec.renew_time, Some(MicroTime(now)));
    }

    #[test]
    fn our_own_lease_is_renewed_keeping_its_acquire_time() {
        let acquired = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let now = acquired + jiff::SignedDuration::from_secs(5);
        let lease = updated(decide(
            Some(&lease(Some("a"), acquired, 3)),
            &settings("a"),
            false,
            now,
        ));
        let spec = lease.spec.unwrap();
        assert_eq!(spec.acquire_time, Some(MicroTime(acquired)));
        assert_eq!(spec.renew_time, Some(MicroTime(now)));
        assert_eq!(spec.lease_transitions, Some(3));
        assert_eq!(lease.metadata.resource_version.as_deref(), Some("42"));
    }

    #[test]
    fn a_live_lease_of_another_replica_is_left_alone() {
        let now = jiff::Timestamp::now();
        let decision = decide(Some(&lease(Some("b"), now, 0)), &settings("a"), false, now);
        assert!(matches!(decision, Decision::Wait { holder } if holder == "b"));
    }

    #[test]
    fn an_expired_or_released_lease_is_taken_over() {
        let now = jiff::Timestamp::now();
        for current in [lease(Some("b"), now, 2), lease(None, now, 2)] {
            let expired = current.spec.as_ref().unwrap().holder_identity.is_some();
            let spec = updated(decide(Some(&current), &settings("a"), expired, now))
                .spec
                .unwrap();
            assert_eq!(spec.holder_identity.as_deref(), Some("a"));
            assert_eq!(spec.acquire_time, Some(MicroTime(now)));
            assert_eq!(spec.lease_transitions, Some(3));
        }
    }

    #[test]
    fn expiry_is_measured_from_when_we_saw_the_record_change() {
        // The holder's renewTime lies far in the past by our clock: clock skew, not death.
        let long_ago = jiff::Timestamp::from_second(1_000_000_000).unwrap();
        let mut observer = Observer::default();
        let start = Instant::now();
        let seen = lease(Some("b"), long_ago, 0).spec;
        assert!(!observer.expired(seen.as_ref(), start));
        assert!(!observer.expired(seen.as_ref(), start + Duration::from_secs(14)));
        // Renewed just in time: the clock starts again.
        let renewed = lease(Some("b"), long_ago + jiff::SignedDuration::from_secs(5), 0).spec;
        assert!(!observer.expired(renewed.as_ref(), start + Duration::from_secs(14)));
        assert!(!observer.expired(renewed.as_ref(), start + Duration::from_secs(28)));
        assert!(observer.expired(renewed.as_ref(), start + Duration::from_secs(29)));
    }

    #[test]
    fn timings_must_leave_room_to_renew() {
        assert!(settings("a").validate().is_ok());
        let too_slow = LeaseSettings {
            renew_every: Duration::from_millis(7500),
            ..settings("a")
        };
        assert!(too_slow.validate().is_err());
        let fractional = LeaseSettings {
            lease_duration: Duration::from_millis(2500),
            renew_every: Duration::from_secs(1),
            ..settings("a")
        };
        assert!(fractional.validate().is_err());
        assert_eq!(settings("a").renew_deadline(), Duration::from_secs(10));
    }

    #[test]
    fn the_identity_tells_processes_apart() {
        let identity = default_identity();
        assert!(!identity.is_empty());
        if std::env::var_os("POD_NAME").is_none() {
            assert!(identity.ends_with(&format!("-{}", std::process::id())));
        }
    }
}
