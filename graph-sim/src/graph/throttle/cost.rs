//! What a request costs in resource units and writes, after Entra's published table.

use axum::http::{Method, Uri};

use crate::graph::query::QueryParams;

/// The cost of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    /// Resource units, at least 1.
    pub units: u32,
    /// Writes: 1 for any request that is not a read.
    pub writes: u32,
}

/// A `$top` below this lowers the cost by one unit.
const SMALL_TOP: u32 = 20;

/// The cost of `method uri`, where the path may or may not start with `/v1.0`.
pub fn of(method: &Method, uri: &Uri) -> Cost {
    let read = method == Method::GET || method == Method::HEAD;
    let segments: Vec<String> = uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .skip_while(|s| s == "v1.0")
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let base = if read { read_cost(&segments) } else { 1 };
    let params = QueryParams::from_uri(uri);
    let units = (base + modifiers(&params)).max(1);
    Cost {
        units: u32::try_from(units).unwrap_or(1),
        writes: u32::from(!read),
    }
}

fn read_cost(segments: &[&str]) -> i64 {
    match segments {
        ["users"] => 2,
        ["subscribedskus"] => 3,
        ["groups", _, "members", ..] => 3,
        ["groups", _, "transitivemembers", ..] => 5,
        [
            "users",
            _,
            "memberof" | "transitivememberof" | "licensedetails",
            ..,
        ] => 2,
        _ => 1,
    }
}

fn modifiers(params: &QueryParams) -> i64 {
    let mut change = 0;
    if params.option("$select").is_some() {
        change -= 1;
    }
    if params.option("$expand").is_some() {
        change += 1;
    }
    let small_top = params
        .option("$top")
        .and_then(|t| t.trim().parse::<u32>().ok())
        .is_some_and(|t| t < SMALL_TOP);
    if small_top {
        change -= 1;
    }
    change
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(method: Method, uri: &str) -> Cost {
        of(&method, &uri.parse().unwrap())
    }

    #[test]
    fn base_costs_follow_the_table() {
        assert_eq!(
            cost(Method::GET, "/v1.0/users"),
            Cost {
                units: 2,
                writes: 0
            }
        );
        assert_eq!(cost(Method::GET, "/v1.0/subscribedSkus").units, 3);
        assert_eq!(cost(Method::GET, "/v1.0/groups/g/members").units, 3);
        assert_eq!(
            cost(Method::GET, "/v1.0/groups/g/transitiveMembers").units,
            5
        );
        assert_eq!(cost(Method::GET, "/v1.0/users/u/memberOf").units, 2);
        assert_eq!(cost(Method::GET, "/v1.0/users/u").units, 1);
        assert_eq!(
            cost(Method::POST, "/v1.0/users"),
            Cost {
                units: 1,
                writes: 1
            }
        );
        assert_eq!(cost(Method::DELETE, "/v1.0/users/u").writes, 1);
    }

    #[test]
    fn query_options_adjust_the_cost_but_never_below_one() {
        assert_eq!(cost(Method::GET, "/v1.0/users?$select=id").units, 1);
        assert_eq!(cost(Method::GET, "/v1.0/users?$select=id&$top=5").units, 1);
        assert_eq!(cost(Method::GET, "/v1.0/subscribedSkus?$top=5").units, 2);
        assert_eq!(cost(Method::GET, "/v1.0/users?$expand=manager").units, 3);
        assert_eq!(cost(Method::GET, "/v1.0/users?$top=20").units, 2);
    }
}
