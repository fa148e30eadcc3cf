//! The state one running simulator shares between its request handlers, its control API and
//! its [`Handle`](crate::Handle).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::config::{ClientCredential, Config};
use crate::directory::{Directory, SkuUsage, View};
use crate::faults::Faults;
use crate::login::TokenStore;

/// How many sent mails and logged requests are kept; older ones are dropped first so a
/// long-running simulator does not grow without bound.
const JOURNAL_CAPACITY: usize = 10_000;

/// Everything a running simulator knows.
pub struct Sim {
    /// `http://127.0.0.1:PORT`, the root of every absolute link the simulator hands out.
    pub base_url: String,
    /// The tenant id of the configuration.
    pub tenant_id: String,
    /// Domains that name the tenant and may carry user names.
    pub verified_domains: Vec<String>,
    /// App registrations allowed to get tokens.
    pub clients: Vec<ClientCredential>,
    /// Lifetime of issued access tokens.
    pub token_lifetime: Duration,
    configured_lag: Duration,
    directory: Mutex<Directory>,
    tokens: Mutex<TokenStore>,
    outbox: Mutex<Journal>,
    requests: Mutex<Journal>,
    faults: Mutex<Faults>,
}

impl Sim {
    /// A simulator for `config`, reachable at `base_url`.
    pub fn new(config: Config, base_url: String) -> Result<Self, String> {
        config.check()?;
        Ok(Self {
            directory: Mutex::new(Directory::new(&config)?),
            base_url,
            tenant_id: config.tenant_id,
            verified_domains: config.verified_domains,
            clients: config.clients,
            token_lifetime: Duration::from_secs(config.token_lifetime_seconds),
            configured_lag: Duration::from_millis(config.replication_lag_ms),
            tokens: Mutex::default(),
            outbox: Mutex::default(),
            requests: Mutex::default(),
            faults: Mutex::default(),
        })
    }

    /// The directory, locked. Callers keep the guard across no `.await`, and take the
    /// [`view`](Self::view) before locking so no two locks are ever held at once.
    pub fn directory(&self) -> MutexGuard<'_, Directory> {
        lock(&self.directory)
    }

    /// The issued access tokens, locked.
    pub fn tokens(&self) -> MutexGuard<'_, TokenStore> {
        lock(&self.tokens)
    }

    /// How a read made now sees the directory, with the replication lag in force.
    pub fn view(&self) -> View {
        let lag = lock(&self.faults)
            .replication_lag_ms
            .map(Duration::from_millis);
        View {
            now: Instant::now(),
            lag: lag.unwrap_or(self.configured_lag),
        }
    }

    /// Faults in force.
    pub fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    /// Replaces the faults in force.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = faults;
    }

    /// Every user with every stored property, in creation order.
    pub fn users_snapshot(&self) -> Vec<Value> {
        self.directory()
            .users()
            .iter()
            .map(|u| Value::Object(u.props.clone()))
            .collect()
    }

    /// Every subscription with purchased and consumed seats.
    pub fn skus_snapshot(&self) -> Vec<Value> {
        self.directory().sku_usage().iter().map(sku_json).collect()
    }

    /// Records a sent mail.
    pub fn post_mail(&self, mail: Value) {
        lock(&self.outbox).push(mail);
    }

    /// The sent mails, oldest first.
    pub fn outbox_snapshot(&self) -> Vec<Value> {
        lock(&self.outbox).snapshot()
    }

    /// Records an answered request.
    pub fn log_request(&self, entry: Value) {
        lock(&self.requests).push(entry);
    }

    /// The answered requests, oldest first.
    pub fn requests_snapshot(&self) -> Vec<Value> {
        lock(&self.requests).snapshot()
    }
}

/// A subscription as the control API shows it.
pub fn sku_json(usage: &SkuUsage) -> Value {
    json!({
        "skuPartNumber": usage.sku.part_number,
        "skuId": usage.sku.sku_id,
        "enabled": usage.sku.enabled,
        "consumedUnits": usage.consumed,
    })
}

/// Locks `mutex` even if a handler panicked while holding it: every critical section leaves
/// the state consistent before it can panic, and one failed request must not stop the others.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A bounded, append-only record.
#[derive(Default)]
struct Journal {
    entries: VecDeque<Value>,
}

impl Journal {
    fn push(&mut self, entry: Value) {
        if self.entries.len() == JOURNAL_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    fn snapshot(&self) -> Vec<Value> {
        self.entries.iter().cloned().collect()
    }
}
