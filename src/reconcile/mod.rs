//! The controllers: one per kind, sharing one [`Context`].
//!
//! Each reconcile observes (reflector stores, then Graph), decides, acts, and records the
//! result in status in one place. Nothing flows back except through status.

pub mod deactivation;
mod error;
pub mod note;
pub mod role;
pub mod status;
pub mod tenant;
pub mod user;

pub use error::Error;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, CustomResourceExt, ResourceExt};

use crate::api::{Tenant, User};
use crate::connections::Connections;
use crate::credentials::MANAGED_BY;
use crate::http::{Health, Phase};
use crate::metrics;
use crate::tokens::{KeyRing, SigningKeys, TokenError};

/// Field manager of every write the operator makes.
pub const MANAGER: &str = "m365-operator";

/// What every reconciler shares.
pub struct Context {
    pub client: kube::Client,
    pub tenants: Store<Tenant>,
    pub connections: Connections,
    pub recorder: Recorder,
    pub settings: Settings,
    pub keys: Arc<SigningKeys>,
    /// Every Deactivation in scope; see [`deactivation::is_deactivated`].
    pub deactivations: Store<crate::api::deactivation::Deactivation>,
    /// Every RoleAssignment in scope: the effective role of each User comes from these.
    pub role_assignments: Store<crate::api::role::RoleAssignment>,
    /// Asks the Tenant controller to count seats again.
    recount_seats: futures::channel::mpsc::UnboundedSender<()>,
    backoff: Backoff,
}

/// Operator-wide settings the reconcilers need.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The operator's own namespace: its signing keys live here.
    pub operator_namespace: String,
    /// The `iss` of the tokens the operator signs, as published at its discovery endpoint.
    pub issuer: String,
}

/// Which objects the operator looks after.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Reconcile Users of this namespace only; all namespaces when `None`.
    pub namespace: Option<String>,
    /// Reconcile only the Tenants with these labels (a label selector), e.g. to split tenants
    /// between operator deployments; all Tenants when `None`.
    pub tenant_selector: Option<String>,
    /// Settings handed to every reconciler.
    pub settings: Option<Settings>,
    /// The signing keys, shared with the routes that publish them.
    pub signing_keys: Option<Arc<SigningKeys>>,
}

fn settings_namespace(scope: &Scope) -> String {
    scope
        .settings
        .clone()
        .unwrap_or_default()
        .operator_namespace
}

