//! The tenant's Temporary Access Pass policy, the part of the authentication methods policy
//! that decides whether passes may be issued and within which bounds.

use serde::{Deserialize, Serialize};

/// The lifetime bounds Graph accepts for any pass, in minutes: ten minutes to thirty days.
pub const LIFETIME_RANGE: std::ops::RangeInclusive<u32> = 10..=43_200;

/// The Temporary Access Pass method configuration of the authentication methods policy. The
/// defaults are those of a tenant where an administrator switched the method on and changed
/// nothing else.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TemporaryAccessPassPolicy {
    /// Whether passes may be issued at all. Off, every create is refused as Entra refuses it.
    pub enabled: bool,
    /// The shortest lifetime a request may ask for.
    pub minimum_lifetime_in_minutes: u32,
    /// The longest lifetime a request may ask for.
    pub maximum_lifetime_in_minutes: u32,
    /// The lifetime of a pass whose request names none.
    pub default_lifetime_in_minutes: u32,
    /// When true every pass is usable once, and a request for a reusable one is refused.
    pub is_usable_once: bool,
    /// Characters in a pass (8 to 48).
    pub length: usize,
}

impl Default for TemporaryAccessPassPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            minimum_lifetime_in_minutes: 60,
            maximum_lifetime_in_minutes: 480,
            default_lifetime_in_minutes: 60,
            is_usable_once: false,
            length: 8,
        }
    }
}

impl TemporaryAccessPassPolicy {
    /// Checks the bounds as the admin centre does before it saves a policy.
    pub(crate) fn check(&self) -> Result<(), String> {
        let lifetimes = [
            ("minimumLifetimeInMinutes", self.minimum_lifetime_in_minutes),
            ("maximumLifetimeInMinutes", self.maximum_lifetime_in_minutes),
            ("defaultLifetimeInMinutes", self.default_lifetime_in_minutes),
        ];
        if let Some((name, value)) = lifetimes.iter().find(|(_, v)| !LIFETIME_RANGE.contains(v)) {
            return Err(format!(
                "temporaryAccessPass: {name} {value} is not between 10 and 43200"
            ));
        }
        let ordered = self.minimum_lifetime_in_minutes <= self.default_lifetime_in_minutes
            && self.default_lifetime_in_minutes <= self.maximum_lifetime_in_minutes;
        if !ordered {
            return Err(
                "temporaryAccessPass: lifetimes must be minimum <= default <= maximum".into(),
            );
        }
        if !(8..=48).contains(&self.length) {
            return Err(format!(
                "temporaryAccessPass: length {} is not between 8 and 48",
                self.length
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_switched_on_with_entras_bounds() {
        let policy = TemporaryAccessPassPolicy::default();
        assert!(policy.enabled);
        assert_eq!(
            (
                policy.minimum_lifetime_in_minutes,
                policy.default_lifetime_in_minutes,
                policy.maximum_lifetime_in_minutes
            ),
            (60, 60, 480)
        );
        assert_eq!(policy.check(), Ok(()));
    }

    #[test]
    fn check_refuses_lifetimes_out_of_range_or_out_of_order() {
        let too_long = TemporaryAccessPassPolicy {
            maximum_lifetime_in_minutes: 50_000,
            ..Default::default()
        };
        assert!(too_long.check().unwrap_err().contains("maximumLifetime"));
        let inverted = TemporaryAccessPassPolicy {
            minimum_lifetime_in_minutes: 600,
            ..Default::default()
        };
        assert!(inverted.check().unwrap_err().contains("minimum <= default"));
        let short = TemporaryAccessPassPolicy {
            length: 4,
            ..Default::default()
        };
        assert!(short.check().unwrap_err().contains("length"));
    }
}
