//! One loopback port for plain HTTP and HTTPS: the first byte a client sends tells a TLS
//! handshake (`0x16`) from an HTTP request, so tests and SDKs that insist on HTTPS share the
//! port with clients that speak plain HTTP.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tracing::debug;

/// The first byte of a TLS record carrying a handshake.
const TLS_HANDSHAKE: u8 = 0x16;
/// A client that neither speaks nor finishes its handshake within this time is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections accepted but not yet picked up by the server.
const BACKLOG: usize = 64;

/// A byte stream the server can speak HTTP over, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Who is on the other end of a connection, and whether it speaks TLS.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    /// The client's address.
    pub address: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// Connections of both kinds, ready for HTTP.
pub struct Incoming {
    connections: mpsc::Receiver<(Box<dyn Stream>, Peer)>,
    local: SocketAddr,
}

impl Incoming {
    /// Accepts on `listener` until `stop` turns true, handing TLS connections to `acceptor`.
    pub fn spawn(
        listener: TcpListener,
        acceptor: TlsAcceptor,
        stop: watch::Receiver<bool>,
    ) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (sender, connections) = mpsc::channel(BACKLOG);
        tokio::spawn(accept_loop(listener, Arc::new(acceptor), sender, stop));
        Ok(Self { connections, local })
    }
}

impl Listener for Incoming {
    type Io = Box<dyn Stream>;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.connections.recv().await {
            Some(connection) => connection,
            // The accept loop ended because the simulator is stopping; graceful shutdown
            // stops asking for connections.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(Peer {
            address: self.local,
            tls: false,
        })
    }
}

impl Connected<IncomingStream<'_, Incoming>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Incoming>) -> Self {
        *stream.remote_addr()
    }
}

type Sender = mpsc::Sender<(Box<dyn Stream>, Peer)>;

async fn accept_loop(
    listener: TcpListener,
    acceptor: Arc<TlsAcceptor>,
    sender: Sender,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        match accepted {
            Ok((stream, address)) => {
                tokio::spawn(classify(stream, address, acceptor.clone(), sender.clone()));
            }
            Err(error) => {
                debug!(%error, "accept failed");
                // Out of file descriptors and the like: give the system a moment.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Peeks at the first byte and hands the connection on, after a handshake for TLS.
async fn classify(
    stream: TcpStream,
    address: SocketAddr,
    acceptor: Arc<TlsAcceptor>,
    sender: Sender,
) {
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await;
    let tls = match peeked {
        Ok(Ok(1)) => first[0] == TLS_HANDSHAKE,
        _ => return,
    };
    let connection: Box<dyn Stream> = if tls {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => Box::new(stream),
            Ok(Err(error)) => {
                debug!(%error, %address, "TLS handshake failed");
                return;
            }
            Err(_) => return,
        }
    } else {
        Box::new(stream)
    };
    // The server is gone when nobody receives; the connection is simply dropped.
    let _ = sender.send((connection, Peer { address, tls })).await;
}
