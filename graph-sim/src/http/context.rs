//! The outermost layer: gives every request an id, renders deferred error bodies, stamps the
//! id headers, logs the exchange and applies the answer-delaying fault.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;
use tracing::debug;

use super::error::GraphError;
use crate::login::AadError;
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
}

impl RequestContext {
    fn new(headers: &HeaderMap) -> Self {
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Self {
            request_id: ids::guid(),
            client_request_id,
        }
    }
}

/// Middleware wrapping the whole router.
pub async fn track(State(sim): State<Arc<Sim>>, mut request: Request, next: Next) -> Response {
    let context = RequestContext::new(request.headers());
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let received_at = clock::rfc3339_now();
    request.extensions_mut().insert(context.clone());

    let response = next.run(request).await;
    let mut response = render_deferred_errors(&sim, &context, response);
    stamp_ids(&context, &mut response);
    debug!(%method, %path, status = response.status().as_u16(), "answered");
    if path.starts_with(CONTROL_PREFIX) {
        return response;
    }
    sim.log_request(json!({
        "method": method,
        "path": path,
        "status": response.status().as_u16(),
        "at": received_at,
    }));
    // The change is committed and logged; only the answer waits, as when a client times out.
    if let Some(delay) = sim.faults().delay_after_commit(&method, &path) {
        tokio::time::sleep(delay).await;
    }
    response
}

fn render_deferred_errors(sim: &Sim, context: &RequestContext, mut response: Response) -> Response {
    if let Some(error) = response.extensions_mut().remove::<GraphError>() {
        return error.render(context);
    }
    if let Some(error) = response.extensions_mut().remove::<AadError>() {
        return error.render(context, &sim.base_url);
    }
    response
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
