//! Subscriptions, seat accounting and license assignment.

use serde_json::{Value, json};

use super::Directory;
use super::error::{DirectoryError, LicenseError};
use super::user::{User, View};
use crate::config::SkuSeed;
use crate::ids::is_guid;

/// A subscription the tenant owns.
#[derive(Clone, Debug)]
pub struct Sku {
    /// The product's part number, e.g. `ENTERPRISEPACK`.
    pub part_number: String,
    /// The product's GUID.
    pub sku_id: String,
    /// Purchased seats.
    pub enabled: u32,
}

/// A subscription with its current use.
#[derive(Clone, Debug)]
pub struct SkuUsage {
    /// The subscription.
    pub sku: Sku,
    /// Seats held by users, including users replication has not shown yet.
    pub consumed: u32,
}

/// An `assignLicense` request: licenses to add (with plans to disable) and skuIds to remove.
#[derive(Clone, Debug, Default)]
pub struct LicenseChange {
    /// Licenses to add, as `{skuId, disabledPlans}` objects.
    pub add: Vec<Value>,
    /// skuIds to remove.
    pub remove: Vec<String>,
}

impl From<&SkuSeed> for Sku {
    fn from(seed: &SkuSeed) -> Self {
        Self {
            part_number: seed.sku_part_number.clone(),
            sku_id: seed.sku_id.to_ascii_lowercase(),
            enabled: seed.enabled,
        }
    }
}

impl LicenseChange {
    /// Reads an `assignLicense` body; both arrays are required, as the real service insists.
    pub fn from_request(body: &Value) -> Result<Self, DirectoryError> {
        let array = |name: &str| {
            body.get(name)
                .and_then(Value::as_array)
                .ok_or_else(|| DirectoryError::invalid_value(name))
        };
        let add = array("addLicenses")?
            .iter()
            .map(added_license)
            .collect::<Result<_, _>>()?;
        let remove = array("removeLicenses")?
            .iter()
            .map(|v| {
                v.as_str()
                    .filter(|s| is_guid(s))
                    .map(str::to_ascii_lowercase)
            })
            .collect::<Option<_>>()
            .ok_or_else(|| DirectoryError::invalid_value("removeLicenses"))?;
        Ok(Self { add, remove })
    }

    /// Reads the `assignedLicenses` of a seeded user as licenses to add.
    pub fn from_seed(licenses: &Value) -> Result<Self, DirectoryError> {
        Self::from_request(&json!({"addLicenses": licenses, "removeLicenses": []}))
    }
}

/// Normalises one `addLicenses` entry to `{disabledPlans, skuId}`.
fn added_license(entry: &Value) -> Result<Value, DirectoryError> {
    let sku_id = entry
        .get("skuId")
        .and_then(Value::as_str)
        .filter(|s| is_guid(s));
    let plans = match entry.get("disabledPlans") {
        None | Some(Value::Null) => Some(json!([])),
        Some(Value::Array(plans)) if plans.iter().all(|p| p.as_str().is_some_and(is_guid)) => {
            Some(Value::Array(plans.clone()))
        }
        Some(_) => None,
    };
    match (sku_id, plans) {
        (Some(sku_id), Some(plans)) => {
            Ok(json!({"disabledPlans": plans, "skuId": sku_id.to_ascii_lowercase()}))
        }
        _ => Err(DirectoryError::invalid_value("addLicenses")),
    }
}

fn sku_of(license: &Value) -> &str {
    license["skuId"].as_str().unwrap_or_default()
}

impl Directory {
    /// Every subscription with its consumed seats.
    pub fn sku_usage(&self) -> Vec<SkuUsage> {
        self.skus
            .iter()
            .map(|sku| SkuUsage {
                sku: sku.clone(),
                consumed: self.consumed(&sku.sku_id),
            })
            .collect()
    }

    /// Sets the purchased seats of the subscription with this part number (any case).
    pub fn set_seats(&mut self, part_number: &str, enabled: u32) -> Option<SkuUsage> {
        let sku = self
            .skus
            .iter_mut()
            .find(|s| s.part_number.eq_ignore_ascii_case(part_number))?;
        sku.enabled = enabled;
        let sku = sku.clone();
        Some(SkuUsage {
            consumed: self.consumed(&sku.sku_id),
            sku,
        })
    }

    /// Carries out `assignLicense` on the user named by `key`, all or nothing. With a `view` the
    /// user must be visible in it; without one (seeding) replication is not consulted.
    pub fn assign_licenses(
        &mut self,
        key: &str,
        change: &LicenseChange,
        view: Option<View>,
    ) -> Result<(), DirectoryError> {
        let index = match view {
            Some(view) => self.visible_index(key, view)?,
            None => self.index_of(key)?,
        };
        self.check_change(&self.users[index], change)?;
        let user = &mut self.users[index];
        let mut held: Vec<Value> = user.props["assignedLicenses"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        held.retain(|l| !change.remove.iter().any(|r| r == sku_of(l)));
        for license in &change.add {
            held.retain(|l| sku_of(l) != sku_of(license));
            held.push(license.clone());
        }
        user.props
            .insert("assignedLicenses".into(), Value::Array(held));
        self.touch(index);
        Ok(())
    }

    fn check_change(&self, user: &User, change: &LicenseChange) -> Result<(), LicenseError> {
        let added = change.add.iter().map(sku_of);
        for sku_id in added
            .clone()
            .chain(change.remove.iter().map(String::as_str))
        {
            if !self.skus.iter().any(|s| s.sku_id == sku_id) {
                return Err(LicenseError::UnknownSku(sku_id.into()));
            }
        }
        if let Some(both) = added.clone().find(|a| change.remove.iter().any(|r| r == a)) {
            return Err(LicenseError::AddedAndRemoved(both.into()));
        }
        if !change.add.is_empty() && user.text("usageLocation").is_none() {
            return Err(LicenseError::InvalidUsageLocation);
        }
        if let Some(missing) = change.remove.iter().find(|r| !user.holds(r)) {
            return Err(LicenseError::NotAssigned(missing.clone()));
        }
        // Re-adding a held license only updates its disabled plans and takes no new seat.
        match added
            .filter(|a| !user.holds(a))
            .find(|a| !self.has_free_seat(a))
        {
            Some(full) => Err(LicenseError::NoSeats(full.into())),
            None => Ok(()),
        }
    }

    pub(super) fn has_free_seat(&self, sku_id: &str) -> bool {
        let enabled = self
            .skus
            .iter()
            .find(|s| s.sku_id == sku_id)
            .map_or(0, |s| s.enabled);
        self.consumed(sku_id) < enabled
    }

    fn consumed(&self, sku_id: &str) -> u32 {
        // A deleted user's seats are free again; a restore takes them back if it can.
        let holders = self.users().filter(|u| u.holds(sku_id)).count();
        u32::try_from(holders).unwrap_or(u32::MAX)
    }
}
