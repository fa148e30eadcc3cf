//! Why a reconcile stopped short, with a stable category for Events and metrics.

use crate::archive::ArchiveError;
use crate::connections::ConnectionError;
use crate::credentials::CredentialsError;
use crate::graph::GraphError;
use crate::tokens::TokenError;

/// A failure that ends one reconcile; the controller retries it with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("Microsoft Graph: {0}")]
    Graph(#[from] GraphError),
    #[error("tenant connection: {0}")]
    Connection(#[from] ConnectionError),
    #[error("credentials: {0}")]
    Credentials(#[from] CredentialsError),
    #[error("first-session token: {0}")]
    Tokens(#[from] TokenError),
    #[error("archive: {0}")]
    Archive(#[from] ArchiveError),
}

impl Error {
    /// A CamelCase label for condition reasons and metrics; never the error text.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubernetesApiError",
            Error::Graph(e) if e.category.is_transient() => "GraphUnavailable",
            Error::Graph(_) => "GraphRejected",
            Error::Connection(_) => "CredentialsMissing",
            Error::Credentials(_) => "CredentialsSecretError",
            Error::Tokens(e) => e.category(),
            Error::Archive(e) => e.category(),
        }
    }
}
