//! HTTPS for the webhook: a serving certificate that can be swapped while connections come
//! and go, and a listener that completes each TLS handshake on a task of its own before
//! axum sees the connection, so that one slow client cannot hold up the others.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::serve::Listener;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::AdmissionError;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections through their handshake but not yet taken up by the HTTP server.
const BACKLOG: usize = 64;

/// The certificate chain and key the webhook presents, replaceable at any time: a handshake
/// uses whatever is current when it starts.
pub struct ServingCertificate {
    current: RwLock<Loaded>,
    provider: Arc<CryptoProvider>,
}

struct Loaded {
    key: Arc<CertifiedKey>,
    /// The PEM it was made from, to tell a real change from the same files read again.
    chain_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl ServingCertificate {
    /// A certificate from a PEM chain (serving certificate first) and its PEM private key.
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, AdmissionError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = certified_key(&provider, chain_pem, key_pem)?;
        Ok(ServingCertificate {
            current: RwLock::new(Loaded {
                key,
                chain_pem: chain_pem.to_vec(),
                key_pem: key_pem.to_vec(),
            }),
            provider,
        })
    }

    /// Serves `chain_pem` and `key_pem` from the next handshake on. Returns whether anything
    /// changed; on an error the current certificate stays.
    pub fn replace(&self, chain_pem: &[u8], key_pem: &[u8]) -> Result<bool, AdmissionError> {
        if self.is_current(chain_pem, key_pem) {
            return Ok(false);
        }
        let key = certified_key(&self.provider, chain_pem, key_pem)?;
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        *current = Loaded {
            key,
            chain_pem: chain_pem.to_vec(),
            key_pem: key_pem.to_vec(),
        };
        Ok(true)
    }

    /// Whether these PEM texts are the ones served now.
    pub fn is_current(&self, chain_pem: &[u8], key_pem: &[u8]) -> bool {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current.chain_pem == chain_pem && current.key_pem == key_pem
    }

    /// The serving certificate's PEM chain, as loaded.
    pub fn chain_pem(&self) -> Vec<u8> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current.chain_pem.clone()
    }

    fn tls_config(self: Arc<Self>) -> Result<ServerConfig, AdmissionError> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|_| AdmissionError::Certificate("no TLS version the provider supports"))?
            .with_no_client_auth()
            .with_cert_resolver(self);
        // axum is served HTTP/1.1 only; say so rather than let a client assume HTTP/2.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl ResolvesServerCert for ServingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        Some(current.key.clone())
    }
}

impl fmt::Debug for ServingCertificate {
    /// Shows nothing of the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServingCertificate")
    }
}

