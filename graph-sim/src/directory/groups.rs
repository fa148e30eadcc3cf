//! Groups and their memberships: who may change them, and which groups an object belongs to
//! directly and through nesting.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::Directory;
use super::error::DirectoryError;
use super::user::{User, View};
use crate::config::GroupSeed;
use crate::{clock, ids};

/// A group as the directory stores it.
#[derive(Clone, Debug)]
pub struct Group {
    /// The object id.
    pub id: String,
    /// Every stored property, `id` included.
    pub props: Map<String, Value>,
    /// Object ids of the direct members (users and groups), in the order they were added.
    pub members: Vec<String>,
}

/// A direct member of a group.
#[derive(Clone, Copy, Debug)]
pub enum Member<'a> {
    /// A user.
    User(&'a User),
    /// A nested group.
    Group(&'a Group),
}

impl Group {
    fn from_seed(seed: &GroupSeed, domain: &str) -> Self {
        let id = seed.id.clone().unwrap_or_else(ids::guid);
        let nickname = seed
            .mail_nickname
            .clone()
            .unwrap_or_else(|| nickname_of(&seed.display_name));
        let props = json!({
            "id": id,
            "displayName": seed.display_name,
            "description": seed.description,
            "mailNickname": nickname,
            "mail": seed.mail_enabled.then(|| format!("{nickname}@{domain}")),
            "mailEnabled": seed.mail_enabled,
            "securityEnabled": seed.security_enabled,
            "groupTypes": seed.group_types,
            "isAssignableToRole": seed.is_assignable_to_role,
            "membershipRule": seed.membership_rule,
            "membershipRuleProcessingState": seed.membership_rule.as_ref().map(|_| "On"),
            "createdDateTime": clock::rfc3339_now(),
        });
        let Value::Object(props) = props else {
            unreachable!("a json! object literal is an object")
        };
        Self {
            id,
            props,
            members: Vec::new(),
        }
    }

    /// The display name.
    pub fn display_name(&self) -> &str {
        self.props["displayName"].as_str().unwrap_or_default()
    }

    fn has_type(&self, group_type: &str) -> bool {
        self.props["groupTypes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| {
                t.as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case(group_type))
            })
    }

    /// Whether membership is computed by a rule (`groupTypes` has `DynamicMembership`).
    pub fn is_dynamic(&self) -> bool {
        self.has_type("DynamicMembership")
    }

    /// Whether Exchange owns the membership: a mail-enabled security group or a distribution
    /// list (mail-enabled, not a Microsoft 365 group).
    pub fn is_exchange_managed(&self) -> bool {
        self.props["mailEnabled"].as_bool() == Some(true) && !self.has_type("Unified")
    }

    /// Whether directory roles may be assigned to the group.
    pub fn is_role_assignable(&self) -> bool {
        self.props["isAssignableToRole"].as_bool() == Some(true)
    }

    fn has_member(&self, id: &str) -> bool {
        self.members.iter().any(|m| m.eq_ignore_ascii_case(id))
    }
}

/// A mail alias from a display name: its ASCII letters and digits.
fn nickname_of(display_name: &str) -> String {
    let alias: String = display_name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    if alias.is_empty() {
        "group".into()
    } else {
        alias
    }
}

impl Directory {
    /// Every group, in creation order.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The group with this object id.
    pub fn group(&self, id: &str) -> Result<&Group, DirectoryError> {
        self.group_index(id).map(|i| &self.groups[i])
    }

    /// Adds groups from the configuration, then their members, which may name other groups;
    /// all or nothing.
    pub(super) fn seed_groups(&mut self, seeds: &[GroupSeed]) -> Result<(), String> {
        let before = self.groups.len();
        let added = self.add_seeded_groups(seeds);
        if added.is_err() {
            self.groups.truncate(before);
        }
        added
    }

