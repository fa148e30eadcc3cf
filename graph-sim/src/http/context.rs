//! The outermost layer: gives every request an id and the base URL of the connection it came
//! on, renders deferred error bodies, stamps the id headers, logs the exchange and applies the
//! answer-delaying fault.

use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};
use tracing::debug;

use super::error::GraphError;
use crate::graph::throttle::ResourceUnits;
use crate::login::AadError;
use crate::net::Peer;
use crate::sim::Sim;
use crate::{clock, ids};

/// Paths of the control API, which is neither logged nor subject to faults.
const CONTROL_PREFIX: &str = "/_sim";

/// What every layer and handler may know about the request being answered.
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The id this simulator gave the request (`request-id` header, `trace_id`).
    pub request_id: String,
    /// The client's own `client-request-id`, if it sent one.
    pub client_request_id: Option<String>,
    /// `http://127.0.0.1:PORT` or `https://…`, as the client reached the simulator; links
    /// handed out use it.
    pub base_url: String,
}

impl RequestContext {
    /// A context for a request with these headers, reached at `base_url`.
    pub fn new(headers: &HeaderMap, base_url: String) -> Self {
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Self {
            request_id: ids::guid(),
            client_request_id,
            base_url,
        }
    }
}

/// The base URL of the request's connection (`http` or `https`), for absolute links.
#[derive(Clone, Debug)]
pub struct BaseUrl(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BaseUrl {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestContext>()
            .map(|c| Self(c.base_url.clone()))
            .ok_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// Middleware wrapping the whole router.
pub async fn track(State(sim): State<Arc<Sim>>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|ConnectInfo(peer)| *peer);
    let tls = peer.is_some_and(|p| p.tls);
    let base_url = sim.base_url_for(tls).to_string();
    let context = RequestContext::new(request.headers(), base_url);
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let received_at = clock::rfc3339_now();
    request.extensions_mut().insert(context.clone());

    let response = finish(next.run(request).await, &context);
    let client = peer.map(|p| p.address.to_string()).unwrap_or_default();
    debug!(%method, %path, %client, tls, status = response.status().as_u16(), "answered");
    if path.starts_with(CONTROL_PREFIX) {
        return response;
    }
    sim.log_request(log_entry(&method, &path, &response, &received_at, false));
    // The change is committed and logged; only the answer waits, as when a client times out.
    if let Some(delay) = sim.faults().delay_after_commit(&method, &path) {
        sim.sleep(delay).await;
    }
    response
}

/// Renders a deferred error body and stamps the id headers: what every answer, one inside a
/// `$batch` included, goes through last.
pub fn finish(response: Response, context: &RequestContext) -> Response {
    let mut response = render_deferred_errors(context, response);
    stamp_ids(context, &mut response);
    response
}

/// An entry of the request log.
pub fn log_entry(method: &str, path: &str, response: &Response, at: &str, in_batch: bool) -> Value {
    let units = response.extensions().get::<ResourceUnits>().map(|r| r.0);
    json!({
        "method": method,
        "path": path,
        "status": response.status().as_u16(),
        "at": at,
        "resourceUnits": units,
        "inBatch": in_batch,
    })
}

/// Replaces a bare error response by its rendered envelope, keeping the headers and
/// extensions the layers put on it (throttling headers, resource units).
fn render_deferred_errors(context: &RequestContext, mut response: Response) -> Response {
    let rendered = if let Some(error) = response.extensions_mut().remove::<GraphError>() {
        error.render(context)
    } else if let Some(error) = response.extensions_mut().remove::<AadError>() {
        error.render(context, &context.base_url)
    } else {
        return response;
    };
    let (parts, _) = response.into_parts();
    let mut rendered = rendered;
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    if let Some(units) = parts.extensions.get::<ResourceUnits>() {
        rendered.extensions_mut().insert(*units);
    }
    rendered
}

fn stamp_ids(context: &RequestContext, response: &mut Response) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&context.request_id) {
        headers.insert("request-id", value);
    }
    let echoed = context
        .client_request_id
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok());
    if let Some(value) = echoed {
        headers.insert("client-request-id", value);
    }
}