/// Runs the controllers until shutdown begins in `health`, then lets in-flight reconciles
/// finish. Reports in `health` when the caches are synced.
pub async fn run(client: kube::Client, scope: Scope, health: Health) -> Result<(), kube::Error> {
    tokio::select! {
        crds = wait_for_crds(&client) => crds?,
        () = health.stopping() => return Ok(()),
    }
    health.set(Phase::Syncing);
    let tenant_api: Api<Tenant> = Api::all(client.clone());
    let user_api: Api<User> = match &scope.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let secret_api: Api<Secret> = match &scope.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };

    let tenant_watch = match &scope.tenant_selector {
        Some(selector) => watcher::Config::default().labels(selector),
        None => watcher::Config::default(),
    };
    let tenant_controller = Controller::new(tenant_api.clone(), tenant_watch.clone())
        .graceful_shutdown_on(health.stopping());
    let deactivation_controller = deactivation::controller(&client, scope.namespace.as_deref());
    let role_controller = role::controller(&client, scope.namespace.as_deref());
    let (recount_seats, seat_changes) = futures::channel::mpsc::unbounded();
    // Every Tenant, since only a stable API does it; a burst of requests folds into one pass
    // per Tenant, as the controller merges the reconciles it has queued.
    let tenant_controller = tenant_controller.reconcile_all_on(seat_changes);
    let context = Arc::new(Context {
        recount_seats,
        deactivations: deactivation_controller.store(),
        role_assignments: role_controller.store(),
        client: client.clone(),
        tenants: tenant_controller.store(),
        connections: Connections::new(client.clone(), settings_namespace(&scope)),
        recorder: Recorder::new(client.clone(), reporter()),
        settings: scope.settings.clone().unwrap_or_default(),
        keys: scope.signing_keys.clone().unwrap_or_else(|| {
            Arc::new(SigningKeys::new(client.clone(), settings_namespace(&scope)))
        }),
        backoff: Backoff::default(),
    });

    let user_controller = Controller::new(user_api, watcher::Config::default());
    let users = user_controller.store();
    // Polled in this task, not spawned: a store wakes only the last task that waited for it,
    // and the controllers wait for the same stores.
    let synced = report_synced(
        health.clone(),
        [
            cache_ready(context.tenants.clone()),
            cache_ready(users.clone()),
            cache_ready(deactivation_controller.store()),
            cache_ready(role_controller.store()),
        ],
    );
    let deactivations = deactivation::run(
        deactivation_controller,
        context.clone(),
        users.clone(),
        health.stopping(),
    );
    let roles = role::run(
        role_controller,
        context.clone(),
        users.clone(),
        health.stopping(),
    );
    let managed_secrets =
        watcher::Config::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1));
    let user_controller = user_controller
        .owns(secret_api, managed_secrets)
        .watches(tenant_api, tenant_watch, move |tenant| {
            users_of(&users, &tenant)
        })
        // A User shows Inactive, and is left alone, as soon as its Deactivation takes effect.
        .watches(
            deactivation::api(&client, scope.namespace.as_deref()),
            watcher::Config::default(),
            |d| Some(deactivation::user_of(&d)),
        )
        // The effective role shown in a User's status follows its RoleAssignments.
        .watches(
            role::api(&client, scope.namespace.as_deref()),
            watcher::Config::default(),
            role::user_whose_role_it_sets,
        )
        .graceful_shutdown_on(health.stopping());

    tracing::info!(
        namespace = scope.namespace.as_deref().unwrap_or("*"),
        "controllers starting"
    );
    let tenants = tenant_controller
        .run(
            |tenant, ctx| observed("Tenant", tenant::reconcile(tenant, ctx)),
            tenant::error_policy,
            context.clone(),
        )
        .for_each(|result| async move { log_result("Tenant", result) });
    let users = async {
        // Users refer to Tenants: reconciling them before the Tenant cache is filled would
        // report every tenant missing.
        let _ = context.tenants.wait_until_ready().await;
        // Nor before the Deactivations are known: a deactivated account must not be licensed.
        let _ = context.deactivations.wait_until_ready().await;
        user_controller
            .run(
                |user, ctx| observed("User", user::reconcile(user, ctx)),
                user::error_policy,
                context.clone(),
            )
            .for_each(|result| async move { log_result("User", result) })
            .await
    };
    let controllers = async {
        tokio::join!(tenants, users, deactivations, roles);
    };
    drain_or_drop(controllers, synced).await;
    Ok(())
}

/// Runs the controllers to their graceful end, unless shutdown comes before the caches are
/// synced: then they are dropped, because their graceful end would wait for a cache that
/// no longer fills. Nothing of value is cut short then: a User reconcile waits for its cache,
/// and a Tenant reconcile only reads and writes status, like one interrupted by a crash.
async fn drain_or_drop(controllers: impl Future<Output = ()>, synced: impl Future<Output = bool>) {
    tokio::pin!(controllers);
    let synced = tokio::select! {
        () = &mut controllers => false,
        synced = synced => synced,
    };
    if synced {
        controllers.await;
        tracing::info!("controllers stopped");
    } else {
        tracing::info!("controllers stopped before their caches synced");
    }
}

/// Resolves once a controller's cache holds a complete list.
fn cache_ready<K>(store: Store<K>) -> BoxFuture<'static, ()>
where
    K: kube::Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    async move {
        let _ = store.wait_until_ready().await;
    }
    .boxed()
}

