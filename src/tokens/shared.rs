//! The key ring as the whole process shares it: loaded from its Secret (created there on
//! first use) once, then handed to the reconcilers that sign and the routes that publish.

use std::sync::Arc;

use tokio::sync::OnceCell;

use super::{KeyRing, TokenError, store};

/// The operator's signing keys, loaded on first use.
pub struct SigningKeys {
    client: kube::Client,
    namespace: String,
    ring: OnceCell<Arc<KeyRing>>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl SigningKeys {
    /// Keys kept in the Secret [`store::DEFAULT_SECRET_NAME`] of `namespace`.
    pub fn new(client: kube::Client, namespace: impl Into<String>) -> Self {
        SigningKeys {
            client,
            namespace: namespace.into(),
            ring: OnceCell::new(),
        }
    }

    /// The key ring, read or created the first time it is asked for.
    pub async fn get(&self) -> Result<Arc<KeyRing>, TokenError> {
        let ring = self
            .ring
            .get_or_try_init(|| async {
                store::load_or_create(&self.client, &self.namespace, store::DEFAULT_SECRET_NAME)
                    .await
                    .map(Arc::new)
            })
            .await?;
        Ok(ring.clone())
    }
}
