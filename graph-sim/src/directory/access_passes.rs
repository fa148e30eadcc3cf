//! Temporary Access Passes: one per user at most, issued within the tenant's policy, the pass
//! text shown once at creation.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Value, json};

use super::Directory;
use super::error::{AccessPassError, DirectoryError};
use super::user::View;
use crate::config::{LIFETIME_RANGE, TemporaryAccessPassPolicy};
use crate::ids;

/// A user's Temporary Access Pass.
#[derive(Clone, Debug)]
pub struct AccessPass {
    /// The method's id.
    pub id: String,
    /// The object id of the user it belongs to.
    pub user_id: String,
    /// The pass itself. Graph shows it only in the answer to the create; the control API
    /// shows it so that tests can compare it with what reached the person.
    pub pass: String,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// From when it may be used.
    pub start: DateTime<Utc>,
    /// How long it may be used, from `start`.
    pub lifetime_minutes: u32,
    /// Whether the first sign-in uses it up.
    pub usable_once: bool,
}

/// What a create request asks for; `None` leaves the choice to the policy.
#[derive(Debug, Default, PartialEq)]
struct PassRequest {
    start: Option<DateTime<Utc>>,
    lifetime_minutes: Option<i64>,
    usable_once: Option<bool>,
}

impl AccessPass {
    /// The method as `temporaryAccessPassAuthenticationMethod` JSON, usable or not as of
    /// `now` under `policy`; the pass text only when `with_pass` (the create's answer).
    pub fn to_json(
        &self,
        policy: &TemporaryAccessPassPolicy,
        now: DateTime<Utc>,
        with_pass: bool,
    ) -> Value {
        let (usable, reason) = self.usability(policy, now);
        json!({
            "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
            "id": self.id,
            "temporaryAccessPass": with_pass.then_some(&self.pass),
            "createdDateTime": timestamp(self.created),
            "startDateTime": timestamp(self.start),
            "lifetimeInMinutes": self.lifetime_minutes,
            "isUsableOnce": self.usable_once,
            "isUsable": usable,
            "methodUsabilityReason": reason,
        })
    }

    /// Everything the simulator knows about the pass, its text included, for the control API.
    pub fn to_admin_json(&self, policy: &TemporaryAccessPassPolicy, now: DateTime<Utc>) -> Value {
        let mut entry = self.to_json(policy, now, true);
        entry["userId"] = self.user_id.clone().into();
        entry
    }

    fn usability(&self, policy: &TemporaryAccessPassPolicy, now: DateTime<Utc>) -> (bool, &str) {
        let end = self.start + TimeDelta::minutes(i64::from(self.lifetime_minutes));
        if !policy.enabled {
            (false, "DisabledByPolicy")
        } else if now < self.start {
            (false, "NotYetValid")
        } else if now >= end {
            (false, "Expired")
        } else {
            (true, "EnabledByPolicy")
        }
    }
}

impl PassRequest {
    /// Reads a create body; an empty body asks for the policy's defaults.
    fn read(body: &Value) -> Result<Self, AccessPassError> {
        let fields = match body {
            Value::Null => return Ok(Self::default()),
            Value::Object(fields) => fields,
            _ => return Err(invalid("The request body must be a JSON object.")),
        };
        let present = |name: &str| fields.get(name).filter(|v| !v.is_null());
        let start = present("startDateTime")
            .map(|v| {
                v.as_str()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or_else(|| invalid("startDateTime must be an ISO 8601 date and time."))
            })
            .transpose()?;
        let lifetime_minutes = present("lifetimeInMinutes")
            .map(|v| {
                v.as_i64()
                    .ok_or_else(|| invalid("lifetimeInMinutes must be a whole number."))
            })
            .transpose()?;
        let usable_once = present("isUsableOnce")
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| invalid("isUsableOnce must be true or false."))
            })
            .transpose()?;
        Ok(Self {
            start,
            lifetime_minutes,
            usable_once,
        })
    }

    /// The lifetime and reuse the pass gets, or why the policy refuses the request.
    fn settle(&self, policy: &TemporaryAccessPassPolicy) -> Result<(u32, bool), AccessPassError> {
        let lifetime = match self.lifetime_minutes {
            None => policy.default_lifetime_in_minutes,
            Some(minutes) => u32::try_from(minutes)
                .ok()
                .filter(|m| LIFETIME_RANGE.contains(m))
                .ok_or(AccessPassError::LifetimeOutOfRange(minutes))?,
        };
        if !policy.enabled {
            return Err(AccessPassError::DisabledByPolicy);
        }
        let allowed = policy.minimum_lifetime_in_minutes..=policy.maximum_lifetime_in_minutes;
        if !allowed.contains(&lifetime) {
            return Err(AccessPassError::OutsidePolicy(format!(
                "The lifetime of {lifetime} minutes is outside the {} to {} minutes the \
                 Temporary Access Pass policy allows.",
                allowed.start(),
                allowed.end()
            )));
        }
        match self.usable_once {
            Some(false) if policy.is_usable_once => Err(AccessPassError::OutsidePolicy(
                "The Temporary Access Pass policy allows one-time passes only.".into(),
            )),
            Some(once) => Ok((lifetime, once)),
            None => Ok((lifetime, policy.is_usable_once)),
        }
    }
}

