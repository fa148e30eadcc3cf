//! Starting a deactivation, behind the mass-deactivation guard.
//!
//! A compromised HR account or a broken script could ask for hundreds of deactivations at
//! once. More than the policy's threshold starting within its window of one tenant pause the
//! later ones (phase `Paused`, condition `Paused`) until a person confirms each with the
//! annotation `m365-operator.io/confirm-mass-deactivation: "true"`. Admissions are
//! serialised, and the ones admitted by this process are remembered until the cache shows
//! them, so parallel reconciles cannot slip past the count together.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use jiff::Timestamp;
use kube::ResourceExt;
use tokio::sync::Mutex;

use super::{Stop, Work, now, waiting};
use crate::api::deactivation::{
    CONFIRM_MASS_DEACTIVATION, Deactivation, DeactivationPhase, DeactivationPolicy,
    DeactivationReason, reason,
};
use crate::api::{Tenant, User};
use crate::sla::{BusinessCalendar, SlaRecord};

/// A termination completes within one business hour of taking effect.
const TERMINATION_SLA: Duration = Duration::from_secs(3600);

/// Deactivations this process admitted recently.
#[derive(Default)]
pub(super) struct Admissions {
    recent: Mutex<HashMap<String, Admission>>,
}

struct Admission {
    tenant: String,
    at: Timestamp,
}

/// Starts the deactivation unless the guard holds it: records the tenant, the account and,
/// for a termination, the SLA clock.
pub(super) async fn admit(
    work: &mut Work<'_>,
    user: &User,
    tenant: &Tenant,
    policy: &DeactivationPolicy,
) -> Result<(), Stop> {
    let deactivation = work.deactivation;
    let object_id = account_id(user)?;
    let mut recent = work.ctx.admissions.recent.lock().await;
    let at = now();
    let guard = &policy.mass_deactivation;
    let since = at.0 - Duration::from_secs(u64::from(guard.window_minutes) * 60);
    let key = key_of(deactivation);
    let stored = work.ctx.deactivations.state();
    let started = started_since(
        stored.iter().map(|d| started_of(d)),
        &recent,
        &tenant.name_any(),
        since,
        &key,
    );
    if started >= guard.threshold as usize && !deactivation.mass_deactivation_confirmed() {
        return Err(waiting(
            DeactivationPhase::Paused,
            reason::MASS_DEACTIVATION_GUARD,
            format!(
                "{started} deactivations of tenant {} started in the last {} minutes, the \
                 guard's threshold is {}; a person confirms this one with the annotation \
                 {CONFIRM_MASS_DEACTIVATION}: \"true\"",
                tenant.name_any(),
                guard.window_minutes,
                guard.threshold
            ),
            Duration::from_secs(60),
        ));
    }
    let status = &mut work.status;
    status.started_at = Some(at.clone());
    status.tenant = Some(tenant.name_any());
    status.object_id = Some(object_id);
    status.user_principal_name = user
        .status
        .as_ref()
        .and_then(|s| s.user_principal_name.clone());
    if deactivation.spec.reason == DeactivationReason::Termination {
        status.sla = termination_sla(deactivation, tenant);
    }
    work.save().await?;
    recent.retain(|_, a| a.at >= since);
    recent.insert(
        key,
        Admission {
            tenant: tenant.name_any(),
            at: at.0,
        },
    );
    Ok(())
}

fn account_id(user: &User) -> Result<String, Stop> {
    user.status
        .as_ref()
        .and_then(|s| s.object_id.clone())
        .ok_or_else(|| {
            waiting(
                DeactivationPhase::Pending,
                reason::ACCOUNT_MISSING,
                format!("User {} has no Entra account yet", user.name_any()),
                Duration::from_secs(30),
            )
        })
}

fn key_of(deactivation: &Deactivation) -> String {
    format!(
        "{}/{}",
        deactivation.namespace().unwrap_or_default(),
        deactivation.name_any()
    )
}

/// What the guard needs of a stored Deactivation: its key, tenant and start.
fn started_of(deactivation: &Deactivation) -> (String, Option<String>, Option<Timestamp>) {
    let status = deactivation.status.as_ref();
    (
        key_of(deactivation),
        status.and_then(|s| s.tenant.clone()),
        status.and_then(|s| s.started_at.as_ref()).map(|t| t.0),
    )
}

/// How many other deactivations of `tenant` started at or after `since`, counting the stored
/// ones and those admitted here that the cache may not show yet, each once.
fn started_since(
    stored: impl Iterator<Item = (String, Option<String>, Option<Timestamp>)>,
    recent: &HashMap<String, Admission>,
    tenant: &str,
    since: Timestamp,
    except: &str,
) -> usize {
    let mut keys: HashSet<String> = stored
        .filter(|(_, t, at)| t.as_deref() == Some(tenant) && at.is_some_and(|at| at >= since))
        .map(|(key, ..)| key)
        .collect();
    keys.extend(
        recent
            .iter()
            .filter(|(_, a)| a.tenant == tenant && a.at >= since)
            .map(|(key, _)| key.clone()),
    );
    keys.remove(except);
    keys.len()
}

/// The termination promise: one business hour from when it takes effect, in the Tenant's
/// calendar or the default one (UTC, weekdays 09:00 to 17:00).
fn termination_sla(deactivation: &Deactivation, tenant: &Tenant) -> Option<SlaRecord> {
    let effective = super::steps::effective_at(deactivation);
    let calendar = tenant.spec.calendar.clone().unwrap_or_default();
    let hours = calendar.hours().or_else(|error| {
        tracing::warn!(%error, "tenant calendar unusable; the default calendar counts the SLA");
        BusinessCalendar::default().hours()
    });
    hours
        .and_then(|hours| SlaRecord::start(&hours, effective, TERMINATION_SLA))
        .inspect_err(|error| tracing::warn!(%error, "no termination SLA recorded"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn stored(
        key: &str,
        tenant: &str,
        secs: Option<i64>,
    ) -> (String, Option<String>, Option<Timestamp>) {
        (key.into(), Some(tenant.into()), secs.map(at))
    }

    #[test]
    fn only_recent_starts_of_the_same_tenant_count() {
        let stored = vec![
            stored("a/1", "contoso", Some(100)),
            stored("a/2", "contoso", Some(50)),
            stored("a/3", "fabrikam", Some(100)),
            stored("a/4", "contoso", None),
            stored("a/self", "contoso", Some(100)),
        ];
        let count = started_since(
            stored.into_iter(),
            &HashMap::new(),
            "contoso",
            at(60),
            "a/self",
        );
        assert_eq!(count, 1);
    }

    #[test]
    fn admissions_the_cache_does_not_show_yet_count_once() {
        let recent = HashMap::from([
            (
                "a/1".to_string(),
                Admission {
                    tenant: "contoso".into(),
                    at: at(100),
                },
            ),
            (
                "a/2".to_string(),
                Admission {
                    tenant: "contoso".into(),
                    at: at(100),
                },
            ),
        ]);
        let stored = vec![stored("a/1", "contoso", Some(100))];
        let count = started_since(stored.into_iter(), &recent, "contoso", at(60), "a/3");
        assert_eq!(count, 2);
    }
}
