//! The serving certificate made and kept by the operator, when no certificate files are
//! given: an authority and a certificate in one Secret that every replica shares, renewed
//! before it expires, with the authority put into the webhook configuration's `caBundle`.
//!
//! The first replica to find no Secret creates it; one that loses that race reads the
//! winner's. A renewal makes a new authority too (the old one's key was never kept) and
//! lists the new authority first and the old one after it in `ca.crt`, so that a replica
//! still serving the old certificate stays trusted until it has read the new one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::watch;

use super::AdmissionError;
use super::ca_bundle::{self, BundleOutcome};
use super::certificate::{self, Coverage, Issued, Renewal};
use super::serving::ServingCertificate;
use crate::credentials::MANAGED_BY;

/// The Secret's name unless configured otherwise.
pub const DEFAULT_SECRET_NAME: &str = "m365-operator-webhook-tls";
/// The authorities the webhook configuration trusts (PEM, newest first).
pub const CA_KEY: &str = "ca.crt";
/// The serving certificate (PEM).
pub const CERT_KEY: &str = "tls.crt";
/// The serving certificate's private key (PEM).
pub const KEY_KEY: &str = "tls.key";

/// Why an unreadable Secret is replaced.
const UNREADABLE: &str = "it is unreadable";

/// How often the Secret and the webhook configuration are looked at by default: a
/// configuration applied with an empty caBundle is fixed within this time.
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(180);

/// Where the certificate lives and what it must cover.
#[derive(Clone, Debug)]
pub struct ManagedCertificate {
    /// The operator's namespace, which holds the Secret.
    pub namespace: String,
    /// The Secret's name ([`DEFAULT_SECRET_NAME`]).
    pub secret: String,
    /// Every DNS name and IP the API server may reach the webhook at
    /// ([`certificate::service_names`]).
    pub names: Vec<String>,
    /// The ValidatingWebhookConfiguration whose caBundle is kept; no other is touched.
    pub configuration: String,
    /// How often to look again.
    pub resync: Duration,
}

/// What the Secret holds. Deliberately without `Debug`: it holds a private key.
#[derive(Clone, PartialEq, Eq)]
pub struct Stored {
    /// The trusted authorities, newest first.
    pub ca_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

impl ManagedCertificate {
    /// The certificate as stored, created first when there is none and renewed first when
    /// it is due (see [`Coverage::renewal_reason`]).
    pub async fn ensure(&self, client: &Client) -> Result<Stored, AdmissionError> {
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &self.namespace);
        let existing = match secrets
            .get_opt(&self.secret)
            .await
            .map_err(AdmissionError::Kube)?
        {
            Some(secret) => secret,
            None => return self.create(&secrets).await,
        };
        let now = Timestamp::now();
        let previous = stored_in(&existing).ok();
        let why = self.renewal_due(previous.as_ref(), now);
        match (previous, why) {
            (Some(stored), None) => Ok(stored),
            (previous, why) => {
                let why = why.unwrap_or(UNREADABLE);
                self.renew(&secrets, &existing, previous.as_ref(), why, now)
                    .await
            }
        }
    }

    /// Why the stored certificate must be replaced now, if it must.
    fn renewal_due(&self, stored: Option<&Stored>, now: Timestamp) -> Option<&'static str> {
        let Some(stored) = stored else {
            return Some(UNREADABLE);
        };
        match Coverage::of_pem(&stored.cert_pem) {
            Ok(coverage) => coverage
                .renewal_reason(&self.names, now)
                .map(Renewal::as_str),
            Err(_) => Some(UNREADABLE),
        }
    }

    async fn create(&self, secrets: &Api<Secret>) -> Result<Stored, AdmissionError> {
        let stored = fresh(&self.names, None, Timestamp::now())?;
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(self.secret.clone()),
                labels: Some(BTreeMap::from([(MANAGED_BY.0.into(), MANAGED_BY.1.into())])),
                ..ObjectMeta::default()
            },
            type_: Some("kubernetes.io/tls".into()),
            data: Some(data(&stored)),
            ..Secret::default()
        };
        match secrets.create(&PostParams::default(), &secret).await {
            Ok(_) => {
                tracing::info!(secret = %self.secret, "webhook certificate created");
                Ok(stored)
            }
            // Another replica stored its certificate first: that one is everyone's.
            Err(kube::Error::Api(status)) if status.code == 409 => self.read(secrets).await,
            Err(e) => Err(AdmissionError::Kube(e)),
        }
    }

    /// Replaces the Secret's certificate at the version read, so that two replicas renewing
    /// at once store one certificate; the loser reads the winner's.
    async fn renew(
        &self,
        secrets: &Api<Secret>,
        existing: &Secret,
        previous: Option<&Stored>,
        why: &str,
        now: Timestamp,
    ) -> Result<Stored, AdmissionError> {
        let mut names = self.names.clone();
        if let Some(covered) = previous.and_then(|p| Coverage::of_pem(&p.cert_pem).ok()) {
            // Keep what it covered: replicas started with other names are not left out, and
            // two of them cannot take turns renewing.
            names.extend(
                covered
                    .names
                    .into_iter()
                    .filter(|n| !self.names.contains(n)),
            );
        }
        let stored = fresh(&names, previous, now)?;
        let patch = json!({
            "metadata": {"resourceVersion": existing.metadata.resource_version},
            "data": data(&stored),
        });
        match secrets
            .patch(&self.secret, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => {
                tracing::info!(secret = %self.secret, reason = why, "webhook certificate renewed");
                Ok(stored)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => self.read(secrets).await,
            Err(e) => Err(AdmissionError::Kube(e)),
        }
    }

    async fn read(&self, secrets: &Api<Secret>) -> Result<Stored, AdmissionError> {
        let secret = secrets
            .get(&self.secret)
            .await
            .map_err(AdmissionError::Kube)?;
        stored_in(&secret)
    }

    /// Keeps `serving` and the webhook configuration's caBundle equal to the Secret, and the
    /// Secret's certificate current, until `stop` turns true: every [`Self::resync`], on
    /// every replica. Problems are logged and tried again next time.
    pub async fn keep(
        self,
        client: Client,
        serving: Arc<ServingCertificate>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.resync) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            match self.ensure(&client).await {
                Ok(stored) => self.apply(&client, &serving, &stored).await,
                Err(error) => tracing::warn!(%error, "webhook certificate not checked"),
            }
        }
    }

    /// Serves `stored` and makes the configuration trust it.
    pub async fn apply(&self, client: &Client, serving: &ServingCertificate, stored: &Stored) {
        match serving.replace(stored.cert_pem.as_bytes(), stored.key_pem.as_bytes()) {
            Ok(true) => tracing::info!("webhook serving certificate reloaded"),
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "webhook serving certificate not reloaded"),
        }
        self.trust(client, &stored.ca_pem).await;
    }

    async fn trust(&self, client: &Client, ca_pem: &str) {
        let configuration = self.configuration.as_str();
        match ca_bundle::ensure(client, configuration, ca_pem).await {
            Ok(BundleOutcome::Patched(webhooks)) => {
                tracing::info!(configuration, ?webhooks, "webhook caBundle set");
            }
            Ok(BundleOutcome::Absent) => {
                tracing::debug!(
                    configuration,
                    "no webhook configuration to set a caBundle in"
                );
            }
            Ok(BundleOutcome::Current) => {}
            Err(error) => tracing::warn!(configuration, %error, "webhook caBundle not checked"),
        }
    }
}