/// Parses and checks a chain and key. Problems are fixed phrases: parser messages could quote
/// key material.
fn certified_key(
    provider: &CryptoProvider,
    chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<CertifiedKey>, AdmissionError> {
    let chain = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| AdmissionError::Certificate("the certificate file is not valid PEM"))?;
    if chain.is_empty() {
        return Err(AdmissionError::Certificate(
            "the certificate file holds no certificate",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|_| AdmissionError::Certificate("the key file holds no PEM private key"))?;
    let certified = CertifiedKey::from_der(chain, key, provider).map_err(|_| {
        AdmissionError::Certificate("the private key is unusable or does not match the certificate")
    })?;
    Ok(Arc::new(certified))
}

/// Serves `router` over TLS with `certificate` on `listener` until `shutdown` resolves, then
/// lets the requests in progress finish.
pub async fn serve(
    listener: TcpListener,
    certificate: Arc<ServingCertificate>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AdmissionError> {
    serve_with(listener, acceptor(certificate)?, router, shutdown).await
}

/// The TLS side of [`serve`], built before serving so that a setup problem shows at start.
pub(super) fn acceptor(
    certificate: Arc<ServingCertificate>,
) -> Result<TlsAcceptor, AdmissionError> {
    Ok(TlsAcceptor::from(Arc::new(certificate.tls_config()?)))
}

/// [`serve`] with the TLS side built.
pub(super) async fn serve_with(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AdmissionError> {
    let incoming = TlsIncoming::spawn(listener, acceptor).map_err(AdmissionError::Serve)?;
    axum::serve(incoming, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(AdmissionError::Serve)
}

/// Connections that completed their TLS handshake.
struct TlsIncoming {
    connections: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsIncoming {
    fn spawn(listener: TcpListener, acceptor: TlsAcceptor) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (sender, connections) = mpsc::channel(BACKLOG);
        tokio::spawn(accept(listener, acceptor, sender));
        Ok(TlsIncoming { connections, local })
    }
}

impl Listener for TlsIncoming {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.connections.recv().await {
            Some(connection) => connection,
            // The accept loop ends only when this listener is gone; until then wait.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

type Handshaken = mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>;

/// Accepts until the server stops taking connections (it drops the receiving end, and the
/// port is released with the listener).
async fn accept(listener: TcpListener, acceptor: TlsAcceptor, sender: Handshaken) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = sender.closed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                tokio::spawn(handshake(stream, peer, acceptor.clone(), sender.clone()));
            }
            Err(error) => {
                tracing::debug!(%error, "webhook accept failed");
                // Out of file descriptors and the like: give the system a moment.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn handshake(stream: TcpStream, peer: SocketAddr, acceptor: TlsAcceptor, to: Handshaken) {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => {
            // Nobody receives once the server stopped: the connection is dropped.
            let _ = to.send((stream, peer)).await;
        }
        Ok(Err(error)) => tracing::debug!(%error, %peer, "webhook TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "webhook TLS handshake timed out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::certificate::issue;

    fn names() -> Vec<String> {
        vec!["127.0.0.1".into(), "localhost".into()]
    }

    fn pair() -> crate::admission::certificate::Issued {
        issue(&names(), jiff::Timestamp::now()).unwrap()
    }

    #[test]
    fn a_key_that_does_not_belong_to_the_certificate_is_refused() {
        let (one, two) = (pair(), pair());
        assert!(
            ServingCertificate::from_pem(one.cert_pem.as_bytes(), one.key_pem.as_bytes()).is_ok()
        );
        let mismatched =
            ServingCertificate::from_pem(one.cert_pem.as_bytes(), two.key_pem.as_bytes());
        assert!(mismatched.is_err());
        let garbage = ServingCertificate::from_pem(b"not pem", one.key_pem.as_bytes());
        assert!(garbage.is_err());
    }

    #[test]
    fn replacing_swaps_only_on_a_change_and_keeps_the_old_one_on_an_error() {
        let (one, two) = (pair(), pair());
        let served =
            ServingCertificate::from_pem(one.cert_pem.as_bytes(), one.key_pem.as_bytes()).unwrap();
        let replace = |cert: &str, key: &str| served.replace(cert.as_bytes(), key.as_bytes());
        assert!(!replace(&one.cert_pem, &one.key_pem).unwrap());
        assert!(replace(&one.cert_pem, &two.key_pem).is_err());
        assert_eq!(served.chain_pem(), one.cert_pem.as_bytes());
        assert!(replace(&two.cert_pem, &two.key_pem).unwrap());
        assert_eq!(served.chain_pem(), two.cert_pem.as_bytes());
    }

    /// A client that trusts only the authority in `ca_pem`.
    fn client_trusting(ca_pem: &str) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([ca])
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn clients_trusting_the_authority_connect_and_a_new_pair_is_served_without_restart() {
        let (one, two) = (pair(), pair());
        let served = Arc::new(
            ServingCertificate::from_pem(one.cert_pem.as_bytes(), one.key_pem.as_bytes()).unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/ping", listener.local_addr().unwrap());
        let router = Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, served.clone(), router, async {
            let _ = stopped.await;
        }));
        let get = |client: reqwest::Client| {
            let url = url.clone();
            async move { client.get(url).send().await?.text().await }
        };
        assert_eq!(get(client_trusting(&one.ca_pem)).await.unwrap(), "pong");
        assert!(get(client_trusting(&two.ca_pem)).await.is_err());

        served
            .replace(two.cert_pem.as_bytes(), two.key_pem.as_bytes())
            .unwrap();
        assert_eq!(get(client_trusting(&two.ca_pem)).await.unwrap(), "pong");
        assert!(get(client_trusting(&one.ca_pem)).await.is_err());

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[test]
    fn debug_shows_no_key() {
        let one = pair();
        let served =
            ServingCertificate::from_pem(one.cert_pem.as_bytes(), one.key_pem.as_bytes()).unwrap();
        assert_eq!(format!("{served:?}"), "ServingCertificate");
    }
}