impl Directory {
    /// `POST /users/{key}/authentication/temporaryAccessPassMethods`: issues a pass to the
    /// visible user, replacing the one it had.
    pub fn create_access_pass(
        &mut self,
        user_key: &str,
        body: &Value,
        view: View,
    ) -> Result<&AccessPass, DirectoryError> {
        let user_id = self.find_visible(user_key, view)?.id().to_string();
        let request = PassRequest::read(body)?;
        let (lifetime_minutes, usable_once) = request.settle(&self.access_pass_policy)?;
        let created = Utc::now();
        self.access_passes.retain(|p| p.user_id != user_id);
        self.access_passes.push(AccessPass {
            id: ids::guid(),
            user_id,
            pass: ids::temporary_access_pass(self.access_pass_policy.length),
            created,
            start: request.start.unwrap_or(created),
            lifetime_minutes,
            usable_once,
        });
        Ok(&self.access_passes[self.access_passes.len() - 1])
    }

    /// The pass of the visible user `user_key`, if it has one (a list of at most one).
    pub fn access_passes_of(
        &self,
        user_key: &str,
        view: View,
    ) -> Result<Vec<&AccessPass>, DirectoryError> {
        let user = self.find_visible(user_key, view)?;
        Ok(self
            .access_passes
            .iter()
            .filter(|p| p.user_id == user.id())
            .collect())
    }

    /// `DELETE /users/{key}/authentication/temporaryAccessPassMethods/{id}`.
    pub fn remove_access_pass(
        &mut self,
        user_key: &str,
        id: &str,
        view: View,
    ) -> Result<(), DirectoryError> {
        let user_id = self.find_visible(user_key, view)?.id().to_string();
        let before = self.access_passes.len();
        self.access_passes
            .retain(|p| !(p.user_id == user_id && p.id.eq_ignore_ascii_case(id)));
        if self.access_passes.len() == before {
            return Err(DirectoryError::NotFound(id.to_string()));
        }
        Ok(())
    }

    /// Every pass of every user, oldest first.
    pub fn access_passes(&self) -> &[AccessPass] {
        &self.access_passes
    }

    /// The Temporary Access Pass policy in force.
    pub fn access_pass_policy(&self) -> &TemporaryAccessPassPolicy {
        &self.access_pass_policy
    }

    /// Replaces the Temporary Access Pass policy; passes already issued stay, and read as
    /// `DisabledByPolicy` while the method is off.
    pub fn set_access_pass_policy(&mut self, policy: TemporaryAccessPassPolicy) {
        self.access_pass_policy = policy;
    }
}

fn invalid(message: &str) -> AccessPassError {
    AccessPassError::Invalid(message.to_string())
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settle(body: Value, policy: &TemporaryAccessPassPolicy) -> Result<(u32, bool), String> {
        PassRequest::read(&body)
            .and_then(|r| r.settle(policy))
            .map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn an_empty_request_gets_the_policys_defaults() {
        let policy = TemporaryAccessPassPolicy::default();
        assert_eq!(settle(Value::Null, &policy), Ok((60, false)));
        assert_eq!(
            settle(
                json!({"lifetimeInMinutes": 480, "isUsableOnce": true}),
                &policy
            ),
            Ok((480, true))
        );
    }

    #[test]
    fn lifetimes_outside_graphs_range_are_refused_before_the_policy_is_asked() {
        let disabled = TemporaryAccessPassPolicy {
            enabled: false,
            ..Default::default()
        };
        for minutes in [9, 43_201, -5] {
            let refused = settle(json!({"lifetimeInMinutes": minutes}), &disabled).unwrap_err();
            assert!(refused.starts_with("LifetimeOutOfRange"), "{refused}");
        }
        assert_eq!(
            settle(json!({"lifetimeInMinutes": 60}), &disabled).unwrap_err(),
            "DisabledByPolicy"
        );
    }

    #[test]
    fn the_policy_bounds_and_one_time_rule_apply() {
        let strict = TemporaryAccessPassPolicy {
            is_usable_once: true,
            ..Default::default()
        };
        let long = settle(json!({"lifetimeInMinutes": 600}), &strict).unwrap_err();
        assert!(long.contains("600 minutes"), "{long}");
        let reusable = settle(json!({"isUsableOnce": false}), &strict).unwrap_err();
        assert!(reusable.contains("one-time"), "{reusable}");
        assert_eq!(settle(json!({}), &strict), Ok((60, true)));
    }

    #[test]
    fn malformed_fields_are_refused() {
        let policy = TemporaryAccessPassPolicy::default();
        for body in [
            json!({"lifetimeInMinutes": "60"}),
            json!({"isUsableOnce": "yes"}),
            json!({"startDateTime": "tomorrow"}),
            json!([1]),
        ] {
            assert!(settle(body.clone(), &policy).is_err(), "{body}");
        }
    }

    #[test]
    fn usability_follows_start_lifetime_and_policy() {
        let created = Utc::now();
        let pass = AccessPass {
            id: "m".into(),
            user_id: "u".into(),
            pass: "secret12".into(),
            created,
            start: created + TimeDelta::minutes(30),
            lifetime_minutes: 60,
            usable_once: true,
        };
        let policy = TemporaryAccessPassPolicy::default();
        let at = |minutes| {
            let json = pass.to_json(&policy, created + TimeDelta::minutes(minutes), false);
            (
                json["isUsable"].clone(),
                json["methodUsabilityReason"].clone(),
            )
        };
        assert_eq!(at(0), (json!(false), json!("NotYetValid")));
        assert_eq!(at(45), (json!(true), json!("EnabledByPolicy")));
        assert_eq!(at(90), (json!(false), json!("Expired")));
        let off = TemporaryAccessPassPolicy {
            enabled: false,
            ..Default::default()
        };
        let json = pass.to_json(&off, created + TimeDelta::minutes(45), false);
        assert_eq!(json["methodUsabilityReason"], "DisabledByPolicy");
        assert_eq!(json["temporaryAccessPass"], Value::Null);
        assert_eq!(
            pass.to_json(&policy, created, true)["temporaryAccessPass"],
            "secret12"
        );
    }
}
