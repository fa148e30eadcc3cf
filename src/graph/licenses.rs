//! Licences: the tenant's subscriptions and assignment to a user.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::{Call, Graph, GraphError};

/// One subscription of the tenant, as `GET /subscribedSkus` reports it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SubscribedSku {
    pub sku_id: String,
    pub sku_part_number: String,
    #[serde(default)]
    pub consumed_units: i64,
    #[serde(default)]
    pub prepaid_units: PrepaidUnits,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct PrepaidUnits {
    #[serde(default)]
    pub enabled: i64,
}

impl SubscribedSku {
    /// Seats that can still be assigned.
    pub fn available(&self) -> i64 {
        (self.prepaid_units.enabled - self.consumed_units).max(0)
    }
}

#[derive(Deserialize)]
struct Skus {
    value: Vec<SubscribedSku>,
}

impl Graph {
    /// Every subscription of the tenant (Graph offers no filter here).
    pub async fn subscribed_skus(&self) -> Result<Vec<SubscribedSku>, GraphError> {
        let call = Call::new("list subscribed SKUs", Method::GET, "/subscribedSkus");
        let skus: Skus = self.json(call).await?;
        Ok(skus.value)
    }

    /// Adds one licence, with every service plan enabled.
    pub async fn assign_license(&self, user_id: &str, sku_id: &str) -> Result<(), GraphError> {
        let path = format!("/users/{user_id}/assignLicense");
        // Graph wants both arrays, even when one is empty.
        let body = json!({
            "addLicenses": [{ "skuId": sku_id, "disabledPlans": [] }],
            "removeLicenses": [],
        });
        let call = Call {
            body: Some(&body),
            refers_to_new_object: true,
            ..Call::new("assign license", Method::POST, &path)
        };
        self.send(call).await.map(drop)
    }
}

impl Graph {
    /// Takes these licences away; the mailbox data stays for 30 days, as Entra documents.
    pub async fn remove_licenses(
        &self,
        user_id: &str,
        sku_ids: &[String],
    ) -> Result<(), GraphError> {
        let path = format!("/users/{user_id}/assignLicense");
        let body = json!({ "addLicenses": [], "removeLicenses": sku_ids });
        let call = Call {
            body: Some(&body),
            ..Call::new("release licenses", Method::POST, &path)
        };
        self.send(call).await.map(drop)
    }
}

/// The subscription with this part number, compared as Entra does, case-insensitively.
pub fn find_sku<'a>(skus: &'a [SubscribedSku], part_number: &str) -> Option<&'a SubscribedSku> {
    skus.iter()
        .find(|s| s.sku_part_number.eq_ignore_ascii_case(part_number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_never_go_negative() {
        let sku: SubscribedSku = serde_json::from_str(
            r#"{"skuId":"x","skuPartNumber":"ENTERPRISEPACK","consumedUnits":7,"prepaidUnits":{"enabled":5}}"#,
        )
        .unwrap();
        assert_eq!(sku.available(), 0);
        assert!(find_sku(&[sku], "enterprisepack").is_some());
    }
}
