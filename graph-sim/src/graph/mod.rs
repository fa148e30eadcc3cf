//! The Graph v1.0 resources, behind the bearer-token check, the injected faults, throttling
//! and the app's permissions.

mod access_passes;
mod app_roles;
mod batch;
mod deleted;
mod delta;
mod filter;
mod groups;
mod licenses;
mod list;
mod mail;
mod messages;
mod permissions;
pub mod query;
mod roles;
mod search;
mod select;
pub mod throttle;
mod users;

use std::sync::Arc;

use axum::http::{StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};
use axum::{Extension, Router};

use crate::directory::{AccessPassError, DirectoryError};
use crate::faults;
use crate::http::error::GraphError;
use crate::http::{auth, method_not_allowed};
use crate::sim::Sim;

/// Routes below `/v1.0`: the resources, and `$batch`, which sends its requests through the
/// same resources with all their layers.
pub fn routes(sim: Arc<Sim>) -> Router<Arc<Sim>> {
    let target = Router::new()
        .nest("/v1.0", resources(sim.clone()))
        .with_state(sim.clone());
    let batch = post(batch::run)
        .layer(Extension(batch::Target(target)))
        .layer(from_fn_with_state(sim.clone(), auth::require_token));
    resources(sim).route("/$batch", batch)
}

/// Every resource. Each request, unknown paths included, first has its token checked as
/// Graph does, then may meet an injected fault, is charged to its app's throttling buckets,
/// and finally needs the app's permissions for its route.
fn resources(sim: Arc<Sim>) -> Router<Arc<Sim>> {
    Router::new()
        .merge(user_routes())
        .merge(directory_routes())
        .route_layer(from_fn_with_state(sim.clone(), permissions::check))
        .fallback(unknown_segment)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(sim.clone(), throttle::throttle))
        .layer(from_fn_with_state(sim.clone(), faults::inject))
        .layer(from_fn_with_state(sim, auth::require_token))
}

fn user_routes() -> Router<Arc<Sim>> {
    let user = "/users/{key}";
    Router::new()
        .route("/users", get(users::list).post(users::create))
        .route("/users/delta", get(delta::users))
        .route(
            user,
            get(users::get).patch(users::update).delete(users::delete),
        )
        .route(&format!("{user}/assignLicense"), post(licenses::assign))
        .route(&format!("{user}/sendMail"), post(mail::send))
        .route(
            &format!("{user}/revokeSignInSessions"),
            post(users::revoke_sessions),
        )
        .route(&format!("{user}/memberOf"), get(groups::member_of))
        .route(
            &format!("{user}/memberOf/microsoft.graph.group"),
            get(groups::member_of_groups),
        )
        .route(
            &format!("{user}/transitiveMemberOf"),
            get(groups::transitive_member_of),
        )
        .route(
            &format!("{user}/transitiveMemberOf/microsoft.graph.group"),
            get(groups::transitive_member_of_groups),
        )
        .route(
            &format!("{user}/appRoleAssignments"),
            get(app_roles::list).post(app_roles::create),
        )
        .route(
            &format!("{user}/appRoleAssignments/{{id}}"),
            get(app_roles::get).delete(app_roles::delete),
        )
        .route(
            &format!("{user}/authentication/temporaryAccessPassMethods"),
            get(access_passes::list).post(access_passes::create),
        )
        .route(
            &format!("{user}/authentication/temporaryAccessPassMethods/{{id}}"),
            get(access_passes::get).delete(access_passes::delete),
        )
        .route(
            &format!("{user}/mailFolders/{{folder}}/messages"),
            get(messages::by_folder_name),
        )
        .route(
            &format!("{user}/{{folder}}/messages"),
            get(messages::by_folder_call),
        )
}

fn directory_routes() -> Router<Arc<Sim>> {
    let role_assignments = "/roleManagement/directory/roleAssignments";
    Router::new()
        .route("/subscribedSkus", get(licenses::subscribed_skus))
        .route("/groups", get(groups::list))
        .route("/groups/{id}", get(groups::get).patch(groups::update))
        .route("/groups/{id}/members", get(groups::members))
        .route("/groups/{id}/members/$ref", post(groups::add_member))
        .route(
            "/groups/{id}/members/{member}/$ref",
            delete(groups::remove_member),
        )
        .route(
            "/directory/deletedItems/microsoft.graph.user",
            get(deleted::list),
        )
        .route(
            "/directory/deletedItems/{id}",
            get(deleted::get).delete(deleted::purge),
        )
        .route(
            "/directory/deletedItems/{id}/restore",
            post(deleted::restore),
        )
        .route(role_assignments, get(roles::list).post(roles::create))
        .route(
            &format!("{role_assignments}/{{id}}"),
            get(roles::get).delete(roles::delete),
        )
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
        let bad_request = || GraphError::bad_request("Request_BadRequest", message.clone());
        match error {
            DirectoryError::InvalidValue { target, .. } if target.is_empty() => bad_request(),
            DirectoryError::InvalidValue { target, .. } => {
                bad_request().with_detail("InvalidValue", &target)
            }
            DirectoryError::Conflict { target } => {
                bad_request().with_detail("ObjectConflict", target)
            }
            DirectoryError::NotFound(_) | DirectoryError::NotMember => {
                GraphError::new(StatusCode::NOT_FOUND, "Request_ResourceNotFound", message)
            }
            DirectoryError::Forbidden => GraphError::insufficient_privileges(),
            // The authentication methods service answers with its own lower-case codes.
            DirectoryError::AccessPass(AccessPassError::OutsidePolicy(_)) => {
                GraphError::new(StatusCode::FORBIDDEN, "accessDenied", message)
            }
            DirectoryError::AccessPass(_) => GraphError::bad_request("badRequest", message),
            DirectoryError::License(_)
            | DirectoryError::InvalidReference
            | DirectoryError::AlreadyMember
            | DirectoryError::AppRoleAssigned
            | DirectoryError::RoleAssigned => bad_request(),
        }
    }
}
