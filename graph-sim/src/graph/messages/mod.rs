//! `GET /users/{id | upn}/mailFolders/{SentItems}/messages`, also written
//! `mailFolders('SentItems')`: the sender's copies of sent mail, with the `$filter` that finds a
//! message by a custom property, `$select`, `$expand` of extended properties, and paging.

mod filter;

use std::sync::Arc;

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value};

use filter::MessageFilter;

use super::mail::no_mailbox;
use super::query::{QueryParams, encode_component};
use crate::http::context::BaseUrl;
use crate::http::error::GraphError;
use crate::mailbox::SentItem;
use crate::sim::Sim;

/// Page size without `$top`, as Outlook pages messages.
const DEFAULT_PAGE_SIZE: usize = 10;
/// Largest `$top` Outlook accepts.
const MAX_PAGE_SIZE: usize = 1000;
const SUPPORTED_OPTIONS: &[&str] = &["$filter", "$select", "$top", "$skip", "$expand", "$count"];
/// Properties left out of a message unless `$select` or `$expand` asks for them.
const ON_REQUEST: &[&str] = &["internetMessageHeaders", "singleValueExtendedProperties"];

/// `.../mailFolders/{folder}/messages`.
pub async fn by_folder_name(
    State(sim): State<Arc<Sim>>,
    Path((key, folder)): Path<(String, String)>,
    BaseUrl(base_url): BaseUrl,
    OriginalUri(uri): OriginalUri,
    params: QueryParams,
) -> Result<Json<Value>, GraphError> {
    list(&sim, &key, &folder, &base_url, uri.path(), &params).map(Json)
}

/// `.../mailFolders('{folder}')/messages`.
pub async fn by_folder_call(
    State(sim): State<Arc<Sim>>,
    Path((key, segment)): Path<(String, String)>,
    BaseUrl(base_url): BaseUrl,
    OriginalUri(uri): OriginalUri,
    params: QueryParams,
) -> Result<Json<Value>, GraphError> {
    let folder = segment
        .strip_prefix("mailFolders(")
        .and_then(|s| s.strip_suffix(')'))
        .map(|s| s.trim_matches('\''))
        .ok_or_else(|| {
            GraphError::bad_request(
                "BadRequest",
                format!("Resource not found for the segment '{segment}'."),
            )
        })?;
    list(&sim, &key, folder, &base_url, uri.path(), &params).map(Json)
}

fn list(
    sim: &Sim,
    key: &str,
    folder: &str,
    base_url: &str,
    path: &str,
    params: &QueryParams,
) -> Result<Value, GraphError> {
    if !folder.eq_ignore_ascii_case("SentItems") {
        return Err(GraphError::new(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        ));
    }
    let query = MessageQuery::parse(params)?;
    let owner = mailbox_owner(sim, key)?;
    let mailboxes = sim.mailboxes();
    let matching: Vec<&SentItem> = mailboxes
        .sent_items(&owner)
        .into_iter()
        .filter(|m| query.filter.as_ref().is_none_or(|f| f.matches(&m.props)))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(query.skip)
        .take(query.top)
        .map(|m| Value::Object(query.render(&m.props)))
        .collect();
    let mut body = Map::new();
    let context =
        format!("{base_url}/v1.0/$metadata#users('{key}')/mailFolders('SentItems')/messages");
    body.insert("@odata.context".into(), context.into());
    if query.skip + page.len() < matching.len() {
        let link = next_link(base_url, path, params, query.skip + page.len());
        body.insert("@odata.nextLink".into(), link.into());
    }
    body.insert("value".into(), Value::Array(page));
    Ok(Value::Object(body))
}

/// The object id of the user whose mailbox `key` names.
fn mailbox_owner(sim: &Sim, key: &str) -> Result<String, GraphError> {
    let view = sim.view();
    let directory = sim.directory();
    let user = directory.find_visible(key, view)?;
    if user.license_skus().is_empty() {
        return Err(no_mailbox());
    }
    Ok(user.id().to_string())
}

/// The options of a message list.
struct MessageQuery {
    filter: Option<MessageFilter>,
    select: Option<Vec<String>>,
    /// Which extended property ids `$expand` asks for; `Some(empty)` means all.
    expand: Option<Vec<String>>,
    top: usize,
    skip: usize,
}

