//! Groups and memberships: `/groups`, members by `$ref` and `members@odata.bind`, and
//! `/users/{id}/memberOf` and `/transitiveMemberOf`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{Map, Value, json};
use tracing::info;

use super::filter::{Token, lex};
use super::query::QueryParams;
use super::select::Selection;
use crate::directory::{Group, Member};
use crate::http::auth::Caller;
use crate::http::body::JsonBody;
use crate::http::context::BaseUrl;
use crate::http::error::GraphError;
use crate::sim::Sim;

/// At most this many members may be bound in one `PATCH`.
const MAX_BOUND_MEMBERS: usize = 20;
/// The permission that lets an app change role-assignable groups.
const ROLE_MANAGEMENT: &str = "RoleManagement.ReadWrite.Directory";

/// `GET /groups` with `$filter` on `displayName`, `mailNickname` or `id` (`eq`, or
/// `startsWith` on the display name).
pub async fn list(
    State(sim): State<Arc<Sim>>,
    BaseUrl(base_url): BaseUrl,
    params: QueryParams,
) -> Result<Json<Value>, GraphError> {
    let filter = params
        .option("$filter")
        .map(GroupFilter::parse)
        .transpose()?;
    let directory = sim.directory();
    let groups: Vec<Value> = directory
        .groups()
        .iter()
        .filter(|g| filter.as_ref().is_none_or(|f| f.matches(g)))
        .map(|g| Value::Object(g.props.clone()))
        .collect();
    Ok(Json(collection(&base_url, "groups", groups)))
}

/// `GET /groups/{id}`.
pub async fn get(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    BaseUrl(base_url): BaseUrl,
) -> Result<Json<Value>, GraphError> {
    let directory = sim.directory();
    let mut entity = directory.group(&id)?.props.clone();
    let context = format!("{base_url}/v1.0/$metadata#groups/$entity");
    entity.insert("@odata.context".into(), context.into());
    Ok(Json(Value::Object(entity)))
}

