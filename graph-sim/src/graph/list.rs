//! `GET /users`: which options are allowed, filtering, and pages linked by skip tokens.

use serde_json::{Map, Value};

use super::filter::{self, Filter, FilterError};
use super::query::{QueryParams, encode_component};
use super::select::Selection;
use crate::directory::{Directory, View};
use crate::http::error::GraphError;

/// Page size without `$top`.
const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest `$top` Graph accepts for users.
const MAX_PAGE_SIZE: usize = 999;
/// System query options this slice of the simulator answers on a user list.
const SUPPORTED_OPTIONS: &[&str] = &["$filter", "$select", "$top", "$skiptoken", "$count"];

/// A user list request, read from its query options.
#[derive(Debug)]
pub struct ListQuery {
    filter: Option<Filter>,
    selection: Selection,
    page_size: usize,
    /// Creation sequence number of the last user of the previous page.
    after: Option<u64>,
    /// Whether to report `@odata.count` (advanced queries only).
    count: bool,
}

/// One page of a user list.
#[derive(Debug)]
pub struct Page {
    users: Vec<Value>,
    total: usize,
    /// The skip token of the next page, if there is one.
    next: Option<String>,
}

impl ListQuery {
    /// Reads the options; `advanced` says whether the request opted into advanced queries.
    pub fn parse(params: &QueryParams, advanced: bool) -> Result<Self, GraphError> {
        if let Some(option) = params.system_options().find(|o| !is_supported(o)) {
            let message = format!("Query option '{option}' is not supported on users here.");
            return Err(GraphError::unsupported_query(message));
        }
        let filter = params
            .option("$filter")
            .map(|f| read_filter(f, advanced))
            .transpose()?;
        Ok(Self {
            filter,
            selection: Selection::from_query(params)?,
            page_size: page_size(params.option("$top"))?,
            after: params
                .option("$skiptoken")
                .map(read_skip_token)
                .transpose()?,
            count: advanced,
        })
    }

    /// The page of visible users this query asks for, in creation order.
    pub fn run(&self, directory: &Directory, view: View) -> Page {
        let matching: Vec<_> = directory
            .visible_users(view)
            .filter(|u| self.filter.as_ref().is_none_or(|f| f.matches(u)))
            .collect();
        let start = self
            .after
            .map_or(0, |after| matching.partition_point(|u| u.seq <= after));
        let rest = &matching[start..];
        let shown = &rest[..rest.len().min(self.page_size)];
        let next = (rest.len() > shown.len())
            .then(|| shown.last().map(|u| format!("{:016x}", u.seq)))
            .flatten();
        let users = shown
            .iter()
            .map(|u| Value::Object(self.selection.render(u)))
            .collect();
        Page {
            users,
            total: matching.len(),
            next,
        }
    }

    /// The page as Graph writes it, with an absolute `@odata.nextLink` that repeats the
    /// request's options.
    pub fn to_json(&self, page: Page, params: &QueryParams, base_url: &str) -> Value {
        let mut body = Map::new();
        body.insert(
            "@odata.context".into(),
            self.selection.context(base_url).into(),
        );
        if self.count {
            body.insert("@odata.count".into(), page.total.into());
        }
        if let Some(token) = page.next {
            body.insert(
                "@odata.nextLink".into(),
                next_link(params, &token, base_url).into(),
            );
        }
        body.insert("value".into(), Value::Array(page.users));
        Value::Object(body)
    }
}

fn is_supported(option: &str) -> bool {
    SUPPORTED_OPTIONS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(option))
}

fn read_filter(text: &str, advanced: bool) -> Result<Filter, GraphError> {
    let filter = filter::parse(text).map_err(filter_error)?;
    if filter.needs_advanced() && !advanced {
        return Err(GraphError::unsupported_query(
            "This filter is only supported as an advanced query: send the header \
             'ConsistencyLevel: eventual' and the option $count=true.",
        ));
    }
    Ok(filter)
}

fn filter_error(error: FilterError) -> GraphError {
    match error {
        FilterError::Syntax(detail) => {
            GraphError::bad_request("BadRequest", format!("Invalid filter clause: {detail}."))
        }
        FilterError::UnknownProperty(name) => GraphError::bad_request(
            "BadRequest",
            format!("Could not find a property named '{name}' on type 'microsoft.graph.user'."),
        ),
        FilterError::Unsupported(what) => {
            GraphError::unsupported_query(format!("Unsupported query: {what} is not supported."))
        }
    }
}

fn page_size(top: Option<&str>) -> Result<usize, GraphError> {
    let Some(top) = top else {
        return Ok(DEFAULT_PAGE_SIZE);
    };
    match top.trim().parse::<usize>() {
        Ok(size) if (1..=MAX_PAGE_SIZE).contains(&size) => Ok(size),
        _ => Err(GraphError::bad_request(
            "Request_BadRequest",
            format!(
                "Invalid page size specified: '{top}'. Must be between 1 and {MAX_PAGE_SIZE} \
                 inclusive."
            ),
        )),
    }
}

fn read_skip_token(token: &str) -> Result<u64, GraphError> {
    u64::from_str_radix(token, 16)
        .map_err(|_| GraphError::bad_request("Request_BadRequest", "The skip token is not valid."))
}

fn next_link(params: &QueryParams, token: &str, base_url: &str) -> String {
    let kept = params
        .0
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("$skiptoken"));
    let mut pairs: Vec<String> = kept
        .map(|(name, value)| format!("{}={}", encode_component(name), encode_component(value)))
        .collect();
    pairs.push(format!("$skiptoken={token}"));
    format!("{base_url}/v1.0/users?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> QueryParams {
        QueryParams(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn top_is_bounded() {
        assert_eq!(page_size(None).unwrap(), 100);
        assert_eq!(page_size(Some("999")).unwrap(), 999);
        assert_eq!(page_size(Some("1000")).unwrap_err().status().as_u16(), 400);
        assert_eq!(page_size(Some("0")).unwrap_err().status().as_u16(), 400);
    }

    #[test]
    fn the_next_link_keeps_options_and_replaces_the_token() {
        let link = next_link(
            &params(&[
                ("$top", "5"),
                ("$skiptoken", "old"),
                ("$filter", "mail eq 'a&b'"),
            ]),
            "0000000000000009",
            "http://127.0.0.1:1",
        );
        assert_eq!(
            link,
            "http://127.0.0.1:1/v1.0/users?$top=5&$filter=mail%20eq%20'a%26b'\
             &$skiptoken=0000000000000009"
        );
    }

    #[test]
    fn unsupported_options_and_advanced_filters_are_refused() {
        let orderby = ListQuery::parse(&params(&[("$orderby", "displayName")]), false);
        assert_eq!(orderby.unwrap_err().status().as_u16(), 400);
        let ends = params(&[("$filter", "endsWith(mail,'@contoso.example')")]);
        assert!(ListQuery::parse(&ends, false).is_err());
        assert!(ListQuery::parse(&ends, true).is_ok());
    }
}
