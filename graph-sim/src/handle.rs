//! Starting the simulator and steering it from the same process.

use std::io;
use std::sync::Arc;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::Config;
use crate::faults::Faults;
use crate::http;
use crate::sim::Sim;

/// A running simulator. Dropping the handle stops the server as [`Handle::shutdown`] does, but
/// without waiting for it.
pub struct Handle {
    sim: Arc<Sim>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<io::Result<()>>,
}

/// Starts the simulator for `config` on `listener` and returns at once; the server runs on a
/// spawned task.
///
/// The listener must be bound to a loopback address: the control API has no authentication.
/// Fails with [`io::ErrorKind::InvalidInput`] otherwise, and with
/// [`io::ErrorKind::InvalidData`] when the configuration or a seeded user is refused.
pub async fn serve(config: Config, listener: TcpListener) -> io::Result<Handle> {
    let address = listener.local_addr()?;
    if !address.ip().is_loopback() {
        let message = format!("the simulator listens on loopback only, not on {address}");
        return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
    }
    let base_url = format!("http://{address}");
    let sim =
        Sim::new(config, base_url).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let sim = Arc::new(sim);
    let app = http::router(sim.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                // A dropped handle stops the server too.
                let _ = stopped.await;
            })
            .await
    });
    info!(base_url = %sim.base_url, "graph simulator listening");
    Ok(Handle { sim, stop, server })
}

impl Handle {
    /// `http://127.0.0.1:PORT`: the login base; Graph's base is this plus `/v1.0`.
    pub fn base_url(&self) -> String {
        self.sim.base_url.clone()
    }

    /// Every user with every stored property, replicated or not; never a password.
    pub fn users(&self) -> Vec<Value> {
        self.sim.users_snapshot()
    }

    /// Sent mails, oldest first: `{from, to, cc, bcc, subject, contentType, body,
    /// internetMessageHeaders, sentAt}`.
    pub fn outbox(&self) -> Vec<Value> {
        self.sim.outbox_snapshot()
    }

    /// Replaces the faults in force.
    pub fn set_faults(&self, faults: Faults) {
        self.sim.set_faults(faults);
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

    /// Answered requests, oldest first: `{method, path, status, at}`. The control API is not
    /// logged.
    pub fn requests(&self) -> Vec<Value> {
        self.sim.requests_snapshot()
    }

    /// Stops accepting connections, lets requests in flight finish and waits for the server.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        match self.server.await {
            Ok(Ok(())) => info!("graph simulator stopped"),
            Ok(Err(error)) => warn!(%error, "graph simulator stopped with an error"),
            Err(error) => warn!(%error, "graph simulator task failed"),
        }
    }
}
