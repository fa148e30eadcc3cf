//! The `caBundle` of the operator's ValidatingWebhookConfiguration: the API server trusts the
//! webhook's certificate only through it. A configuration applied by `kubectl` or Helm
//! carries an empty one; the operator fills it in and puts it right whenever it drifts.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use super::AdmissionError;

/// The field manager of the operator's caBundle patches.
const FIELD_MANAGER: &str = "m365-operator";

/// What [`ensure`] found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleOutcome {
    /// No configuration of that name exists (yet).
    Absent,
    /// Every webhook in it trusts the authority already.
    Current,
    /// These webhooks' caBundles were set.
    Patched(Vec<String>),
}

/// Makes every webhook of the configuration `name` trust `ca_pem`, and touches nothing else:
/// no other configuration and no other field.
pub async fn ensure(
    client: &Client,
    name: &str,
    ca_pem: &str,
) -> Result<BundleOutcome, AdmissionError> {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let Some(configuration) = api.get_opt(name).await.map_err(AdmissionError::Kube)? else {
        return Ok(BundleOutcome::Absent);
    };
    let stale = stale_webhooks(&configuration, ca_pem.as_bytes());
    if stale.is_empty() {
        return Ok(BundleOutcome::Current);
    }
    // A strategic merge patch merges the webhook list by name: a webhook added or reordered
    // meanwhile is neither lost nor given the wrong field.
    let bundle = STANDARD.encode(ca_pem);
    let webhooks: Vec<_> = stale
        .iter()
        .map(|webhook| json!({"name": webhook, "clientConfig": {"caBundle": bundle}}))
        .collect();
    api.patch(
        name,
        &PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        },
        &Patch::Strategic(json!({"webhooks": webhooks})),
    )
    .await
    .map_err(AdmissionError::Kube)?;
    Ok(BundleOutcome::Patched(stale))
}

/// The webhooks whose caBundle is not `ca`.
fn stale_webhooks(configuration: &ValidatingWebhookConfiguration, ca: &[u8]) -> Vec<String> {
    configuration
        .webhooks
        .iter()
        .flatten()
        .filter(|webhook| {
            webhook
                .client_config
                .ca_bundle
                .as_ref()
                .map(|b| b.0.as_slice())
                != Some(ca)
        })
        .map(|webhook| webhook.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::admissionregistration::v1::{ValidatingWebhook, WebhookClientConfig};

    fn webhook(name: &str, bundle: Option<&str>) -> ValidatingWebhook {
        ValidatingWebhook {
            name: name.into(),
            client_config: WebhookClientConfig {
                ca_bundle: bundle.map(|b| ByteString(b.as_bytes().to_vec())),
                ..WebhookClientConfig::default()
            },
            ..ValidatingWebhook::default()
        }
    }

    #[test]
    fn only_webhooks_without_the_authority_are_stale() {
        let configuration = ValidatingWebhookConfiguration {
            webhooks: Some(vec![
                webhook("empty.m365-operator.io", None),
                webhook("right.m365-operator.io", Some("CA")),
                webhook("old.m365-operator.io", Some("OLD CA")),
            ]),
            ..ValidatingWebhookConfiguration::default()
        };
        assert_eq!(
            stale_webhooks(&configuration, b"CA"),
            ["empty.m365-operator.io", "old.m365-operator.io"]
        );
        let none = ValidatingWebhookConfiguration::default();
        assert!(stale_webhooks(&none, b"CA").is_empty());
    }
}
