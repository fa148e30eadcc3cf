//! Carrying out RoleAssignments: check who asked and who approved, make Entra's group
//! memberships and app roles match the role, revoke the operator's earlier tokens on a
//! downgrade, tell the person, and keep the audit record.
//!
//! A request goes Pending → (AwaitingApproval) → Applying → Applied, or ends Denied; an
//! applied one becomes Superseded when a newer request for the same User is applied. Every
//! Entra change is idempotent (a membership is added or removed only if the account's current
//! memberships say so), and what must survive a crash (the previous role, the revocation time,
//! a mail being sent) is in status before the call that acts on it. Requests for one User are
//! carried out one at a time.

mod approvals;
mod entra;
mod notify;
mod record;
mod work;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use tracing::{instrument, warn};

use super::{Context, Error};
use crate::api::User;
use crate::api::role::{RoleAssignment, RolePhase};
use crate::metrics;
use work::Work;

/// How often an applied role is checked against Entra again, undoing drift.
const RESYNC: Duration = Duration::from_secs(600);

/// How often a request that waits (for its User, an approval, the Tenant) is looked at again.
const RETRY: Duration = Duration::from_secs(60);

/// The User whose effective role a RoleAssignment may have just set or stopped setting, for
/// the User controller's watch. Only applied and superseded requests count: the status writes
/// of a request still being decided change no User, and each User pass costs Graph calls.
pub fn user_whose_role_it_sets(assignment: RoleAssignment) -> Option<ObjectRef<User>> {
    let phase = assignment.status.as_ref().and_then(|s| s.phase);
    matches!(phase, Some(RolePhase::Applied | RolePhase::Superseded)).then(|| {
        ObjectRef::new(&assignment.spec.user).within(&assignment.namespace().unwrap_or_default())
    })
}

/// RoleAssignments in `namespace`, or in every namespace when `None`.
pub fn api(client: &kube::Client, namespace: Option<&str>) -> Api<RoleAssignment> {
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The RoleAssignment controller. Its store is the Context's `role_assignments`; hand the
/// controller to [`run`].
pub fn controller(client: &kube::Client, namespace: Option<&str>) -> Controller<RoleAssignment> {
    Controller::new(api(client, namespace), watcher::Config::default())
}

/// What the RoleAssignment controller shares across reconciles.
pub struct Ctx {
    shared: Arc<Context>,
    users: Store<User>,
    /// One lock per User (`namespace/name`): requests for one User never interleave.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Ctx {
    fn lock_for(&self, assignment: &RoleAssignment) -> Arc<tokio::sync::Mutex<()>> {
        let key = format!(
            "{}/{}",
            assignment.namespace().unwrap_or_default(),
            assignment.spec.user
        );
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(key).or_default().clone()
    }
}

/// Runs the controller until `stopping` resolves, then lets reconciles in flight finish.
pub async fn run(
    controller: Controller<RoleAssignment>,
    shared: Arc<Context>,
    users: Store<User>,
    stopping: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let ctx = Arc::new(Ctx {
        shared,
        users,
        locks: Mutex::default(),
    });
    // Users and Tenants are read from their stores: wait until those are filled, or every
    // request would look like one for a missing User.
    let _ = ctx.shared.tenants.wait_until_ready().await;
    let _ = ctx.users.wait_until_ready().await;
    controller
        .graceful_shutdown_on(stopping)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "role reconcile did not complete");
            }
        })
        .await;
}

#[instrument(skip_all, fields(namespace = %assignment.namespace().unwrap_or_default(), assignment = %assignment.name_any()))]
async fn reconcile(assignment: Arc<RoleAssignment>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let timer = metrics::reconcile_started("RoleAssignment");
    let lock = ctx.lock_for(&assignment);
    let result = {
        let _one_at_a_time = lock.lock().await;
        reconcile_fresh(&assignment, &ctx).await
    };
    timer.finish(result.as_ref().err().map(Error::category));
    if result.is_ok() {
        ctx.shared
            .backoff
            .succeeded(&Context::backoff_key("RoleAssignment", assignment.as_ref()));
    }
    result
}

fn error_policy(assignment: Arc<RoleAssignment>, error: &Error, ctx: Arc<Ctx>) -> Action {
    warn!(assignment = %assignment.name_any(), category = error.category(), %error, "reconcile failed");
    ctx.shared
        .backoff
        .failed(Context::backoff_key("RoleAssignment", assignment.as_ref()))
}

/// Works on the object as the API server has it now: the cache may lag behind the status
/// the last pass wrote, and acting on an older one could send a mail twice.
async fn reconcile_fresh(cached: &RoleAssignment, ctx: &Ctx) -> Result<Action, Error> {
    if cached.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let api: Api<RoleAssignment> = Api::namespaced(
        ctx.shared.client.clone(),
        &cached.namespace().unwrap_or_default(),
    );
    let Some(fresh) = api.get_opt(&cached.name_any()).await? else {
        return Ok(Action::await_change());
    };
    if fresh
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .is_some_and(RolePhase::is_final)
    {
        return Ok(Action::await_change());
    }
    let mut work = Work::new(&fresh, ctx);
    let outcome = work.drive().await;
    work.finish(outcome).await
}
