//! Throttling limits of Entra's identity and access service, per app and tenant.

use serde::{Deserialize, Serialize};

/// Token-bucket limits. The defaults are the published ones; tests scale them down to reach
/// them quickly.
///
/// Resource units per app and tenant depend on the tenant's size: small below 50 users,
/// medium up to 500, large above.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ThrottleLimits {
    /// Whether throttling is applied at all.
    pub enabled: bool,
    /// Resource units per window for an app in a small tenant.
    pub resource_units_small: u32,
    /// Resource units per window for an app in a medium tenant.
    pub resource_units_medium: u32,
    /// Resource units per window for an app in a large tenant.
    pub resource_units_large: u32,
    /// The resource-unit window.
    pub resource_unit_window_ms: u64,
    /// Writes per window for an app in the tenant.
    pub writes: u32,
    /// The write window of an app.
    pub write_window_ms: u64,
    /// Writes per window for all apps in the tenant together.
    pub tenant_writes: u32,
    /// The tenant's write window.
    pub tenant_write_window_ms: u64,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            resource_units_small: 3500,
            resource_units_medium: 5000,
            resource_units_large: 8000,
            resource_unit_window_ms: 10_000,
            writes: 3000,
            write_window_ms: 150_000,
            tenant_writes: 18_000,
            tenant_write_window_ms: 300_000,
        }
    }
}

impl ThrottleLimits {
    /// The resource units per window for a tenant with this many users.
    pub fn resource_units_for(&self, users: usize) -> u32 {
        match users {
            0..50 => self.resource_units_small,
            50..=500 => self.resource_units_medium,
            _ => self.resource_units_large,
        }
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        let windows = [
            self.resource_unit_window_ms,
            self.write_window_ms,
            self.tenant_write_window_ms,
        ];
        if windows.contains(&0) {
            return Err("throttling windows must be longer than 0 ms".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_size_picks_the_resource_unit_limit() {
        let limits = ThrottleLimits::default();
        assert_eq!(limits.resource_units_for(0), 3500);
        assert_eq!(limits.resource_units_for(49), 3500);
        assert_eq!(limits.resource_units_for(50), 5000);
        assert_eq!(limits.resource_units_for(500), 5000);
        assert_eq!(limits.resource_units_for(501), 8000);
    }
}
