//! A stored user and what the directory asks of it.

use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// The moment a reader looks at the directory, and how far replication trails behind writes.
#[derive(Clone, Copy, Debug)]
pub struct View {
    /// When the read happens.
    pub now: Instant,
    /// How long a new user stays invisible to reads.
    pub lag: Duration,
}

/// A user as the directory stores it.
#[derive(Clone, Debug)]
pub struct User {
    /// Position in creation order; list order and skip tokens follow it.
    pub seq: u64,
    created: Instant,
    /// Seeded users existed before the simulation started, so replication has caught up.
    seeded: bool,
    /// When the user was deleted; until the retention ends it can be restored.
    pub deleted: Option<Instant>,
    /// The directory's change number at the user's last change, for delta queries.
    pub changed: u64,
    /// Every stored property, including `id`. The password is checked and then dropped: nothing
    /// in the simulator signs users in, and nothing may ever read it back.
    pub props: Map<String, Value>,
}

impl User {
    /// A user created now from already validated properties.
    pub fn new(seq: u64, seeded: bool, props: Map<String, Value>, changed: u64) -> Self {
        Self {
            seq,
            created: Instant::now(),
            seeded,
            deleted: None,
            changed,
            props,
        }
    }

    /// The object id.
    pub fn id(&self) -> &str {
        self.text("id").unwrap_or_default()
    }

    /// The userPrincipalName.
    pub fn upn(&self) -> &str {
        self.text("userPrincipalName").unwrap_or_default()
    }

    /// A string property, if set.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.props.get(name).and_then(Value::as_str)
    }

    /// Whether the user exists (it is not deleted) and replication has made it visible.
    pub fn is_visible(&self, view: View) -> bool {
        self.deleted.is_none() && self.is_replicated(view)
    }

    /// Whether replication has caught up with the user's creation.
    pub fn is_replicated(&self, view: View) -> bool {
        self.seeded || view.now.saturating_duration_since(self.created) >= view.lag
    }

    /// When replication made (or will make) the user visible under `lag`; `None` for users
    /// that existed before the simulation started.
    pub fn visible_since(&self, lag: Duration) -> Option<Instant> {
        (!self.seeded).then(|| self.created + lag)
    }

    /// Whether `key` names this user by object id or userPrincipalName (both case-insensitive).
    pub fn is_named(&self, key: &str) -> bool {
        self.id().eq_ignore_ascii_case(key) || self.upn().eq_ignore_ascii_case(key)
    }

    /// The addresses that must be unique in the tenant: UPN, mail and every proxy address
    /// without its `SMTP:`/`smtp:` prefix.
    pub fn addresses(&self) -> impl Iterator<Item = &str> {
        let proxies = self
            .proxy_addresses()
            .map(|p| p.split_once(':').map_or(p, |(_, a)| a));
        [self.text("userPrincipalName"), self.text("mail")]
            .into_iter()
            .flatten()
            .chain(proxies)
    }

    /// The stored proxy addresses, prefixes included.
    pub fn proxy_addresses(&self) -> impl Iterator<Item = &str> {
        self.props
            .get("proxyAddresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }

    /// The skuIds of the licenses the user holds.
    pub fn license_skus(&self) -> Vec<String> {
        self.props
            .get("assignedLicenses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| l.get("skuId").and_then(Value::as_str))
            .map(str::to_string)
            .collect()
    }

    /// Whether the user holds a license for `sku_id`.
    pub fn holds(&self, sku_id: &str) -> bool {
        self.license_skus()
            .iter()
            .any(|s| s.eq_ignore_ascii_case(sku_id))
    }
}
