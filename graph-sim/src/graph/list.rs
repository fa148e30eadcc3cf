//! `GET /users`: which options are allowed, filtering, searching, ordering, and pages linked
//! by skip tokens.

use std::cmp::Ordering;

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use super::filter::{self, Filter, FilterError};
use super::query::{QueryParams, encode_component, is_advanced, is_eventual};
use super::search::Search;
use super::select::Selection;
use crate::directory::{Directory, User, View};
use crate::http::error::GraphError;

/// Page size without `$top`.
const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest `$top` Graph accepts for users.
const MAX_PAGE_SIZE: usize = 999;
/// System query options this slice of the simulator answers on a user list.
const SUPPORTED_OPTIONS: &[&str] = &[
    "$filter",
    "$select",
    "$top",
    "$skiptoken",
    "$count",
    "$orderby",
    "$search",
];
/// Properties Graph sorts users by without an advanced query.
const BASIC_ORDER: &[&str] = &["displayName", "userPrincipalName"];
/// Properties it sorts by in advanced queries as well.
const ADVANCED_ORDER: &[&str] = &[
    "givenName",
    "surname",
    "mail",
    "createdDateTime",
    "employeeId",
];
/// Skip tokens of ordered or searched lists count positions and start with this letter;
/// creation-ordered lists use the last user's sequence number.
const OFFSET_TOKEN: char = 'o';

/// A user list request, read from its query options.
#[derive(Debug)]
pub struct ListQuery {
    filter: Option<Filter>,
    search: Option<Search>,
    order: Option<Order>,
    selection: Selection,
    page_size: usize,
    /// Where the previous page ended.
    after: Option<Position>,
    /// Whether to report `@odata.count` (advanced queries only).
    count: bool,
}

/// `$orderby`: one property, ascending or descending.
#[derive(Clone, Copy, Debug)]
struct Order {
    property: &'static str,
    descending: bool,
}

/// Where a page starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Position {
    /// After the user with this creation sequence number.
    After(u64),
    /// At this offset into the ordered result.
    Offset(usize),
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
    /// Reads the options; the headers say whether the request opted into advanced queries.
    pub fn parse(params: &QueryParams, headers: &HeaderMap) -> Result<Self, GraphError> {
        let advanced = is_advanced(headers, params);
        if let Some(option) = params.system_options().find(|o| !is_supported(o)) {
            let message = format!("Query option '{option}' is not supported on users here.");
            return Err(GraphError::unsupported_query(message));
        }
        let filter = params
            .option("$filter")
            .map(|f| read_filter(f, advanced))
            .transpose()?;
        let order = params
            .option("$orderby")
            .map(|o| read_order(o, advanced, filter.is_some()))
            .transpose()?;
        let search = params
            .option("$search")
            .map(|s| read_search(s, is_eventual(headers)))
            .transpose()?;
        Ok(Self {
            filter,
            search,
            order,
            selection: Selection::from_query(params)?,
            page_size: page_size(params.option("$top"))?,
            after: params
                .option("$skiptoken")
                .map(read_skip_token)
                .transpose()?,
            count: advanced,
        })
    }

    /// The page of visible users this query asks for, in creation order unless `$orderby`
    /// says otherwise.
    pub fn run(&self, directory: &Directory, view: View) -> Page {
        let mut matching: Vec<&User> = directory
            .visible_users(view)
            .filter(|u| self.filter.as_ref().is_none_or(|f| f.matches(u)))
            .filter(|u| self.search.as_ref().is_none_or(|s| s.matches(u)))
            .collect();
        if let Some(order) = self.order {
            matching.sort_by(|a, b| order.compare(a, b));
        }
        let by_offset = self.order.is_some() || self.search.is_some();
        let start = match self.after {
            None => 0,
            Some(Position::Offset(offset)) => offset.min(matching.len()),
            Some(Position::After(after)) => matching.partition_point(|u| u.seq <= after),
        };
        let rest = &matching[start..];
        let shown = &rest[..rest.len().min(self.page_size)];
        let next = (rest.len() > shown.len())
            .then(|| match shown.last() {
                _ if by_offset => Some(format!("{OFFSET_TOKEN}{:x}", start + shown.len())),
                Some(last) => Some(format!("{:016x}", last.seq)),
                None => None,
            })
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

fn read_order(text: &str, advanced: bool, filtered: bool) -> Result<Order, GraphError> {
    let mut words = text.split_whitespace();
    let name = words.next().unwrap_or_default();
    let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            let message = format!("Invalid $orderby direction '{other}'.");
            return Err(GraphError::bad_request("BadRequest", message));
        }
    };
    let find = |list: &[&'static str]| list.iter().copied().find(|p| p.eq_ignore_ascii_case(name));
    let property = match (find(BASIC_ORDER), find(ADVANCED_ORDER)) {
        (Some(p), _) if advanced || !filtered => p,
        (None, Some(p)) if advanced => p,
        (Some(_), _) | (None, Some(_)) => {
            return Err(GraphError::unsupported_query(
                "Sorting by this property, or sorting a filtered list, is only supported as an \
                 advanced query: send the header 'ConsistencyLevel: eventual' and $count=true.",
            ));
        }
        (None, None) => {
            return Err(GraphError::unsupported_query(format!(
                "Order by '{name}' is not supported."
            )));
        }
    };
    Ok(Order {
        property,
        descending,
    })
}

