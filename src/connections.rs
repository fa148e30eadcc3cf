//! One Graph client per Tenant, built from the Tenant's spec and its credentials (a client
//! secret, a certificate, or a federated token file), and kept while the spec holds still so
//! that its token cache is reused.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};

use crate::api::Tenant;
use crate::api::tenant::{AssertionAlgorithm, Credentials};
use crate::graph::assertion::{CertificateError, ClientCertificate, FederatedTokenFile};
use crate::graph::budget::Limits;
use crate::graph::{Credential, Graph, Sensitive, TenantConnection};

/// Why no Graph client could be built for a tenant.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("credentials Secret {namespace}/{name} does not exist")]
    SecretMissing { namespace: String, name: String },
    #[error("credentials Secret {namespace}/{name} has no key {key:?}")]
    KeyMissing {
        namespace: String,
        name: String,
        key: String,
    },
    #[error("reading the credentials Secret: {0}")]
    Kube(#[from] kube::Error),
    #[error("building the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the app certificate: {0}")]
    Certificate(#[from] CertificateError),
    #[error("credentials must be in the operator's namespace {allowed}, not {namespace}")]
    ForeignNamespace { namespace: String, allowed: String },
    #[error("workload identity needs a token file: set tokenFile or AZURE_FEDERATED_TOKEN_FILE")]
    NoTokenFile,
}

/// Graph clients by Tenant name.
pub struct Connections {
    client: kube::Client,
    /// The only namespace credentials are read from. A Tenant is cluster-scoped and names its
    /// endpoints itself: reading any namespace's Secrets would let whoever writes a Tenant send
    /// any Secret of the cluster to an address of their choosing.
    namespace: String,
    cache: Mutex<HashMap<String, Cached>>,
}

/// The client for one generation of a Tenant's spec. Built once even when many reconciles
/// ask at the same moment: every client has its own rate budget and token cache, so two
/// would each spend the tenant's whole throttling allowance.
struct Cached {
    generation: Option<i64>,
    graph: Arc<OnceCell<Arc<Graph>>>,
}

impl Connections {
    /// Credentials Secrets are read from `namespace` only, the operator's own.
    pub fn new(client: kube::Client, namespace: impl Into<String>) -> Self {
        Connections {
            client,
            namespace: namespace.into(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The client for this tenant, built anew when the Tenant's spec changed.
    pub async fn graph(&self, tenant: &Tenant) -> Result<Arc<Graph>, ConnectionError> {
        let cell = self.cell(tenant);
        let graph = cell
            .get_or_try_init(|| async {
                Ok::<_, ConnectionError>(Arc::new(Graph::new(self.connection(tenant).await?)?))
            })
            .await?;
        Ok(graph.clone())
    }

    /// The slot for the tenant's current generation, replacing one for an older spec.
    fn cell(&self, tenant: &Tenant) -> Arc<OnceCell<Arc<Graph>>> {
        let mut cache = self.lock();
        let generation = tenant.metadata.generation;
        let cached = cache.entry(tenant.name_any()).or_insert_with(|| Cached {
            generation,
            graph: Arc::default(),
        });
        if cached.generation != generation {
            *cached = Cached {
                generation,
                graph: Arc::default(),
            };
        }
        cached.graph.clone()
    }

    /// Drops the tenant's client, so the next call re-reads its Secret (after the token
    /// service refused the credentials, which is what a rotated secret looks like).
    pub fn forget(&self, tenant: &Tenant) {
        self.lock().remove(&tenant.name_any());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn connection(&self, tenant: &Tenant) -> Result<TenantConnection, ConnectionError> {
        let spec = &tenant.spec;
        Ok(TenantConnection {
            graph: spec.endpoints.graph.clone(),
            login: spec.endpoints.login.clone(),
            tenant_id: spec.tenant_id.clone(),
            limits: spec
                .rate_limits
                .as_ref()
                .map_or_else(Limits::default, |l| Limits {
                    resource_units_per_10s: l.resource_units_per_10s,
                    writes_per_150s: l.writes_per_150s,
                }),
            ca_bundle: spec.endpoints.ca_bundle.clone(),
            credential: self.credential(&spec.credentials).await?,
        })
    }

    async fn credential(&self, credentials: &Credentials) -> Result<Credential, ConnectionError> {
        let client_id = credentials.client_id.clone();
        if let Some(secret_ref) = &credentials.client_secret {
            let data = self
                .secret_data(&secret_ref.namespace, &secret_ref.name)
                .await?;
            let secret =
                text(&data, &secret_ref.key).ok_or_else(|| ConnectionError::KeyMissing {
                    namespace: secret_ref.namespace.clone(),
                    name: secret_ref.name.clone(),
                    key: secret_ref.key.clone(),
                })?;
            return Ok(Credential::ClientSecret {
                client_id,
                secret: Sensitive::new(secret),
            });
        }
        if let Some(cert_ref) = &credentials.certificate {
            let data = self
                .secret_data(&cert_ref.namespace, &cert_ref.name)
                .await?;
            let field = |key: &str| {
                text(&data, key).ok_or_else(|| ConnectionError::KeyMissing {
                    namespace: cert_ref.namespace.clone(),
                    name: cert_ref.name.clone(),
                    key: key.to_string(),
                })
            };
            let pss = cert_ref.algorithm == AssertionAlgorithm::PS256;
            let certificate =
                ClientCertificate::from_pem(&field("tls.crt")?, &field("tls.key")?, pss)?;
            return Ok(Credential::Certificate {
                client_id,
                certificate,
            });
        }
        let configured = credentials
            .workload_identity
            .as_ref()
            .and_then(|w| w.token_file.clone());
        let path = configured
            .or_else(|| std::env::var("AZURE_FEDERATED_TOKEN_FILE").ok())
            .ok_or(ConnectionError::NoTokenFile)?;
        Ok(Credential::Federated {
            client_id,
            token_file: FederatedTokenFile(path.into()),
        })
    }

    async fn secret_data(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<BTreeMap<String, ByteString>, ConnectionError> {
        if namespace != self.namespace {
            return Err(ConnectionError::ForeignNamespace {
                namespace: namespace.to_string(),
                allowed: self.namespace.clone(),
            });
        }
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret =
            secrets
                .get_opt(name)
                .await?
                .ok_or_else(|| ConnectionError::SecretMissing {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                })?;
        Ok(secret.data.unwrap_or_default())
    }
}

/// A non-empty UTF-8 value of a Secret key, trimmed of the newline files tend to end with.
fn text(data: &BTreeMap<String, ByteString>, key: &str) -> Option<String> {
    let value = String::from_utf8(data.get(key)?.0.clone()).ok()?;
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}
