//! Starting the simulator and steering it from the same process.

use std::io;
use std::sync::Arc;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::{Config, TemporaryAccessPassPolicy, ThrottleLimits};
use crate::faults::Faults;
use crate::http;
use crate::net::{Incoming, Peer};
use crate::sim::Sim;
use crate::tls::TlsIdentity;

/// A running simulator. Dropping the handle stops the server as [`Handle::shutdown`] does, but
/// without waiting for it.
pub struct Handle {
    sim: Arc<Sim>,
    ca_pem: String,
    server: JoinHandle<io::Result<()>>,
}

/// Starts the simulator for `config` on `listener` and returns at once; the server runs on a
/// spawned task. The port answers plain HTTP ([`Handle::base_url`]) and HTTPS
/// ([`Handle::https_url`], with a certificate made at start by the authority of
/// [`Handle::ca_pem`]).
///
/// The listener must be bound to a loopback address: the control API has no authentication.
/// Fails with [`io::ErrorKind::InvalidInput`] otherwise, and with
/// [`io::ErrorKind::InvalidData`] when the configuration or a seeded object is refused.
pub async fn serve(config: Config, listener: TcpListener) -> io::Result<Handle> {
    let address = listener.local_addr()?;
    if !address.ip().is_loopback() {
        let message = format!("the simulator listens on loopback only, not on {address}");
        return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
    }
    let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidData, e);
    let ca_file = config.ca_cert_file.clone();
    let sim = Arc::new(Sim::new(config, address).map_err(invalid)?);
    let tls = TlsIdentity::generate().map_err(io::Error::other)?;
    if let Some(path) = &ca_file {
        std::fs::write(path, &tls.ca_pem)?;
    }
    let incoming = Incoming::spawn(listener, tls.acceptor, sim.stop_signal())?;
    let app = http::router(sim.clone()).into_make_service_with_connect_info::<Peer>();
    let stopping = sim.clone();
    let server = tokio::spawn(async move {
        axum::serve(incoming, app)
            .with_graceful_shutdown(async move { stopping.stopped().await })
            .await
    });
    info!(base_url = %sim.base_url, https_url = %sim.tls_base_url, "graph simulator listening");
    Ok(Handle {
        sim,
        ca_pem: tls.ca_pem,
        server,
    })
}

impl Handle {
    /// `http://127.0.0.1:PORT`: the login base; Graph's base is this plus `/v1.0`.
    pub fn base_url(&self) -> String {
        self.sim.base_url.clone()
    }

    /// `https://127.0.0.1:PORT`: the same simulator over TLS, for clients that insist on it.
    /// Links in answers use the scheme the request came with.
    pub fn https_url(&self) -> String {
        self.sim.tls_base_url.clone()
    }

    /// The PEM certificate of the authority that signed the TLS certificate; trust it to
    /// reach [`https_url`](Self::https_url).
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// Every user that is not deleted, with every stored property, replicated or not; never a
    /// password.
    pub fn users(&self) -> Vec<Value> {
        self.sim.users_snapshot()
    }

    /// Deleted users that can still be restored, with `deletedDateTime`.
    pub fn deleted_users(&self) -> Vec<Value> {
        self.sim.deleted_users_snapshot()
    }

    /// Every group with its properties and `members` (object ids of direct members).
    pub fn groups(&self) -> Vec<Value> {
        self.sim.groups_snapshot()
    }

    /// Sent mails, oldest first: `{from, to, cc, bcc, subject, contentType, body,
    /// internetMessageHeaders, singleValueExtendedProperties, sentAt}`.
    pub fn outbox(&self) -> Vec<Value> {
        self.sim.outbox_snapshot()
    }

    /// Every Temporary Access Pass issued and not replaced or deleted, oldest first, as the
    /// create answered it (`temporaryAccessPass` included) plus `userId` and the usability
    /// as of now. Graph itself shows the pass text only once, in the create's answer.
    pub fn temporary_access_passes(&self) -> Vec<Value> {
        self.sim.access_passes_snapshot()
    }

    /// Replaces the tenant's Temporary Access Pass policy, e.g. to switch the method off.
    pub fn set_temporary_access_pass_policy(&self, policy: TemporaryAccessPassPolicy) {
        self.sim.set_access_pass_policy(policy);
    }

    /// Replaces the faults in force.
    pub fn set_faults(&self, faults: Faults) {
        self.sim.set_faults(faults);
    }

    /// Replaces the throttling limits and refills every bucket.
    pub fn set_throttling(&self, limits: ThrottleLimits) {
        self.sim.set_throttling(limits);
    }

    /// Sets the purchased seats of the subscription with this part number (any case); an
    /// unknown part number changes nothing and is logged.
    pub fn set_seats(&self, sku_part_number: &str, enabled: u32) {
        if self
            .sim
            .directory()
            .set_seats(sku_part_number, enabled)
            .is_none()
        {
            warn!(%sku_part_number, "no such subscription; seats unchanged");
        }
    }

    /// Answered requests, oldest first: `{method, path, status, at, resourceUnits, inBatch}`.
    /// The control API is not logged; requests inside a `$batch` are, as they run, before the
    /// batch itself.
    pub fn requests(&self) -> Vec<Value> {
        self.sim.requests_snapshot()
    }

    /// Stops accepting connections, lets requests in flight finish (held answers end at
    /// once) and waits for the server.
    pub async fn shutdown(mut self) {
        self.sim.stop();
        match (&mut self.server).await {
            Ok(Ok(())) => info!("graph simulator stopped"),
            Ok(Err(error)) => warn!(%error, "graph simulator stopped with an error"),
            Err(error) => warn!(%error, "graph simulator task failed"),
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.sim.stop();
    }
}
