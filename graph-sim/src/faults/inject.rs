//! The random faults and added latency, applied to each Graph request before it reaches the
//! throttle and the resource.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{Dice, Faults};
use crate::http::error::GraphError;
use crate::sim::Sim;

/// Marks a request dispatched from inside a `$batch`: it gets random errors but neither
/// latency nor a held answer, which would stall the whole batch rather than one request.
#[derive(Clone, Copy, Debug)]
pub struct InBatch;

/// What the dice decided for one request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Roll {
    Pass,
    ServerError(StatusCode),
    Throttled(f64),
    Timeout,
}

/// Middleware in front of the Graph resources.
pub async fn inject(State(sim): State<Arc<Sim>>, request: Request, next: Next) -> Response {
    let faults = sim.faults();
    if !faults.applies_to(request.method().as_str(), request.uri().path()) {
        return next.run(request).await;
    }
    let in_batch = request.extensions().get::<InBatch>().is_some();
    if faults.latency_ms > 0 && !in_batch {
        sim.sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    let roll = sim.roll(|dice| roll(&faults, dice));
    match roll {
        Roll::ServerError(status) => server_error(status).into_response(),
        Roll::Throttled(retry_after) => GraphError::too_many_requests(retry_after).into_response(),
        Roll::Timeout if !in_batch => {
            let response = next.run(request).await;
            // Committed; the client waits until it gives up and drops the connection, which
            // cancels this future, or until the simulator stops.
            sim.stopped().await;
            response
        }
        Roll::Timeout | Roll::Pass => next.run(request).await,
    }
}

fn roll(faults: &Faults, dice: &mut Dice) -> Roll {
    let total = faults.server_error_rate + faults.throttle_rate + faults.timeout_rate;
    if total <= 0.0 {
        return Roll::Pass;
    }
    let value = dice.unit();
    if value < faults.server_error_rate {
        let statuses = [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::GATEWAY_TIMEOUT,
        ];
        Roll::ServerError(*dice.pick(&statuses))
    } else if value < faults.server_error_rate + faults.throttle_rate {
        let seconds = faults
            .retry_after_seconds
            .unwrap_or_else(|| dice.between(0.5, 3.0));
        Roll::Throttled(seconds)
    } else if value < total {
        Roll::Timeout
    } else {
        Roll::Pass
    }
}

fn server_error(status: StatusCode) -> GraphError {
    let (code, message) = match status {
        StatusCode::SERVICE_UNAVAILABLE => (
            "serviceNotAvailable",
            "The service is temporarily unavailable. Retry the request later.",
        ),
        StatusCode::GATEWAY_TIMEOUT => (
            "gatewayTimeout",
            "The service did not answer in time. Retry the request later.",
        ),
        _ => ("generalException", "General exception while processing."),
    };
    GraphError::new(status, code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rolls(faults: &Faults, seed: u64, n: usize) -> Vec<Roll> {
        let mut dice = Dice::seeded(seed);
        (0..n).map(|_| roll(faults, &mut dice)).collect()
    }

    #[test]
    fn no_rates_means_every_request_passes() {
        assert!(
            rolls(&Faults::default(), 1, 50)
                .iter()
                .all(|r| *r == Roll::Pass)
        );
    }

    #[test]
    fn a_full_rate_always_fails_and_a_seed_repeats_itself() {
        let faults = Faults {
            server_error_rate: 1.0,
            ..Faults::default()
        };
        let first = rolls(&faults, 9, 20);
        assert!(first.iter().all(|r| matches!(r, Roll::ServerError(_))));
        assert_eq!(first, rolls(&faults, 9, 20));
        let throttled = Faults {
            throttle_rate: 1.0,
            retry_after_seconds: Some(0.25),
            ..Faults::default()
        };
        assert_eq!(rolls(&throttled, 1, 3), vec![Roll::Throttled(0.25); 3]);
    }

    #[test]
    fn rates_split_requests_in_proportion() {
        let faults = Faults {
            server_error_rate: 0.2,
            throttle_rate: 0.3,
            timeout_rate: 0.1,
            ..Faults::default()
        };
        let all = rolls(&faults, 3, 10_000);
        let count = |f: fn(&Roll) -> bool| all.iter().filter(|r| f(r)).count();
        assert!((1800..2200).contains(&count(|r| matches!(r, Roll::ServerError(_)))));
        assert!((2700..3300).contains(&count(|r| matches!(r, Roll::Throttled(_)))));
        assert!((800..1200).contains(&count(|r| *r == Roll::Timeout)));
    }
}
