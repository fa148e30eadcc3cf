//! One Graph client per Tenant, built from the Tenant's spec and its credentials Secret, and
//! kept while the spec holds still so that its token cache is reused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};

use crate::api::Tenant;
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
}

/// Graph clients by Tenant name.
pub struct Connections {
    client: kube::Client,
    cache: Mutex<HashMap<String, Cached>>,
}

struct Cached {
    generation: Option<i64>,
    graph: Arc<Graph>,
}

impl Connections {
    pub fn new(client: kube::Client) -> Self {
        Connections {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The client for this tenant, built anew when the Tenant's spec changed.
    pub async fn graph(&self, tenant: &Tenant) -> Result<Arc<Graph>, ConnectionError> {
        let name = tenant.name_any();
        if let Some(cached) = self.lock().get(&name)
            && cached.generation == tenant.metadata.generation
        {
            return Ok(cached.graph.clone());
        }
        let graph = Arc::new(Graph::new(self.connection(tenant).await?)?);
        let generation = tenant.metadata.generation;
        self.lock().insert(
            name,
            Cached {
                generation,
                graph: graph.clone(),
            },
        );
        Ok(graph)
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
        let secret_ref = &spec.credentials.client_secret;
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &secret_ref.namespace);
        let missing = || ConnectionError::SecretMissing {
            namespace: secret_ref.namespace.clone(),
            name: secret_ref.name.clone(),
        };
        let secret = secrets
            .get_opt(&secret_ref.name)
            .await?
            .ok_or_else(missing)?;
        let value = secret
            .data
            .as_ref()
            .and_then(|data| data.get(&secret_ref.key))
            .and_then(|bytes| String::from_utf8(bytes.0.clone()).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ConnectionError::KeyMissing {
                namespace: secret_ref.namespace.clone(),
                name: secret_ref.name.clone(),
                key: secret_ref.key.clone(),
            })?;
        Ok(TenantConnection {
            graph: spec.endpoints.graph.clone(),
            login: spec.endpoints.login.clone(),
            tenant_id: spec.tenant_id.clone(),
            credential: Credential::ClientSecret {
                client_id: spec.credentials.client_id.clone(),
                secret: Sensitive::new(value),
            },
        })
    }
}