/// A new authority and certificate for `names`; `ca.crt` also lists the authority of
/// `previous` while it is valid.
fn fresh(
    names: &[String],
    previous: Option<&Stored>,
    now: Timestamp,
) -> Result<Stored, AdmissionError> {
    let Issued {
        mut ca_pem,
        cert_pem,
        key_pem,
    } = certificate::issue(names, now)?;
    let old_authority = previous.and_then(|p| first_pem_block(&p.ca_pem));
    if let Some(old) = old_authority
        && Coverage::of_pem(old).is_ok_and(|c| c.not_after > now)
    {
        ca_pem.push_str(old);
    }
    Ok(Stored {
        ca_pem,
        cert_pem,
        key_pem,
    })
}

/// The first `-----BEGIN …` to `-----END …-----` block of `pem`, with its line end.
fn first_pem_block(pem: &str) -> Option<&str> {
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem.find("-----BEGIN CERTIFICATE-----")?;
    let end = pem[start..].find(END)? + start + END.len();
    let end = if pem[end..].starts_with('\n') {
        end + 1
    } else {
        end
    };
    Some(&pem[start..end])
}

fn data(stored: &Stored) -> BTreeMap<String, ByteString> {
    let bytes = |text: &str| ByteString(text.as_bytes().to_vec());
    BTreeMap::from([
        (CA_KEY.to_string(), bytes(&stored.ca_pem)),
        (CERT_KEY.to_string(), bytes(&stored.cert_pem)),
        (KEY_KEY.to_string(), bytes(&stored.key_pem)),
    ])
}

/// The Secret's entries. The problem is a fixed phrase: never its content.
fn stored_in(secret: &Secret) -> Result<Stored, AdmissionError> {
    let entry = |key: &str| {
        let bytes = secret.data.as_ref().and_then(|data| data.get(key));
        bytes
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .ok_or(AdmissionError::Certificate(
                "the webhook Secret lacks ca.crt, tls.crt or tls.key",
            ))
    };
    Ok(Stored {
        ca_pem: entry(CA_KEY)?,
        cert_pem: entry(CERT_KEY)?,
        key_pem: entry(KEY_KEY)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        certificate::service_names("m365-operator", "ops", &[])
    }

    #[test]
    fn a_renewal_trusts_the_new_authority_first_and_the_old_one_after() {
        let now = Timestamp::now();
        let first = fresh(&names(), None, now).unwrap();
        assert_eq!(first_pem_block(&first.ca_pem), Some(first.ca_pem.as_str()));
        let second = fresh(&names(), Some(&first), now).unwrap();
        assert!(
            second.ca_pem.ends_with(&first.ca_pem),
            "the old authority follows"
        );
        assert!(
            !second.ca_pem.starts_with(&first.ca_pem),
            "the new one comes first"
        );
        // Only the authority before: the one before that signed nothing still served.
        let third = fresh(&names(), Some(&second), now).unwrap();
        assert_eq!(third.ca_pem.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(!third.ca_pem.contains(&first.ca_pem));
    }

    #[test]
    fn an_expired_authority_is_not_trusted_after_a_renewal() {
        let long_ago = "2020-01-01T00:00:00Z".parse().unwrap();
        let old = fresh(&names(), None, long_ago).unwrap();
        let renewed = fresh(&names(), Some(&old), Timestamp::now()).unwrap();
        assert_eq!(renewed.ca_pem.matches("BEGIN CERTIFICATE").count(), 1);
    }

    #[test]
    fn a_secret_without_its_entries_is_reported_without_content() {
        let stored = fresh(&names(), None, Timestamp::now()).unwrap();
        let mut entries = data(&stored);
        entries.remove(CA_KEY);
        let secret = Secret {
            data: Some(entries),
            ..Secret::default()
        };
        let error = stored_in(&secret).err().expect("refused").to_string();
        assert!(!error.contains("PRIVATE"), "{error}");
        assert!(error.contains("ca.crt"), "{error}");
    }
}
