//! The HTTP surface: one router for the token endpoint, Graph and the control API, wrapped in
//! request tracking.

pub mod auth;
pub mod body;
pub mod context;
pub mod error;

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::middleware::from_fn_with_state;

use crate::sim::Sim;
use crate::{admin, graph, login};
use error::GraphError;

/// The whole simulator as one router.
pub fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .merge(login::routes())
        .nest("/v1.0", graph::routes(sim.clone()))
        .nest("/_sim", admin::routes())
        .fallback(unknown_path)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(sim.clone(), context::track))
        .with_state(sim)
}

async fn unknown_path(uri: Uri) -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("No resource at '{}'.", uri.path()),
    )
}

/// Shared by every router, so a wrong method is answered in the envelope everywhere.
pub async fn method_not_allowed() -> GraphError {
    GraphError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Request_BadRequest",
        "The HTTP method is not supported for this resource.",
    )
}