/// `PATCH /groups/{id}` with `members@odata.bind` (at most 20, all or nothing) → `204`.
pub async fn update(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, GraphError> {
    let body = body
        .as_object()
        .ok_or_else(|| GraphError::bad_request("BadRequest", "The body must be a JSON object."))?;
    if let Some(name) = body.keys().find(|k| *k != "members@odata.bind") {
        return Err(GraphError::bad_request(
            "Request_BadRequest",
            format!("Updating '{name}' of a group is not supported here."),
        ));
    }
    let references = body
        .get("members@odata.bind")
        .and_then(Value::as_array)
        .ok_or_else(invalid_reference_list)?;
    if references.len() > MAX_BOUND_MEMBERS {
        return Err(GraphError::bad_request(
            "Request_BadRequest",
            format!(
                "A single request may add at most {MAX_BOUND_MEMBERS} members; this one adds {}.",
                references.len()
            ),
        ));
    }
    let ids = references
        .iter()
        .map(|r| {
            r.as_str()
                .ok_or_else(invalid_reference_list)
                .and_then(object_id)
        })
        .collect::<Result<Vec<_>, _>>()?;
    add(&sim, &id, &ids, &caller)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /groups/{id}/members/$ref` with `{"@odata.id": ".../directoryObjects/{id}"}` → `204`.
pub async fn add_member(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, GraphError> {
    let reference = body
        .get("@odata.id")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::bad_request("BadRequest", "The body must carry '@odata.id'."))?;
    add(&sim, &id, &[object_id(reference)?], &caller)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /groups/{id}/members/{member}/$ref` → `204`.
pub async fn remove_member(
    State(sim): State<Arc<Sim>>,
    Path((id, member)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
) -> Result<StatusCode, GraphError> {
    let manages_roles = manages_roles(&sim, &caller);
    sim.directory().remove_member(&id, &member, manages_roles)?;
    info!(group = %id, %member, "member removed");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /groups/{id}/members`: users and nested groups, typed by `@odata.type`.
pub async fn members(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    BaseUrl(base_url): BaseUrl,
) -> Result<Json<Value>, GraphError> {
    let view = sim.view();
    let directory = sim.directory();
    let members: Vec<Value> = directory
        .members(&id, view)?
        .into_iter()
        .map(member_json)
        .collect();
    Ok(Json(collection(&base_url, "directoryObjects", members)))
}

/// `GET /users/{id}/memberOf`: direct groups and directory roles.
pub async fn member_of(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    BaseUrl(base_url): BaseUrl,
) -> Result<Json<Value>, GraphError> {
    memberships(&sim, &key, &base_url, Reach::Direct, true)
}

/// `GET /users/{id}/memberOf/microsoft.graph.group`: direct groups only.
pub async fn member_of_groups(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    BaseUrl(base_url): BaseUrl,
) -> Result<Json<Value>, GraphError> {
    memberships(&sim, &key, &base_url, Reach::Direct, false)
}

/// `GET /users/{id}/transitiveMemberOf`: groups through nesting, and roles.
pub async fn transitive_member_of(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    BaseUrl(base_url): BaseUrl,
) -> Result<Json<Value>, GraphError> {
    memberships(&sim, &key, &base_url, Reach::Transitive, true)
}

/// `GET /users/{id}/transitiveMemberOf/microsoft.graph.group`.
pub async fn transitive_member_of_groups(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    BaseUrl(base_url): BaseUrl,
) -> Result<Json<Value>, GraphError> {
    memberships(&sim, &key, &base_url, Reach::Transitive, false)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Reach {
    Direct,
    Transitive,
}

fn memberships(
    sim: &Sim,
    key: &str,
    base_url: &str,
    reach: Reach,
    with_roles: bool,
) -> Result<Json<Value>, GraphError> {
    let view = sim.view();
    let directory = sim.directory();
    let id = directory.find_visible(key, view)?.id().to_string();
    let groups = match reach {
        Reach::Direct => directory.member_of(&id),
        Reach::Transitive => directory.transitive_member_of(&id),
    };
    let mut items: Vec<Value> = groups.into_iter().map(group_json).collect();
    if with_roles {
        let roles = directory.roles_of(&id, reach == Reach::Transitive);
        items.extend(roles.into_iter().map(|r| r.directory_role_json()));
    }
    let kind = if with_roles {
        "directoryObjects"
    } else {
        "groups"
    };
    Ok(Json(collection(base_url, kind, items)))
}

fn add(sim: &Sim, group: &str, ids: &[String], caller: &Caller) -> Result<(), GraphError> {
    let manages_roles = manages_roles(sim, caller);
    let view = sim.view();
    sim.directory()
        .add_members(group, ids, view, manages_roles)?;
    info!(%group, members = ?ids, "members added");
    Ok(())
}

fn manages_roles(sim: &Sim, caller: &Caller) -> bool {
    sim.client(&caller.client_id)
        .is_some_and(|c| c.has_permission(ROLE_MANAGEMENT))
}

/// The object id at the end of an `@odata.id` such as
/// `https://graph.microsoft.com/v1.0/directoryObjects/{id}` (or `/users/{id}`, `/groups/{id}`).
fn object_id(reference: &str) -> Result<String, GraphError> {
    let path = reference.split(['?', '#']).next().unwrap_or_default();
    let mut segments = path.rsplit('/');
    let (id, kind) = (segments.next().unwrap_or_default(), segments.next());
    let known = kind.is_some_and(|k| {
        ["directoryObjects", "users", "groups"]
            .iter()
            .any(|name| name.eq_ignore_ascii_case(k))
    });
    if known && !id.is_empty() {
        Ok(id.to_string())
    } else {
        Err(GraphError::bad_request(
            "Request_BadRequest",
            format!("Invalid object identifier '{reference}'."),
        ))
    }
}

fn invalid_reference_list() -> GraphError {
    GraphError::bad_request(
        "Request_BadRequest",
        "'members@odata.bind' must be an array of object URLs.",
    )
}

fn group_json(group: &Group) -> Value {
    let mut item = Map::new();
    item.insert("@odata.type".into(), "#microsoft.graph.group".into());
    item.extend(group.props.clone());
    Value::Object(item)
}

fn member_json(member: Member<'_>) -> Value {
    match member {
        Member::Group(group) => group_json(group),
        Member::User(user) => {
            let mut item = Map::new();
            item.insert("@odata.type".into(), "#microsoft.graph.user".into());
            item.extend(Selection::Default.render(user));
            Value::Object(item)
        }
    }
}

fn collection(base_url: &str, kind: &str, items: Vec<Value>) -> Value {
    json!({
        "@odata.context": format!("{base_url}/v1.0/$metadata#{kind}"),
        "value": items,
    })
}

/// The group filters this simulator answers.
#[derive(Debug, PartialEq, Eq)]
enum GroupFilter {
    Equals(&'static str, String),
    StartsWith(String),
}

const GROUP_FIELDS: &[&str] = &["displayName", "mailNickname", "id", "mail"];

impl GroupFilter {
    fn parse(text: &str) -> Result<Self, GraphError> {
        let unsupported =
            || GraphError::unsupported_query(format!("Unsupported filter on groups: '{text}'."));
        let tokens = lex(text).map_err(|_| unsupported())?;
        let field = |name: &str| {
            GROUP_FIELDS
                .iter()
                .copied()
                .find(|f| f.eq_ignore_ascii_case(name))
        };
        match tokens.as_slice() {
            [Token::Word(name), Token::Word(op), Token::Text(value)]
                if op.eq_ignore_ascii_case("eq") =>
            {
                Ok(Self::Equals(
                    field(name).ok_or_else(unsupported)?,
                    value.clone(),
                ))
            }
            [
                Token::Word(f),
                Token::Open,
                Token::Word(name),
                Token::Comma,
                Token::Text(value),
                Token::Close,
            ] if f.eq_ignore_ascii_case("startsWith")
                && name.eq_ignore_ascii_case("displayName") =>
            {
                Ok(Self::StartsWith(value.clone()))
            }
            _ => Err(unsupported()),
        }
    }

    fn matches(&self, group: &Group) -> bool {
        let text = |name: &str| {
            group
                .props
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_lowercase)
        };
        match self {
            Self::Equals(name, value) => text(name) == Some(value.to_lowercase()),
            Self::StartsWith(prefix) => {
                text("displayName").is_some_and(|n| n.starts_with(&prefix.to_lowercase()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_the_object_at_the_end_of_the_url() {
        let id = "6e2c0b1a-0000-4000-8000-000000000001";
        for url in [
            format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}"),
            format!("http://127.0.0.1:1/v1.0/users/{id}"),
            format!("https://graph.microsoft.com/v1.0/groups/{id}"),
        ] {
            assert_eq!(object_id(&url).unwrap(), id);
        }
        assert!(object_id("https://graph.microsoft.com/v1.0/applications/x").is_err());
        assert!(object_id(id).is_err());
    }

    #[test]
    fn group_filters_cover_lookups_by_name() {
        assert_eq!(
            GroupFilter::parse("displayName eq 'Sales'").unwrap(),
            GroupFilter::Equals("displayName", "Sales".into())
        );
        assert_eq!(
            GroupFilter::parse("startswith(displayName,'Sa')").unwrap(),
            GroupFilter::StartsWith("Sa".into())
        );
        assert!(GroupFilter::parse("securityEnabled eq true").is_err());
    }
}