    fn add_seeded_groups(&mut self, seeds: &[GroupSeed]) -> Result<(), String> {
        let domain = self.verified_domains[0].clone();
        for seed in seeds {
            self.add_group(Group::from_seed(seed, &domain))?;
        }
        for (seed, index) in seeds.iter().zip(self.groups.len() - seeds.len()..) {
            for member in &seed.members {
                let id = self.seed_member_id(member).ok_or_else(|| {
                    format!("group {:?}: no user or group {member:?}", seed.display_name)
                })?;
                if !self.groups[index].has_member(&id) {
                    self.groups[index].members.push(id);
                }
            }
        }
        Ok(())
    }

    /// Adds a group whose object id no other object has.
    fn add_group(&mut self, group: Group) -> Result<(), String> {
        if self.group_index(&group.id).is_ok() || self.users.iter().any(|u| u.id() == group.id) {
            return Err(format!("object id {} is taken", group.id));
        }
        self.groups.push(group);
        Ok(())
    }

    /// Adds a group from a seed, members included.
    pub fn seed_group(&mut self, seed: &GroupSeed) -> Result<&Group, String> {
        self.seed_groups(std::slice::from_ref(seed))?;
        Ok(&self.groups[self.groups.len() - 1])
    }

    /// `POST /groups/{id}/members/$ref` and `members@odata.bind`: adds `member_ids`, all or
    /// nothing. `manages_roles` says whether the app may change role-assignable groups.
    pub fn add_members(
        &mut self,
        group_id: &str,
        member_ids: &[String],
        view: View,
        manages_roles: bool,
    ) -> Result<(), DirectoryError> {
        let index = self.writable_group(group_id, manages_roles)?;
        let mut resolved: Vec<String> = Vec::with_capacity(member_ids.len());
        for key in member_ids {
            let id = self.reference(key, view)?;
            if self.groups[index].has_member(&id) || resolved.contains(&id) {
                return Err(DirectoryError::AlreadyMember);
            }
            resolved.push(id);
        }
        self.groups[index].members.extend(resolved);
        Ok(())
    }

    /// `DELETE /groups/{id}/members/{member}/$ref`.
    pub fn remove_member(
        &mut self,
        group_id: &str,
        member_id: &str,
        manages_roles: bool,
    ) -> Result<(), DirectoryError> {
        let index = self.writable_group(group_id, manages_roles)?;
        let members = &mut self.groups[index].members;
        let position = members
            .iter()
            .position(|m| m.eq_ignore_ascii_case(member_id))
            .ok_or(DirectoryError::NotMember)?;
        members.remove(position);
        Ok(())
    }

