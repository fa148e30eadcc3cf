//! `GET /users/delta`: a full first round, then only what changed since a delta token —
//! changed users in full, deleted ones as `@removed` — with tokens that expire.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::query::{QueryParams, encode_component};
use super::select::Selection;
use crate::directory::{Directory, User, View};
use crate::http::context::BaseUrl;
use crate::http::error::GraphError;
use crate::sim::Sim;

/// Users per page unless `Prefer: odata.maxpagesize` asks for fewer.
const PAGE_SIZE: usize = 100;
const SUPPORTED_OPTIONS: &[&str] = &["$select", "$deltatoken", "$skiptoken"];

/// A moment of the directory: its change number and the time since the simulator started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mark {
    change: u64,
    at_ms: u64,
}

/// One round of delta pages: the changes after `since` (everything when `None`) up to
/// `upto`, resuming after the user with creation number `after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Round {
    since: Option<Mark>,
    upto: Mark,
    after: u64,
}

/// `GET /users/delta`.
pub async fn users(
    State(sim): State<Arc<Sim>>,
    BaseUrl(base_url): BaseUrl,
    headers: HeaderMap,
    params: QueryParams,
) -> Result<Json<Value>, GraphError> {
    if let Some(option) = params
        .system_options()
        .find(|o| !SUPPORTED_OPTIONS.iter().any(|s| s.eq_ignore_ascii_case(o)))
    {
        return Err(GraphError::unsupported_query(format!(
            "Query option '{option}' is not supported on users/delta."
        )));
    }
    let selection = Selection::from_query(&params)?;
    let view = sim.view();
    let directory = sim.directory();
    let now = mark(&directory, sim.started, view.now);
    let round = Round::from_query(&params, now, &sim)?;
    let entries = round.entries(&directory, view, sim.started);
    let page = &entries[..entries.len().min(page_size(&headers))];
    let (link_name, link_url) = match page.last() {
        Some((seq, _)) if entries.len() > page.len() => {
            let next = round.resumed_after(*seq).encode();
            (
                "@odata.nextLink",
                link(&base_url, &params, "$skiptoken", &next),
            )
        }
        _ => {
            let next = round.following().encode();
            (
                "@odata.deltaLink",
                link(&base_url, &params, "$deltatoken", &next),
            )
        }
    };
    let value: Vec<Value> = page
        .iter()
        .map(|(_, entry)| entry.render(&selection))
        .collect();
    Ok(Json(json!({
        "@odata.context": selection.context(&base_url),
        "value": value,
        link_name: link_url,
    })))
}

/// One item of a delta page.
enum Entry<'a> {
    Present(&'a User),
    Removed { id: String, reason: &'static str },
}

impl Entry<'_> {
    fn render(&self, selection: &Selection) -> Value {
        match self {
            Self::Present(user) => Value::Object(selection.render(user)),
            Self::Removed { id, reason } => json!({"id": id, "@removed": {"reason": reason}}),
        }
    }
}

impl Round {
    /// The same round, continuing after the user with creation number `seq`.
    fn resumed_after(self, seq: u64) -> Self {
        Self { after: seq, ..self }
    }

    /// The next round: the changes after this one's end.
    fn following(self) -> Self {
        Self {
            since: Some(self.upto),
            upto: self.upto,
            after: 0,
        }
    }

    fn from_query(params: &QueryParams, now: Mark, sim: &Sim) -> Result<Self, GraphError> {
        if let Some(token) = params.option("$skiptoken") {
            return Self::decode(token, now).ok_or_else(invalid_token);
        }
        let Some(token) = params.option("$deltatoken") else {
            return Ok(Self {
                since: None,
                upto: now,
                after: 0,
            });
        };
        if token.eq_ignore_ascii_case("latest") {
            // Nothing to report; the delta link starts from now.
            return Ok(Self {
                since: Some(now),
                upto: now,
                after: 0,
            });
        }
        let round = Self::decode(token, now).ok_or_else(invalid_token)?;
        let issued = round.since.ok_or_else(invalid_token)?;
        let age = now.at_ms.saturating_sub(issued.at_ms);
        if u128::from(age) > sim.delta_token_lifetime.as_millis() {
            return Err(GraphError::new(
                StatusCode::GONE,
                "syncStateNotFound",
                "The delta token has expired. Start over with a full synchronization.",
            ));
        }
        Ok(Self {
            since: Some(issued),
            upto: now,
            after: 0,
        })
    }

