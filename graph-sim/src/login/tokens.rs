//! Access tokens the simulator issued, and whether they are still good.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::ids;

/// Expired tokens are remembered this long, so a client presenting one is told it expired
/// rather than that it is unknown.
const EXPIRED_MEMORY: Duration = Duration::from_secs(3600);

/// What the simulator knows of a presented bearer token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenState {
    /// Issued here and not expired.
    Valid,
    /// Issued here, but its lifetime is over.
    Expired,
    /// Never issued here.
    Unknown,
}

/// Issued access tokens with their expiry.
#[derive(Debug, Default)]
pub struct TokenStore {
    expiry: HashMap<String, Instant>,
}

impl TokenStore {
    /// Issues a new opaque token valid for `lifetime`.
    pub fn issue(&mut self, lifetime: Duration) -> String {
        let now = Instant::now();
        self.expiry
            .retain(|_, expires| now < *expires + EXPIRED_MEMORY);
        let token = ids::access_token();
        self.expiry.insert(token.clone(), now + lifetime);
        token
    }

    /// Whether `token` may be used now.
    pub fn state(&self, token: &str) -> TokenState {
        match self.expiry.get(token) {
            Some(expires) if Instant::now() < *expires => TokenState::Valid,
            Some(_) => TokenState::Expired,
            None => TokenState::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_valid_until_its_lifetime_ends() {
        let mut store = TokenStore::default();
        let live = store.issue(Duration::from_secs(60));
        let dead = store.issue(Duration::ZERO);
        assert_ne!(live, dead);
        assert_eq!(store.state(&live), TokenState::Valid);
        assert_eq!(store.state(&dead), TokenState::Expired);
        assert_eq!(store.state("sim.forged"), TokenState::Unknown);
    }
}
