//! The simulated directory: users, subscriptions, groups, roles, app role assignments and
//! Temporary Access Passes, with Entra's rules for changing them.
//!
//! Nothing here knows about HTTP; the Graph handlers translate requests into these calls and
//! [`DirectoryError`]s into Graph error envelopes.

mod access_passes;
mod app_roles;
mod error;
mod fields;
mod groups;
mod licenses;
mod lifecycle;
mod roles;
mod rules;
pub mod schema;
mod user;
mod write;

use std::time::{Duration, Instant};

use serde_json::Value;

pub use access_passes::AccessPass;
pub use app_roles::{AppRoleAssignment, ServicePrincipal};
pub use error::{AccessPassError, DirectoryError};
pub use groups::{Group, Member};
pub use licenses::{LicenseChange, Sku, SkuUsage};
pub use lifecycle::Tombstone;
pub use roles::RoleAssignment;
pub use rules::address_is_valid;
pub use user::{User, View};

use crate::config::{Config, TemporaryAccessPassPolicy};

/// Where a new user comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A client's `POST /users`: every rule applies and replication lag hides the user at first.
    Api,
    /// Configuration or the control API: the user already existed, so the password is optional
    /// and unchecked, `assignedLicenses` may be given, and the user is visible at once.
    Seed,
}

/// Users, subscriptions, groups, role assignments and access passes of the simulated tenant.
#[derive(Debug)]
pub struct Directory {
    users: Vec<User>,
    skus: Vec<Sku>,
    groups: Vec<Group>,
    service_principals: Vec<ServicePrincipal>,
    app_role_assignments: Vec<AppRoleAssignment>,
    role_assignments: Vec<RoleAssignment>,
    /// Temporary Access Passes, at most one per user.
    access_passes: Vec<AccessPass>,
    access_pass_policy: TemporaryAccessPassPolicy,
    /// Users deleted for good, remembered for delta queries.
    tombstones: Vec<Tombstone>,
    verified_domains: Vec<String>,
    deleted_retention: Duration,
    next_seq: u64,
    /// Increases with every change to a user; delta tokens remember it.
    changes: u64,
}

impl Directory {
    /// The tenant of `config`, with its subscriptions, users, groups, enterprise applications
    /// and role assignments.
    pub fn new(config: &Config) -> Result<Self, String> {
        let mut directory = Self {
            users: Vec::new(),
            skus: config.skus.iter().map(Sku::from).collect(),
            groups: Vec::new(),
            service_principals: Vec::new(),
            app_role_assignments: Vec::new(),
            role_assignments: Vec::new(),
            access_passes: Vec::new(),
            access_pass_policy: config.temporary_access_pass.clone(),
            tombstones: Vec::new(),
            verified_domains: config.verified_domains.clone(),
            deleted_retention: Duration::from_secs(config.deleted_retention_seconds),
            next_seq: 0,
            changes: 0,
        };
        for seed in &config.users {
            directory
                .seed(seed)
                .map_err(|e| format!("seed user {seed}: {e}"))?;
        }
        directory.seed_groups(&config.groups)?;
        directory.seed_service_principals(&config.service_principals)?;
        directory.seed_role_assignments(&config.role_assignments)?;
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

    /// Every user that is not deleted, visible or not, in creation order.
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.iter().filter(|u| u.deleted.is_none())
    }

    /// Every user, deleted ones included, in creation order.
    pub fn all_users(&self) -> &[User] {
        &self.users
    }

    /// How many users the tenant has, which sets its throttling size class.
    pub fn live_user_count(&self) -> usize {
        self.users().count()
    }

    /// The users replication has made visible, in creation order.
    pub fn visible_users(&self, view: View) -> impl Iterator<Item = &User> {
        self.users.iter().filter(move |u| u.is_visible(view))
    }

    /// The visible user named by object id or userPrincipalName.
    pub fn find_visible(&self, key: &str, view: View) -> Result<&User, DirectoryError> {
        self.visible_index(key, view).map(|i| &self.users[i])
    }

    /// The change number of the latest change to a user.
    pub fn change_number(&self) -> u64 {
        self.changes
    }

    fn index_of(&self, key: &str) -> Result<usize, DirectoryError> {
        self.users
            .iter()
            .position(|u| u.deleted.is_none() && u.is_named(key))
            .ok_or_else(|| DirectoryError::NotFound(key.to_string()))
    }

    fn visible_index(&self, key: &str, view: View) -> Result<usize, DirectoryError> {
        self.users
            .iter()
            .position(|u| u.is_named(key) && u.is_visible(view))
            .ok_or_else(|| DirectoryError::NotFound(key.to_string()))
    }

    /// The index of the user `key` names for a reference (a group member, an app role
    /// assignment): a user replication has not shown yet is an invalid reference, not a
    /// missing one.
    fn referenced_index(&self, key: &str, view: View) -> Result<usize, DirectoryError> {
        let index = self.index_of(key)?;
        if self.users[index].is_replicated(view) {
            Ok(index)
        } else {
            Err(DirectoryError::InvalidReference)
        }
    }

    fn insert(&mut self, props: serde_json::Map<String, Value>, seeded: bool) -> &User {
        self.next_seq += 1;
        self.changes += 1;
        let user = User::new(self.next_seq, seeded, props, self.changes);
        self.users.push(user);
        &self.users[self.users.len() - 1]
    }

    /// Records a change to the user at `index` for delta queries.
    fn touch(&mut self, index: usize) {
        self.changes += 1;
        self.users[index].changed = self.changes;
    }

    /// Deletes for good the users whose retention ended before `now`.
    pub fn purge_expired(&mut self, now: Instant) {
        let retention = self.deleted_retention;
        let expired: Vec<String> = self
            .users
            .iter()
            .filter(|u| {
                u.deleted
                    .is_some_and(|at| now.duration_since(at) >= retention)
            })
            .map(|u| u.id().to_string())
            .collect();
        for id in expired {
            self.remove_for_good(&id);
        }
    }
}
