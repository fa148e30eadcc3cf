//! The end of a user's life: soft delete, restore, permanent delete, and revoking sign-in
//! sessions.

use serde_json::Value;

use super::Directory;
use super::error::DirectoryError;
use super::user::{User, View};
use crate::clock;

/// A user deleted for good, remembered so delta queries can report it.
#[derive(Clone, Debug)]
pub struct Tombstone {
    /// The object id the user had.
    pub id: String,
    /// The user's creation sequence number, for ordering.
    pub seq: u64,
    /// The change number of the permanent delete.
    pub changed: u64,
}

impl Directory {
    /// `DELETE /users/{key}`: moves the visible user to the deleted items, keeping its
    /// properties, licenses and memberships for a restore. Returns its id.
    pub fn delete_user(&mut self, key: &str, view: View) -> Result<String, DirectoryError> {
        let index = self.visible_index(key, view)?;
        self.check_not_privileged(index)?;
        let user = &mut self.users[index];
        user.deleted = Some(view.now);
        user.props
            .insert("deletedDateTime".into(), clock::rfc3339_now().into());
        let id = user.id().to_string();
        self.touch(index);
        Ok(id)
    }

    /// The deleted users still within their retention, in creation order.
    pub fn deleted_users(&self) -> impl Iterator<Item = &User> {
        self.users.iter().filter(|u| u.deleted.is_some())
    }

    /// The deleted user with this object id.
    pub fn find_deleted(&self, id: &str) -> Result<&User, DirectoryError> {
        self.deleted_index(id).map(|i| &self.users[i])
    }

    /// `POST /directory/deletedItems/{id}/restore`: brings the user back with its memberships.
    /// Fails with a conflict when another user took its name meanwhile. Licenses come back
    /// while seats last; the others are dropped.
    pub fn restore(&mut self, id: &str) -> Result<&User, DirectoryError> {
        let index = self.deleted_index(id)?;
        let user = &self.users[index];
        let mail = user.text("mail").unwrap_or(user.upn());
        if let Some(target) = self.conflict(user.upn(), mail, Some(user.seq)) {
            return Err(DirectoryError::Conflict { target });
        }
        let kept: Vec<Value> = self.users[index]
            .license_skus()
            .iter()
            .filter(|sku| self.has_free_seat(sku))
            .map(|sku| serde_json::json!({"disabledPlans": [], "skuId": sku}))
            .collect();
        let user = &mut self.users[index];
        user.deleted = None;
        user.props.remove("deletedDateTime");
        user.props
            .insert("assignedLicenses".into(), Value::Array(kept));
        self.touch(index);
        Ok(&self.users[index])
    }

    /// `DELETE /directory/deletedItems/{id}`: deletes the user for good, with its memberships,
    /// assignments and access pass.
    pub fn purge(&mut self, id: &str) -> Result<(), DirectoryError> {
        let index = self.deleted_index(id)?;
        let id = self.users[index].id().to_string();
        self.remove_for_good(&id);
        Ok(())
    }

    /// `POST /users/{key}/revokeSignInSessions`: sessions and refresh tokens issued before now
    /// stop working. Returns the new `signInSessionsValidFromDateTime`.
    pub fn revoke_sessions(&mut self, key: &str, view: View) -> Result<String, DirectoryError> {
        let index = self.visible_index(key, view)?;
        self.check_not_privileged(index)?;
        let now = clock::rfc3339_now();
        self.users[index]
            .props
            .insert("signInSessionsValidFromDateTime".into(), now.clone().into());
        self.touch(index);
        Ok(now)
    }

    /// Users deleted for good, for delta queries.
    pub fn tombstones(&self) -> &[Tombstone] {
        &self.tombstones
    }

    pub(super) fn remove_for_good(&mut self, id: &str) {
        let Some(index) = self.users.iter().position(|u| u.id() == id) else {
            return;
        };
        let user = self.users.remove(index);
        self.changes += 1;
        self.tombstones.push(Tombstone {
            id: id.to_string(),
            seq: user.seq,
            changed: self.changes,
        });
        for group in &mut self.groups {
            group.members.retain(|m| m != id);
        }
        self.app_role_assignments.retain(|a| a.principal_id != id);
        self.role_assignments.retain(|a| a.principal_id != id);
        self.access_passes.retain(|p| p.user_id != id);
    }

    fn deleted_index(&self, id: &str) -> Result<usize, DirectoryError> {
        self.users
            .iter()
            .position(|u| u.deleted.is_some() && u.id().eq_ignore_ascii_case(id))
            .ok_or_else(|| DirectoryError::NotFound(id.to_string()))
    }
}
