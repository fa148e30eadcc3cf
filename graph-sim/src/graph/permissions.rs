//! Which application permissions each Graph route needs, checked against the permissions
//! granted to the calling app.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::auth::Caller;
use crate::http::error::GraphError;
use crate::sim::Sim;

const USER_READ: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "User.ReadBasic.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const USER_WRITE: &[&str] = &["User.ReadWrite.All", "Directory.ReadWrite.All"];
const SESSION_REVOKE: &[&str] = &[
    "User.RevokeSessions.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const LICENSE_WRITE: &[&str] = &[
    "LicenseAssignment.ReadWrite.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const ORGANIZATION_READ: &[&str] = &[
    "Organization.Read.All",
    "Organization.ReadWrite.All",
    "LicenseAssignment.Read.All",
    "LicenseAssignment.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const GROUP_READ: &[&str] = &[
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const GROUP_WRITE: &[&str] = &[
    "GroupMember.ReadWrite.All",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const MEMBERSHIP_READ: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Group.Read.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const APP_ROLE_READ: &[&str] = &[
    "AppRoleAssignment.ReadWrite.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const APP_ROLE_WRITE: &[&str] = &["AppRoleAssignment.ReadWrite.All"];
const ROLE_READ: &[&str] = &[
    "RoleManagement.Read.Directory",
    "RoleManagement.ReadWrite.Directory",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const ROLE_WRITE: &[&str] = &["RoleManagement.ReadWrite.Directory"];
const AUTH_METHOD_READ: &[&str] = &[
    "UserAuthenticationMethod.Read.All",
    "UserAuthenticationMethod.ReadWrite.All",
    "UserAuthMethod-TAP.Read.All",
    "UserAuthMethod-TAP.ReadWrite.All",
];
const AUTH_METHOD_WRITE: &[&str] = &[
    "UserAuthenticationMethod.ReadWrite.All",
    "UserAuthMethod-TAP.ReadWrite.All",
];
const MAIL_SEND: &[&str] = &["Mail.Send"];
const MAIL_READ: &[&str] = &[
    "Mail.ReadBasic.All",
    "Mail.ReadBasic",
    "Mail.Read",
    "Mail.ReadWrite",
];

/// The permissions a route needs: any one of `any_of`.
#[derive(Clone, Copy, Debug)]
struct Requirement {
    any_of: &'static [&'static str],
    /// Exchange, not the directory, answers mail routes, with its own error code.
    mail: bool,
}

/// Middleware on matched Graph routes.
pub async fn check(State(sim): State<Arc<Sim>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().trim_start_matches("/v1.0").to_string());
    let requirement = route.and_then(|r| required(request.method(), r.as_str()));
    let client_id = request.extensions().get::<Caller>().map(|c| &c.client_id);
    let (Some(requirement), Some(client_id)) = (requirement, client_id) else {
        return next.run(request).await;
    };
    let granted = sim
        .client(client_id)
        .is_some_and(|c| requirement.any_of.iter().any(|p| c.has_permission(p)));
    if granted {
        next.run(request).await
    } else {
        denied(requirement).into_response()
    }
}

fn denied(requirement: Requirement) -> GraphError {
    if requirement.mail {
        return GraphError::new(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        );
    }
    GraphError::insufficient_privileges()
}

fn required(method: &Method, route: &str) -> Option<Requirement> {
    let read = method == Method::GET;
    let (reads, writes) = match route {
        "/users" | "/users/{key}" | "/users/delta" => (USER_READ, USER_WRITE),
        "/users/{key}/assignLicense" => (USER_READ, LICENSE_WRITE),
        "/users/{key}/revokeSignInSessions" => (USER_READ, SESSION_REVOKE),
        "/subscribedSkus" => (ORGANIZATION_READ, ORGANIZATION_READ),
        r if r.starts_with("/users/{key}/memberOf")
            || r.starts_with("/users/{key}/transitiveMemberOf") =>
        {
            (MEMBERSHIP_READ, MEMBERSHIP_READ)
        }
        r if r.starts_with("/groups") => (GROUP_READ, GROUP_WRITE),
        r if r.starts_with("/directory/deletedItems") => (USER_READ, USER_WRITE),
        r if r.starts_with("/users/{key}/appRoleAssignments") => (APP_ROLE_READ, APP_ROLE_WRITE),
        r if r.starts_with("/roleManagement/directory") => (ROLE_READ, ROLE_WRITE),
        r if r.starts_with("/users/{key}/authentication/") => (AUTH_METHOD_READ, AUTH_METHOD_WRITE),
        "/users/{key}/sendMail" => return mail(MAIL_SEND),
        r if r.ends_with("/messages") => return mail(MAIL_READ),
        _ => return None,
    };
    Some(Requirement {
        any_of: if read { reads } else { writes },
        mail: false,
    })
}

fn mail(any_of: &'static [&'static str]) -> Option<Requirement> {
    Some(Requirement { any_of, mail: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(method: Method, route: &str) -> &'static [&'static str] {
        required(&method, route).unwrap().any_of
    }

    #[test]
    fn reads_accept_read_or_write_permissions_and_writes_only_write_ones() {
        assert!(needs(Method::GET, "/users").contains(&"User.Read.All"));
        assert!(needs(Method::GET, "/users").contains(&"User.ReadWrite.All"));
        assert!(!needs(Method::POST, "/users").contains(&"User.Read.All"));
        assert_eq!(
            needs(Method::POST, "/users/{key}/appRoleAssignments"),
            ["AppRoleAssignment.ReadWrite.All"]
        );
        assert!(
            needs(Method::POST, "/groups/{id}/members/$ref").contains(&"GroupMember.ReadWrite.All")
        );
        let passes = "/users/{key}/authentication/temporaryAccessPassMethods";
        assert!(needs(Method::GET, passes).contains(&"UserAuthenticationMethod.Read.All"));
        assert!(!needs(Method::POST, passes).contains(&"UserAuthenticationMethod.Read.All"));
        assert!(!needs(Method::POST, passes).contains(&"User.ReadWrite.All"));
    }

    #[test]
    fn mail_routes_are_refused_by_exchange() {
        let send = required(&Method::POST, "/users/{key}/sendMail").unwrap();
        assert!(send.mail);
        assert_eq!(denied(send).code(), "ErrorAccessDenied");
        let read = required(&Method::GET, "/users/{key}/mailFolders/{folder}/messages").unwrap();
        assert!(read.any_of.contains(&"Mail.ReadBasic.All"));
        let group = required(&Method::GET, "/groups").unwrap();
        assert_eq!(denied(group).code(), "Authorization_RequestDenied");
    }
}
