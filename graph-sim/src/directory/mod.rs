//! The simulated directory: users and subscriptions, with Entra's rules for changing them.
//!
//! Nothing here knows about HTTP; the Graph handlers translate requests into these calls and
//! [`DirectoryError`]s into Graph error envelopes.

mod error;
mod fields;
mod licenses;
mod rules;
pub mod schema;
mod user;
mod write;

use serde_json::Value;

pub use error::DirectoryError;
pub use licenses::{LicenseChange, Sku, SkuUsage};
pub use rules::address_is_valid;
pub use user::{User, View};

use crate::config::Config;

/// Where a new user comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A client's `POST /users`: every rule applies and replication lag hides the user at first.
    Api,
    /// Configuration or the control API: the user already existed, so the password is optional
    /// and unchecked, `assignedLicenses` may be given, and the user is visible at once.
    Seed,
}

/// Users and subscriptions of the simulated tenant.
#[derive(Debug)]
pub struct Directory {
    users: Vec<User>,
    skus: Vec<Sku>,
    verified_domains: Vec<String>,
    next_seq: u64,
}

impl Directory {
    /// The tenant of `config`, with its subscriptions and seeded users.
    pub fn new(config: &Config) -> Result<Self, String> {
        let mut directory = Self {
            users: Vec::new(),
            skus: config.skus.iter().map(Sku::from).collect(),
            verified_domains: config.verified_domains.clone(),
            next_seq: 0,
        };
        for seed in &config.users {
            directory
                .seed(seed)
                .map_err(|e| format!("seed user {seed}: {e}"))?;
        }
        Ok(directory)
    }

    /// Adds a user that already existed, with its licenses, all or nothing.
    pub fn seed(&mut self, body: &Value) -> Result<&User, DirectoryError> {
        let mut body = body.clone();
        let licenses = body
            .as_object_mut()
            .and_then(|b| b.remove("assignedLicenses"));
        let change = licenses
            .as_ref()
            .map(LicenseChange::from_seed)
            .transpose()?;
        let id = self.create(&body, Origin::Seed)?.id().to_string();
        if let Err(error) = self.assign_licenses(&id, &change.unwrap_or_default(), None) {
            self.users.retain(|u| u.id() != id);
            return Err(error);
        }
        self.index_of(&id).map(|i| &self.users[i])
    }

    /// Every user, visible or not, in creation order.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// The users replication has made visible, in creation order.
    pub fn visible_users(&self, view: View) -> impl Iterator<Item = &User> {
        self.users.iter().filter(move |u| u.is_visible(view))
    }

    /// The visible user named by object id or userPrincipalName.
    pub fn find_visible(&self, key: &str, view: View) -> Result<&User, DirectoryError> {
        self.visible_index(key, view).map(|i| &self.users[i])
    }

    fn index_of(&self, key: &str) -> Result<usize, DirectoryError> {
        self.users
            .iter()
            .position(|u| u.is_named(key))
            .ok_or_else(|| DirectoryError::NotFound(key.to_string()))
    }

    fn visible_index(&self, key: &str, view: View) -> Result<usize, DirectoryError> {
        self.users
            .iter()
            .position(|u| u.is_named(key) && u.is_visible(view))
            .ok_or_else(|| DirectoryError::NotFound(key.to_string()))
    }

    fn insert(&mut self, props: serde_json::Map<String, Value>, seeded: bool) -> &User {
        self.next_seq += 1;
        self.users.push(User::new(self.next_seq, seeded, props));
        &self.users[self.users.len() - 1]
    }
}