    /// The direct members of a group that exist and are visible, in the order added.
    pub fn members(&self, group_id: &str, view: View) -> Result<Vec<Member<'_>>, DirectoryError> {
        let group = self.group(group_id)?;
        Ok(group
            .members
            .iter()
            .filter_map(|id| self.member(id, view))
            .collect())
    }

    /// The groups that have `object_id` as a direct member.
    pub fn member_of(&self, object_id: &str) -> Vec<&Group> {
        self.groups
            .iter()
            .filter(|g| g.has_member(object_id))
            .collect()
    }

    /// The groups that contain `object_id` directly or through nested groups, nearest first.
    pub fn transitive_member_of(&self, object_id: &str) -> Vec<&Group> {
        let mut found: Vec<&Group> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut frontier = vec![object_id.to_string()];
        while let Some(id) = frontier.pop() {
            for group in self.member_of(&id) {
                if seen.insert(&group.id) {
                    found.push(group);
                    frontier.push(group.id.clone());
                }
            }
        }
        found
    }

    fn member(&self, id: &str, view: View) -> Option<Member<'_>> {
        if let Some(user) = self.users.iter().find(|u| u.id().eq_ignore_ascii_case(id)) {
            return user.is_visible(view).then_some(Member::User(user));
        }
        self.group(id).ok().map(Member::Group)
    }

    /// The id of the user or group `key` refers to, for a new membership.
    fn reference(&self, key: &str, view: View) -> Result<String, DirectoryError> {
        if let Ok(group) = self.group(key) {
            return Ok(group.id.clone());
        }
        let index = self.referenced_index(key, view)?;
        Ok(self.users[index].id().to_string())
    }

    fn writable_group(&self, group_id: &str, manages_roles: bool) -> Result<usize, DirectoryError> {
        let index = self.group_index(group_id)?;
        let group = &self.groups[index];
        let read_only = group.is_dynamic() || group.is_exchange_managed();
        if read_only || (group.is_role_assignable() && !manages_roles) {
            return Err(DirectoryError::Forbidden);
        }
        Ok(index)
    }

    fn group_index(&self, id: &str) -> Result<usize, DirectoryError> {
        self.groups
            .iter()
            .position(|g| g.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| DirectoryError::NotFound(id.to_string()))
    }

    /// A seed member: a user by id or UPN, or a group by id or display name.
    fn seed_member_id(&self, key: &str) -> Option<String> {
        if let Some(user) = self.users().find(|u| u.is_named(key)) {
            return Some(user.id().to_string());
        }
        self.groups
            .iter()
            .find(|g| g.id.eq_ignore_ascii_case(key) || g.display_name() == key)
            .map(|g| g.id.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::config::Config;

    fn seed(name: &str) -> GroupSeed {
        serde_json::from_value(json!({"displayName": name})).unwrap()
    }

    fn directory(groups: Vec<GroupSeed>) -> Directory {
        let config = Config {
            users: vec![
                json!({"displayName": "Ann", "userPrincipalName": "ann@contoso.example"}),
                json!({"displayName": "Bob", "userPrincipalName": "bob@contoso.example"}),
            ],
            groups,
            ..Config::default()
        };
        Directory::new(&config).unwrap()
    }

    fn view() -> View {
        View {
            now: Instant::now(),
            lag: Duration::ZERO,
        }
    }

    #[test]
    fn nested_groups_count_for_transitive_membership_only() {
        let mut inner = seed("Inner");
        inner.members = vec!["ann@contoso.example".into()];
        let mut outer = seed("Outer");
        outer.members = vec!["Inner".into()];
        let d = directory(vec![inner, outer]);
        let ann = d.users().next().unwrap().id().to_string();
        let direct: Vec<&str> = d.member_of(&ann).iter().map(|g| g.display_name()).collect();
        assert_eq!(direct, ["Inner"]);
        let all: Vec<&str> = d
            .transitive_member_of(&ann)
            .iter()
            .map(|g| g.display_name())
            .collect();
        assert_eq!(all, ["Inner", "Outer"]);
    }

    #[test]
    fn adding_twice_and_removing_a_non_member_are_refused() {
        let mut d = directory(vec![seed("Team")]);
        let group = d.groups()[0].id.clone();
        let bob = vec!["bob@contoso.example".to_string()];
        assert_eq!(d.add_members(&group, &bob, view(), false), Ok(()));
        assert_eq!(
            d.add_members(&group, &bob, view(), false),
            Err(DirectoryError::AlreadyMember)
        );
        let ann = d.users().next().unwrap().id().to_string();
        assert_eq!(
            d.remove_member(&group, &ann, false),
            Err(DirectoryError::NotMember)
        );
    }

    #[test]
    fn dynamic_mail_enabled_and_role_assignable_groups_are_guarded() {
        let mut dynamic = seed("Dynamic");
        dynamic.group_types = vec!["DynamicMembership".into()];
        let mut distribution = seed("List");
        distribution.mail_enabled = true;
        distribution.security_enabled = false;
        let mut unified = seed("Team");
        unified.mail_enabled = true;
        unified.group_types = vec!["Unified".into()];
        let mut admins = seed("Admins");
        admins.is_assignable_to_role = true;
        let mut d = directory(vec![dynamic, distribution, unified, admins]);
        let ids: Vec<String> = d.groups().iter().map(|g| g.id.clone()).collect();
        let ann = vec!["ann@contoso.example".to_string()];
        let forbidden = Err(DirectoryError::Forbidden);
        assert_eq!(d.add_members(&ids[0], &ann, view(), true), forbidden);
        assert_eq!(d.add_members(&ids[1], &ann, view(), true), forbidden);
        assert_eq!(d.add_members(&ids[2], &ann, view(), false), Ok(()));
        assert_eq!(d.add_members(&ids[3], &ann, view(), false), forbidden);
        assert_eq!(d.add_members(&ids[3], &ann, view(), true), Ok(()));
    }
}