    /// The users (and users deleted for good) this round reports, by creation order.
    fn entries<'d>(
        &self,
        directory: &'d Directory,
        view: View,
        started: Instant,
    ) -> Vec<(u64, Entry<'d>)> {
        let mut entries: Vec<(u64, Entry<'d>)> = directory
            .all_users()
            .iter()
            .filter(|u| u.seq > self.after && u.is_replicated(view))
            .filter(|u| self.reports(u, view, started))
            .map(|u| {
                let entry = match u.deleted {
                    None => Entry::Present(u),
                    Some(_) => Entry::Removed {
                        id: u.id().to_string(),
                        reason: "changed",
                    },
                };
                (u.seq, entry)
            })
            .collect();
        if let Some(since) = self.since {
            let purged = directory.tombstones().iter().filter(|t| {
                t.seq > self.after && t.changed > since.change && t.changed <= self.upto.change
            });
            entries.extend(purged.map(|t| {
                (
                    t.seq,
                    Entry::Removed {
                        id: t.id.clone(),
                        reason: "deleted",
                    },
                )
            }));
            entries.sort_by_key(|(seq, _)| *seq);
        }
        entries
    }

    fn reports(&self, user: &User, view: View, started: Instant) -> bool {
        let Some(since) = self.since else {
            return user.deleted.is_none() && user.changed <= self.upto.change;
        };
        let changed = user.changed > since.change && user.changed <= self.upto.change;
        // A user replication hid when the token was issued is news once it shows.
        let appeared = user
            .visible_since(view.lag)
            .map(|t| millis_since(started, t))
            .is_some_and(|t| t > since.at_ms && t <= self.upto.at_ms);
        changed || (appeared && user.deleted.is_none())
    }

    fn encode(&self) -> String {
        let since = self.since.map_or_else(
            || "n.n".to_string(),
            |s| format!("{:x}.{:x}", s.change, s.at_ms),
        );
        format!(
            "{since}.{:x}.{:x}.{:x}",
            self.upto.change, self.upto.at_ms, self.after
        )
    }

    fn decode(token: &str, now: Mark) -> Option<Self> {
        let parts: Vec<&str> = token.split('.').collect();
        let [since_change, since_at, upto_change, upto_at, after] = parts.as_slice() else {
            return None;
        };
        let hex = |s: &str| u64::from_str_radix(s, 16).ok();
        let since = match (*since_change, *since_at) {
            ("n", "n") => None,
            (c, a) => Some(Mark {
                change: hex(c)?,
                at_ms: hex(a)?,
            }),
        };
        let upto = Mark {
            change: hex(upto_change)?,
            at_ms: hex(upto_at)?,
        };
        // A token from the future was made by another simulator.
        let plausible = upto.change <= now.change && upto.at_ms <= now.at_ms;
        plausible.then_some(Self {
            since,
            upto,
            after: hex(after)?,
        })
    }
}

fn mark(directory: &Directory, started: Instant, now: Instant) -> Mark {
    Mark {
        change: directory.change_number(),
        at_ms: millis_since(started, now),
    }
}

fn millis_since(started: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(started).as_millis()).unwrap_or(u64::MAX)
}

fn invalid_token() -> GraphError {
    GraphError::bad_request(
        "Request_BadRequest",
        "The delta or skip token is not valid.",
    )
}

/// `Prefer: odata.maxpagesize=N`, within 1 to the default page size.
fn page_size(headers: &HeaderMap) -> usize {
    headers
        .get_all("Prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
        .filter_map(|n| n.trim().parse::<usize>().ok())
        .map(|n| n.clamp(1, PAGE_SIZE))
        .next()
        .unwrap_or(PAGE_SIZE)
}

fn link(base_url: &str, params: &QueryParams, token_name: &str, token: &str) -> String {
    let mut pairs: Vec<String> = params
        .0
        .iter()
        .filter(|(name, _)| {
            !["$skiptoken", "$deltatoken"]
                .iter()
                .any(|t| t.eq_ignore_ascii_case(name))
        })
        .map(|(name, value)| format!("{}={}", encode_component(name), encode_component(value)))
        .collect();
    pairs.push(format!("{token_name}={token}"));
    format!("{base_url}/v1.0/users/delta?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_the_future() {
        let now = Mark {
            change: 50,
            at_ms: 9000,
        };
        let round = Round {
            since: Some(Mark {
                change: 3,
                at_ms: 100,
            }),
            upto: Mark {
                change: 40,
                at_ms: 8000,
            },
            after: 17,
        };
        assert_eq!(Round::decode(&round.encode(), now), Some(round));
        let first = Round {
            since: None,
            ..round
        };
        assert_eq!(Round::decode(&first.encode(), now), Some(first));
        let later = Mark {
            change: 10,
            at_ms: 9000,
        };
        assert_eq!(Round::decode(&round.encode(), later), None);
        assert_eq!(Round::decode("garbage", now), None);
    }

    #[test]
    fn prefer_limits_the_page() {
        let mut headers = HeaderMap::new();
        assert_eq!(page_size(&headers), 100);
        headers.insert(
            "Prefer",
            "return=minimal, odata.maxpagesize=5".parse().unwrap(),
        );
        assert_eq!(page_size(&headers), 5);
    }
}
