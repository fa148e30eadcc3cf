//! The operator's one HTTP server: probes and metrics, and a place for other modules to
//! mount their routes.
//!
//! [`Server::new`] serves `/healthz` (the process answers), `/readyz` (the controllers
//! reconcile from synced caches, or wait as a standby; false once shutdown begins) and
//! `/metrics` (Prometheus text). A module with endpoints of its own builds an
//! [`axum::Router`] with its state applied and hands it to [`Server::merge`]:
//!
//! ```
//! use axum::{Router, routing::get};
//! use m365_operator::http::{Health, Server};
//!
//! let keys = Router::new().route("/openid/v1/jwks", get(|| async { "{\"keys\":[]}" }));
//! let server = Server::new(Health::new()).merge(keys);
//! # let _ = server;
//! ```
//!
//! A listener of another kind (TLS for an admission webhook) serves [`Server::into_router`].

pub mod discovery;
pub mod health;

pub use health::{Health, Phase};

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get};
use tokio::net::TcpListener;

use crate::metrics;

/// The routes the server answers, built up before it starts.
#[must_use = "a server does nothing until it is served"]
pub struct Server {
    router: Router,
}

impl Server {
    /// Probes reporting `health`, and the process's metrics.
    pub fn new(health: Health) -> Self {
        let router = Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .with_state(health)
            .route("/metrics", get(prometheus));
        Server { router }
    }

    /// Adds another module's routes. Panics, as axum does, when a path is taken twice.
    pub fn merge(self, routes: Router) -> Self {
        Server {
            router: self.router.merge(routes),
        }
    }

    /// Adds one route.
    pub fn route(self, path: &str, handler: MethodRouter) -> Self {
        Server {
            router: self.router.route(path, handler),
        }
    }

    /// Every route, for a caller that serves them on a listener of its own.
    pub fn into_router(self) -> Router {
        self.router
    }

    /// Serves on `listener` until `shutdown` resolves, then finishes the requests in
    /// progress.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// Binds `address`, saying which address failed.
pub async fn bind(address: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))
}

/// Liveness: answering at all shows the runtime is not wedged.
async fn healthz(State(health): State<Health>) -> String {
    format!("ok: {}\n", health.phase())
}

async fn readyz(State(health): State<Health>) -> (StatusCode, String) {
    let phase = health.phase();
    if phase.is_ready() {
        (StatusCode::OK, format!("ready: {phase}\n"))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {phase}\n"),
        )
    }
}

async fn prometheus() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::render(),
    )
}

/// The address a test or a log line can use to reach `listener`.
pub fn local_address(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `server` on a free loopback port; returns its base URL.
    async fn start(server: Server) -> String {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let address = local_address(&listener).unwrap();
        tokio::spawn(server.serve(listener, std::future::pending()));
        format!("http://{address}")
    }

    async fn fetch(url: String) -> (u16, String) {
        let response = reqwest::get(url).await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    #[tokio::test]
    async fn readiness_follows_the_phase() {
        let health = Health::new();
        let base = start(Server::new(health.clone())).await;
        assert_eq!(fetch(format!("{base}/readyz")).await.0, 503);
        health.set(Phase::Syncing);
        assert_eq!(
            fetch(format!("{base}/readyz")).await,
            (503, "not ready: syncing\n".into())
        );
        health.set(Phase::Serving);
        assert_eq!(
            fetch(format!("{base}/readyz")).await,
            (200, "ready: serving\n".into())
        );
        health.begin_shutdown();
        assert_eq!(fetch(format!("{base}/readyz")).await.0, 503);
        // Alive all the while.
        assert_eq!(
            fetch(format!("{base}/healthz")).await,
            (200, "ok: stopping\n".into())
        );
    }

    #[tokio::test]
    async fn metrics_are_served_as_prometheus_text() {
        let base = start(Server::new(Health::new())).await;
        metrics::graph_call("http test", Some(204));
        let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            metrics::CONTENT_TYPE
        );
        let text = response.text().await.unwrap();
        assert!(
            text.contains(r#"m365_graph_calls_total{operation="http test",status="204"} 1"#),
            "{text}"
        );
    }

    #[tokio::test]
    async fn other_modules_mount_their_routes() {
        let keys = Router::new().route("/openid/v1/jwks", get(|| async { "{\"keys\":[]}" }));
        let server = Server::new(Health::new())
            .merge(keys)
            .route("/introspect", axum::routing::post(|| async { "inactive" }));
        let base = start(server).await;
        assert_eq!(
            fetch(format!("{base}/openid/v1/jwks")).await,
            (200, "{\"keys\":[]}".into())
        );
        let posted = reqwest::Client::new()
            .post(format!("{base}/introspect"))
            .send()
            .await
            .unwrap();
        assert_eq!(posted.text().await.unwrap(), "inactive");
        assert_eq!(fetch(format!("{base}/healthz")).await.0, 200);
    }
}
