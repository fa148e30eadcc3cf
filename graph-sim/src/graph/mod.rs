//! The Graph v1.0 resources of this slice, behind the bearer-token check.

mod filter;
mod licenses;
mod list;
mod mail;
mod query;
mod select;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::http::Uri;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

use crate::directory::DirectoryError;
use crate::http::error::GraphError;
use crate::http::{auth, method_not_allowed};
use crate::sim::Sim;

/// Routes below `/v1.0`. Every one of them, unknown paths included, first checks the token,
/// as Graph does.
pub fn routes(sim: Arc<Sim>) -> Router<Arc<Sim>> {
    Router::new()
        .route("/users", get(users::list).post(users::create))
        .route("/users/{key}", get(users::get).patch(users::update))
        .route("/users/{key}/assignLicense", post(licenses::assign))
        .route("/users/{key}/sendMail", post(mail::send))
        .route("/subscribedSkus", get(licenses::subscribed_skus))
        .fallback(unknown_segment)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(sim, auth::require_token))
}

async fn unknown_segment(uri: Uri) -> GraphError {
    let segment = uri
        .path()
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    GraphError::bad_request(
        "BadRequest",
        format!("Resource not found for the segment '{segment}'."),
    )
}

impl From<DirectoryError> for GraphError {
    fn from(error: DirectoryError) -> Self {
        let message = error.to_string();
        match error {
            DirectoryError::InvalidValue { target, .. } if target.is_empty() => {
                GraphError::bad_request("Request_BadRequest", message)
            }
            DirectoryError::InvalidValue { target, .. } => {
                GraphError::bad_request("Request_BadRequest", message)
                    .with_detail("InvalidValue", &target)
            }
            DirectoryError::Conflict { target } => {
                GraphError::bad_request("Request_BadRequest", message)
                    .with_detail("ObjectConflict", target)
            }
            DirectoryError::NotFound(_) => GraphError::new(
                axum::http::StatusCode::NOT_FOUND,
                "Request_ResourceNotFound",
                message,
            ),
            DirectoryError::License(_) => GraphError::bad_request("Request_BadRequest", message),
        }
    }
}