/// Readiness: every cache holds a complete list. Reconciling before would report Tenants
/// missing that are merely not listed yet. False when shutdown began first.
async fn report_synced(
    health: Health,
    caches: impl IntoIterator<Item = BoxFuture<'static, ()>>,
) -> bool {
    let synced = async {
        // One after the other, in this future: all must be ready, and each is polled with
        // this task's waker.
        for cache in caches {
            cache.await;
        }
    };
    tokio::select! {
        // Synced wins a tie: a reconcile may have started, and must be drained.
        biased;
        () = synced => {
            health.set(Phase::Serving);
            tracing::info!("caches synced; ready");
            true
        }
        () = health.stopping() => false,
    }
}

/// Counts a reconcile in the metrics: in flight while it runs, then by outcome.
fn observed<F>(
    kind: &'static str,
    reconcile: F,
) -> impl Future<Output = Result<Action, Error>> + Send + 'static
where
    F: Future<Output = Result<Action, Error>> + Send + 'static,
{
    let timer = metrics::reconcile_started(kind);
    reconcile.map(move |result| {
        timer.finish(result.as_ref().err().map(Error::category));
        result
    })
}

fn users_of(users: &Store<User>, tenant: &Tenant) -> Vec<ObjectRef<User>> {
    let name = tenant.name_any();
    users
        .state()
        .iter()
        .filter(|user| user.spec.tenant == name)
        .map(|user| ObjectRef::from(user.as_ref()))
        .collect()
}

fn log_result<K, E: std::fmt::Display>(kind: &str, result: Result<K, E>) {
    if let Err(e) = result {
        // Reconcile errors are already in status and logs; this is mostly queue noise.
        tracing::debug!(kind, error = %e, "reconcile did not complete");
    }
}

/// An Event recorder reporting as the operator, for work outside the controllers.
pub fn recorder(client: kube::Client) -> Recorder {
    Recorder::new(client, reporter())
}

fn reporter() -> Reporter {
    Reporter {
        controller: MANAGER.into(),
        instance: std::env::var("POD_NAME")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok()),
    }
}

/// Waits until the operator's CRDs are installed and established, so that a missing
/// `kubectl apply -f crds/` shows as one clear log line instead of watch errors.
async fn wait_for_crds(client: &kube::Client) -> Result<(), kube::Error> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let names = [
        Tenant::crd_name(),
        User::crd_name(),
        crate::api::deactivation::Deactivation::crd_name(),
        crate::api::role::RoleAssignment::crd_name(),
    ];
    let mut warned = false;
    loop {
        let mut missing = Vec::new();
        for name in names {
            let established = crds
                .get_opt(name)
                .await?
                .is_some_and(|crd| is_established(&crd));
            if !established {
                missing.push(name);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if !warned {
            tracing::warn!(
                ?missing,
                "waiting for CRDs; install them with `kubectl apply -f crds/`"
            );
            warned = true;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

fn is_established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

/// Per-object exponential backoff for failed reconciles.
#[derive(Default)]
struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    const BASE: Duration = Duration::from_secs(5);
    const MAX: Duration = Duration::from_secs(300);

    fn failed(&self, key: String) -> Action {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let count = failures.entry(key).or_default();
        *count = count.saturating_add(1);
        let delay = Self::BASE.saturating_mul(1 << (*count - 1).min(6));
        Action::requeue(delay.min(Self::MAX))
    }

    fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            operator_namespace: "m365-operator".into(),
            issuer: "http://m365-operator.m365-operator.svc:8080".into(),
        }
    }
}

impl Context {
    /// Has the free seats counted again now, not at the next periodic check: a licence was
    /// assigned or released.
    pub fn seats_changed(&self) {
        // The Tenant controller is gone only at shutdown, when the count no longer matters.
        let _ = self.recount_seats.unbounded_send(());
    }

    /// The key ring first-session tokens are signed with.
    pub async fn signing_keys(&self) -> Result<Arc<KeyRing>, TokenError> {
        self.keys.get().await
    }

    fn backoff_key(kind: &str, object: &impl ResourceExt) -> String {
        format!(
            "{kind}/{}/{}",
            object.namespace().unwrap_or_default(),
            object.name_any()
        )
    }
}
