//! The controllers: one per kind, sharing one [`Context`].
//!
//! Each reconcile observes (reflector stores, then Graph), decides, acts, and records the
//! result in status in one place. Nothing flows back except through status.

mod error;
pub mod status;
pub mod tenant;
pub mod user;

pub use error::Error;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
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

/// Field manager of every write the operator makes.
pub const MANAGER: &str = "m365-operator";

/// What every reconciler shares.
pub struct Context {
    pub client: kube::Client,
    pub tenants: Store<Tenant>,
    pub connections: Connections,
    pub recorder: Recorder,
    backoff: Backoff,
}

/// Which objects the operator looks after.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Reconcile Users of this namespace only; all namespaces when `None`.
    pub namespace: Option<String>,
}

/// Runs the controllers until SIGTERM or Ctrl-C.
pub async fn run(client: kube::Client, scope: Scope) -> Result<(), kube::Error> {
    wait_for_crds(&client).await?;
    let tenant_api: Api<Tenant> = Api::all(client.clone());
    let user_api: Api<User> = match &scope.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let secret_api: Api<Secret> = match &scope.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };

    let tenant_controller =
        Controller::new(tenant_api.clone(), watcher::Config::default()).shutdown_on_signal();
    let context = Arc::new(Context {
        client: client.clone(),
        tenants: tenant_controller.store(),
        connections: Connections::new(client.clone()),
        recorder: Recorder::new(client.clone(), reporter()),
        backoff: Backoff::default(),
    });

    let user_controller = Controller::new(user_api, watcher::Config::default());
    let users = user_controller.store();
    let managed_secrets =
        watcher::Config::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1));
    let user_controller = user_controller
        .owns(secret_api, managed_secrets)
        .watches(tenant_api, watcher::Config::default(), move |tenant| {
            users_of(&users, &tenant)
        })
        .shutdown_on_signal();

    tracing::info!(
        namespace = scope.namespace.as_deref().unwrap_or("*"),
        "controllers starting"
    );
    let tenants = tenant_controller
        .run(tenant::reconcile, tenant::error_policy, context.clone())
        .for_each(|result| async move { log_result("Tenant", result) });
    let users = async {
        // Users refer to Tenants: reconciling them before the Tenant cache is filled would
        // report every tenant missing.
        let _ = context.tenants.wait_until_ready().await;
        user_controller
            .run(user::reconcile, user::error_policy, context.clone())
            .for_each(|result| async move { log_result("User", result) })
            .await
    };
    tokio::join!(tenants, users);
    tracing::info!("controllers stopped");
    Ok(())
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
    let names = [Tenant::crd_name(), User::crd_name()];
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

impl Context {
    fn backoff_key(kind: &str, object: &impl ResourceExt) -> String {
        format!(
            "{kind}/{}/{}",
            object.namespace().unwrap_or_default(),
            object.name_any()
        )
    }
}