impl MessageQuery {
    fn parse(params: &QueryParams) -> Result<Self, GraphError> {
        if let Some(option) = params
            .system_options()
            .find(|o| !SUPPORTED_OPTIONS.iter().any(|s| s.eq_ignore_ascii_case(o)))
        {
            return Err(GraphError::bad_request(
                "ErrorInvalidUrlQuery",
                format!("The query parameter '{option}' is not supported on messages here."),
            ));
        }
        let filter = params
            .option("$filter")
            .map(MessageFilter::parse)
            .transpose()
            .map_err(|e| {
                GraphError::bad_request(
                    "ErrorInvalidUrlQueryFilter",
                    format!("Invalid filter: {e}."),
                )
            })?;
        Ok(Self {
            filter,
            select: params.option("$select").map(names),
            expand: params.option("$expand").map(expansion).transpose()?,
            top: number(
                params.option("$top"),
                DEFAULT_PAGE_SIZE,
                1..=MAX_PAGE_SIZE,
                "$top",
            )?,
            skip: number(params.option("$skip"), 0, 0..=usize::MAX, "$skip")?,
        })
    }

    /// The message as this query shows it.
    fn render(&self, props: &Map<String, Value>) -> Map<String, Value> {
        let mut shown: Map<String, Value> = match &self.select {
            None => props
                .iter()
                .filter(|(k, _)| !ON_REQUEST.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            Some(names) => std::iter::once("id")
                .chain(names.iter().map(String::as_str))
                .filter_map(|name| {
                    let (key, value) = props.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))?;
                    (key != "singleValueExtendedProperties").then(|| (key.clone(), value.clone()))
                })
                .collect(),
        };
        if let Some(ids) = &self.expand {
            let expanded: Vec<Value> = props["singleValueExtendedProperties"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| {
                    let id = p["id"].as_str().unwrap_or_default();
                    ids.is_empty() || ids.iter().any(|i| i.eq_ignore_ascii_case(id))
                })
                .cloned()
                .collect();
            if !expanded.is_empty() {
                shown.insert(
                    "singleValueExtendedProperties".into(),
                    Value::Array(expanded),
                );
            }
        }
        shown
    }
}

fn names(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

/// `singleValueExtendedProperties` or `singleValueExtendedProperties($filter=id eq '...')`,
/// with `or` between several ids.
fn expansion(text: &str) -> Result<Vec<String>, GraphError> {
    let refused = || {
        GraphError::bad_request(
            "ErrorInvalidUrlQuery",
            format!("Expanding '{text}' is not supported on messages here."),
        )
    };
    let text = text.trim();
    let Some(rest) = text.strip_prefix("singleValueExtendedProperties") else {
        return Err(refused());
    };
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let inner = rest
        .strip_prefix("($filter=")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(refused)?;
    inner
        .split(" or ")
        .map(|clause| {
            let value = clause.trim().strip_prefix("id eq '")?.strip_suffix('\'')?;
            Some(value.replace("''", "'"))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(refused)
}

fn number(
    text: Option<&str>,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
    name: &str,
) -> Result<usize, GraphError> {
    let Some(text) = text else {
        return Ok(default);
    };
    match text.trim().parse::<usize>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(GraphError::bad_request(
            "ErrorInvalidUrlQuery",
            format!("The value '{text}' of {name} is not valid."),
        )),
    }
}

fn next_link(base_url: &str, path: &str, params: &QueryParams, skip: usize) -> String {
    let mut pairs: Vec<String> = params
        .0
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("$skip"))
        .map(|(name, value)| format!("{}={}", encode_component(name), encode_component(value)))
        .collect();
    pairs.push(format!("$skip={skip}"));
    format!("{base_url}{path}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_reads_the_id_filter() {
        assert_eq!(
            expansion("singleValueExtendedProperties").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            expansion("singleValueExtendedProperties($filter=id eq 'String 0x1' or id eq 'a''b')")
                .unwrap(),
            ["String 0x1", "a'b"]
        );
        assert!(expansion("attachments").is_err());
    }
}
