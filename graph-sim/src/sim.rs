//! The state one running simulator shares between its request handlers, its control API and
//! its [`Handle`](crate::Handle).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::config::{ClientCredential, Config, TemporaryAccessPassPolicy, ThrottleLimits};
use crate::directory::{Directory, SkuUsage, View};
use crate::faults::{Dice, Faults};
use crate::graph::throttle::Throttle;
use crate::login::{Credentials, TokenStore};
use crate::mailbox::Mailboxes;

/// How many sent mails and logged requests are kept; older ones are dropped first so a
/// long-running simulator does not grow without bound.
const JOURNAL_CAPACITY: usize = 10_000;

/// Everything a running simulator knows.
pub struct Sim {
    /// `http://127.0.0.1:PORT`, the root of links handed out over plain HTTP.
    pub base_url: String,
    /// `https://127.0.0.1:PORT`, the same port over TLS.
    pub tls_base_url: String,
    /// The tenant id of the configuration.
    pub tenant_id: String,
    /// Domains that name the tenant and may carry user names.
    pub verified_domains: Vec<String>,
    /// App registrations allowed to get tokens.
    pub clients: Vec<ClientCredential>,
    /// Their certificates and the trusted federation issuers, ready for checking assertions.
    pub credentials: Credentials,
    /// Lifetime of issued access tokens.
    pub token_lifetime: Duration,
    /// How long a delta token stays usable.
    pub delta_token_lifetime: Duration,
    /// When the simulator started; delta tokens count from it.
    pub started: Instant,
    configured_lag: Duration,
    directory: Mutex<Directory>,
    tokens: Mutex<TokenStore>,
    mailboxes: Mutex<Mailboxes>,
    outbox: Mutex<Journal>,
    requests: Mutex<Journal>,
    faults: Mutex<Faults>,
    dice: Mutex<Dice>,
    throttle: Mutex<Throttle>,
    stop: watch::Sender<bool>,
}

impl Sim {
    /// A simulator for `config`, reachable at `address`.
    pub fn new(config: Config, address: SocketAddr) -> Result<Self, String> {
        config.check()?;
        let dice = config
            .faults
            .seed
            .map_or_else(Dice::from_entropy, Dice::seeded);
        Ok(Self {
            directory: Mutex::new(Directory::new(&config)?),
            credentials: Credentials::load(&config)?,
            base_url: format!("http://{address}"),
            tls_base_url: format!("https://{address}"),
            tenant_id: config.tenant_id,
            verified_domains: config.verified_domains,
            clients: config.clients,
            token_lifetime: Duration::from_secs(config.token_lifetime_seconds),
            delta_token_lifetime: Duration::from_secs(config.delta_token_lifetime_seconds),
            started: Instant::now(),
            configured_lag: Duration::from_millis(config.replication_lag_ms),
            tokens: Mutex::default(),
            mailboxes: Mutex::default(),
            outbox: Mutex::default(),
            requests: Mutex::default(),
            faults: Mutex::new(config.faults),
            dice: Mutex::new(dice),
            throttle: Mutex::new(Throttle::new(config.throttling)),
            stop: watch::channel(false).0,
        })
    }

    /// The base URL for a connection with or without TLS.
    pub fn base_url_for(&self, tls: bool) -> &str {
        if tls {
            &self.tls_base_url
        } else {
            &self.base_url
        }
    }

    /// The directory, locked, with users whose retention ended deleted for good. Callers keep
    /// the guard across no `.await`, and take the [`view`](Self::view) before locking so no two
    /// locks are ever held at once.
    pub fn directory(&self) -> MutexGuard<'_, Directory> {
        let mut directory = lock(&self.directory);
        directory.purge_expired(Instant::now());
        directory
    }

    /// The issued access tokens, locked.
    pub fn tokens(&self) -> MutexGuard<'_, TokenStore> {
        lock(&self.tokens)
    }

    /// The mailboxes' Sent Items, locked.
    pub fn mailboxes(&self) -> MutexGuard<'_, Mailboxes> {
        lock(&self.mailboxes)
    }

    /// The throttling buckets, locked.
    pub fn throttle(&self) -> MutexGuard<'_, Throttle> {
        lock(&self.throttle)
    }

    /// The app registration with this client id.
    pub fn client(&self, client_id: &str) -> Option<&ClientCredential> {
        self.clients
            .iter()
            .find(|c| c.client_id.eq_ignore_ascii_case(client_id))
    }

    /// How a read made now sees the directory, with the replication lag in force.
    pub fn view(&self) -> View {
        View {
            now: Instant::now(),
            lag: self.lag(),
        }
    }

    /// The replication lag in force.
    pub fn lag(&self) -> Duration {
        lock(&self.faults)
            .replication_lag_ms
            .map_or(self.configured_lag, Duration::from_millis)
    }

    /// Faults in force.
    pub fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    /// Replaces the faults in force; a seed restarts the random sequence.
    pub fn set_faults(&self, faults: Faults) {
        if let Some(seed) = faults.seed {
            *lock(&self.dice) = Dice::seeded(seed);
        }
        *lock(&self.faults) = faults;
    }

    /// Rolls the fault dice.
    pub fn roll<T>(&self, roll: impl FnOnce(&mut Dice) -> T) -> T {
        roll(&mut lock(&self.dice))
    }

    /// Replaces the throttling limits and refills every bucket.
    pub fn set_throttling(&self, limits: ThrottleLimits) {
        *self.throttle() = Throttle::new(limits);
    }

    /// Every user that is not deleted, with every stored property, in creation order.
    pub fn users_snapshot(&self) -> Vec<Value> {
        self.directory()
            .users()
            .map(|u| Value::Object(u.props.clone()))
            .collect()
    }

    /// Every deleted user still restorable, with every stored property.
    pub fn deleted_users_snapshot(&self) -> Vec<Value> {
        self.directory()
            .deleted_users()
            .map(|u| Value::Object(u.props.clone()))
            .collect()
    }

    /// Every group with its properties and direct member ids.
    pub fn groups_snapshot(&self) -> Vec<Value> {
        self.directory()
            .groups()
            .iter()
            .map(|g| {
                let mut group = g.props.clone();
                group.insert("members".into(), json!(g.members));
                Value::Object(group)
            })
            .collect()
    }

    /// Every Temporary Access Pass with its text and `userId`, oldest first.
    pub fn access_passes_snapshot(&self) -> Vec<Value> {
        let directory = self.directory();
        let now = chrono::Utc::now();
        directory
            .access_passes()
            .iter()
            .map(|p| p.to_admin_json(directory.access_pass_policy(), now))
            .collect()
    }

    /// The Temporary Access Pass policy in force.
    pub fn access_pass_policy(&self) -> TemporaryAccessPassPolicy {
        self.directory().access_pass_policy().clone()
    }

    /// Replaces the Temporary Access Pass policy.
    pub fn set_access_pass_policy(&self, policy: TemporaryAccessPassPolicy) {
        self.directory().set_access_pass_policy(policy);
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

    /// Tells everything waiting on [`stopped`](Self::stopped) that the simulator stops.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// A receiver that turns true when the simulator stops.
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Completes when the simulator stops; never before.
    pub async fn stopped(&self) {
        let mut signal = self.stop_signal();
        // An error means the sender is gone, which only happens when the simulator is.
        let _ = signal.wait_for(|stopped| *stopped).await;
    }

    /// Sleeps for `duration`, or less if the simulator stops first.
    pub async fn sleep(&self, duration: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(duration) => {}
            _ = self.stopped() => {}
        }
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
