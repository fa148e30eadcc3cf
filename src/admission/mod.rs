//! The admission webhook server: validating webhooks the API server calls before it stores
//! an object, so that the operator can check who asks for a change (a RoleAssignment's
//! requester against the authenticated user, say) where CEL rules cannot.
//!
//! Each path answers with a [`Review`] plugged into [`Webhooks`]; [`start`] serves them over
//! HTTPS with a certificate that is either
//!
//! - read from a folder ([`CertificateSource::Directory`]: `tls.crt` and `tls.key`, as
//!   cert-manager's Secret is mounted), and re-read when the files change; or
//! - made by the operator ([`CertificateSource::Managed`]): an authority and a certificate
//!   kept in a Secret shared by every replica and renewed before it expires, with the
//!   authority written into the `caBundle` of one named ValidatingWebhookConfiguration.
//!
//! ```no_run
//! # async fn demo(client: kube::Client) -> Result<(), m365_operator::admission::AdmissionError> {
//! use std::sync::Arc;
//! use futures::FutureExt;
//! use kube::core::admission::AdmissionResponse;
//! use m365_operator::admission::{self, CertificateSource, Settings, Webhooks};
//!
//! let webhooks = Webhooks::new().route(
//!     "/validate/configmaps",
//!     Arc::new(|request| async move { AdmissionResponse::from(&request) }.boxed()),
//! );
//! let settings = Settings {
//!     listen: "0.0.0.0:8443".parse().unwrap(),
//!     certificate: CertificateSource::Directory("/tls".into()),
//! };
//! let running = admission::start(client, settings, webhooks).await?;
//! running.shutdown().await;
//! # Ok(()) }
//! ```

pub mod ca_bundle;
pub mod certificate;
pub mod files;
pub mod managed;
pub mod review;
pub mod serving;

pub use files::CertificateFiles;
pub use managed::ManagedCertificate;
pub use review::{Review, Webhooks};
pub use serving::ServingCertificate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why the webhook server could not start or keep its certificate. Messages never carry
/// certificate or key material: problems with them are fixed phrases.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    /// The listening address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address asked for.
        address: SocketAddr,
        /// Why not.
        source: std::io::Error,
    },
    /// A certificate or key file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why not.
        source: std::io::Error,
    },
    /// A certificate or key is unusable, or could not be made.
    #[error("webhook certificate: {0}")]
    Certificate(&'static str),
    /// The Kubernetes API refused or failed a request.
    #[error("Kubernetes API: {0}")]
    Kube(#[source] kube::Error),
    /// The HTTPS server failed.
    #[error("webhook server: {0}")]
    Serve(#[source] std::io::Error),
}

impl AdmissionError {
    /// A static category for metrics and Event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            AdmissionError::Listen { .. } | AdmissionError::Serve(_) => "WebhookServerError",
            AdmissionError::Read { .. } | AdmissionError::Certificate(_) => "CertificateInvalid",
            AdmissionError::Kube(_) => "KubernetesApiError",
        }
    }
}

/// Where the serving certificate comes from.
#[derive(Clone, Debug)]
pub enum CertificateSource {
    /// `tls.crt` and `tls.key` in this folder, followed as they change.
    Directory(PathBuf),
    /// Made and kept by the operator.
    Managed(ManagedCertificate),
}

/// How to serve the webhooks.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The HTTPS address; port 0 picks a free one.
    pub listen: SocketAddr,
    /// The serving certificate.
    pub certificate: CertificateSource,
}

/// The webhook server, running.
#[must_use = "the server stops when shut down; keep it to do so"]
pub struct Running {
    address: SocketAddr,
    stop: watch::Sender<bool>,
    server: JoinHandle<Result<(), AdmissionError>>,
    keeper: JoinHandle<()>,
}

/// Binds `settings.listen`, loads (or, managed, creates or renews) the serving certificate,
/// sets the managed caBundle, and serves `webhooks` until [`Running::shutdown`]. Fails when
/// the address is taken or no usable certificate can be had; a caBundle that cannot be set
/// yet is only logged and tried again.
pub async fn start(
    client: kube::Client,
    settings: Settings,
    webhooks: Webhooks,
) -> Result<Running, AdmissionError> {
    let listener =
        TcpListener::bind(settings.listen)
            .await
            .map_err(|source| AdmissionError::Listen {
                address: settings.listen,
                source,
            })?;
    let address = listener.local_addr().map_err(AdmissionError::Serve)?;
    let (stop, stopped) = watch::channel(false);
    let (serving, keeper) = match settings.certificate {
        CertificateSource::Directory(dir) => {
            let files = CertificateFiles::new(dir);
            let serving = Arc::new(files.load()?);
            let keeper = tokio::spawn(files.follow(serving.clone(), stopped.clone()));
            (serving, keeper)
        }
        CertificateSource::Managed(managed) => {
            let stored = managed.ensure(&client).await?;
            let serving = Arc::new(ServingCertificate::from_pem(
                stored.cert_pem.as_bytes(),
                stored.key_pem.as_bytes(),
            )?);
            managed.apply(&client, &serving, &stored).await;
            let keeper = tokio::spawn(managed.keep(client, serving.clone(), stopped.clone()));
            (serving, keeper)
        }
    };
    let mut until_stopped = stopped;
    let shutdown = async move {
        let _ = until_stopped.wait_for(|stopped| *stopped).await;
    };
    let paths: Vec<&str> = webhooks.paths().collect();
    tracing::info!(%address, ?paths, "serving admission webhooks");
    let acceptor = serving::acceptor(serving)?;
    let router = webhooks.into_router();
    let server = tokio::spawn(serving::serve_with(listener, acceptor, router, shutdown));
    Ok(Running {
        address,
        stop,
        server,
        keeper,
    })
}

impl Running {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Stops taking connections, lets the requests in progress finish, and stops following
    /// the certificate.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "admission webhook server failed"),
            Err(error) => tracing::warn!(%error, "admission webhook server task failed"),
        }
        let _ = self.keeper.await;
    }
}