fn read_search(text: &str, eventual: bool) -> Result<Search, GraphError> {
    if !eventual {
        return Err(GraphError::unsupported_query(
            "Search is only supported with the header 'ConsistencyLevel: eventual'.",
        ));
    }
    Search::parse(text.trim())
        .map_err(|e| GraphError::bad_request("BadRequest", format!("Invalid search: {e}.")))
}

impl Order {
    fn compare(&self, a: &User, b: &User) -> Ordering {
        let key = |u: &User| u.text(self.property).map(str::to_lowercase);
        // Users without the property sort last either way, as the directory puts nulls.
        let ordering = match (key(a), key(b)) {
            (Some(x), Some(y)) if self.descending => y.cmp(&x),
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        ordering.then(a.seq.cmp(&b.seq))
    }
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

fn read_skip_token(token: &str) -> Result<Position, GraphError> {
    let position = match token.strip_prefix(OFFSET_TOKEN) {
        Some(offset) => usize::from_str_radix(offset, 16).ok().map(Position::Offset),
        None => u64::from_str_radix(token, 16).ok().map(Position::After),
    };
    position.ok_or_else(|| {
        GraphError::bad_request("Request_BadRequest", "The skip token is not valid.")
    })
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

    fn advanced() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("ConsistencyLevel", "eventual".parse().unwrap());
        headers
    }

    #[test]
    fn unsupported_options_and_advanced_filters_are_refused() {
        let skip = ListQuery::parse(&params(&[("$skip", "2")]), &HeaderMap::new());
        assert_eq!(skip.unwrap_err().status().as_u16(), 400);
        let ends = params(&[("$filter", "endsWith(mail,'@contoso.example')")]);
        assert!(ListQuery::parse(&ends, &HeaderMap::new()).is_err());
        assert!(ListQuery::parse(&ends, &advanced()).is_err(), "no $count");
        let counted = params(&[
            ("$filter", "endsWith(mail,'@contoso.example')"),
            ("$count", "true"),
        ]);
        assert!(ListQuery::parse(&counted, &advanced()).is_ok());
    }

    #[test]
    fn ordering_a_filtered_list_and_searching_need_the_headers() {
        let plain = params(&[("$orderby", "displayName desc")]);
        assert!(ListQuery::parse(&plain, &HeaderMap::new()).is_ok());
        let filtered = params(&[
            ("$orderby", "displayName"),
            ("$filter", "accountEnabled eq true"),
        ]);
        assert!(ListQuery::parse(&filtered, &HeaderMap::new()).is_err());
        let mut counted = filtered.0.clone();
        counted.push(("$count".into(), "true".into()));
        assert!(ListQuery::parse(&QueryParams(counted), &advanced()).is_ok());
        let search = params(&[("$search", "\"displayName:zoe\"")]);
        assert!(ListQuery::parse(&search, &HeaderMap::new()).is_err());
        assert!(ListQuery::parse(&search, &advanced()).is_ok());
    }

    #[test]
    fn skip_tokens_name_a_user_or_an_offset() {
        assert_eq!(
            read_skip_token("000000000000000a").unwrap(),
            Position::After(10)
        );
        assert_eq!(read_skip_token("o1f").unwrap(), Position::Offset(31));
        assert!(read_skip_token("zz").is_err());
    }
}
