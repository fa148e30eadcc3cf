//! Access tokens the simulator issued, to whom, and whether they are still good.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::ids;

/// Expired tokens are remembered this long, so a client presenting one is told it expired
/// rather than that it is unknown.
const EXPIRED_MEMORY: Duration = Duration::from_secs(3600);

/// What the simulator knows of a presented bearer token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenState {
    /// Issued here to this app and not expired.
    Valid {
        /// The application the token was issued to.
        client_id: String,
    },
    /// Issued here, but its lifetime is over.
    Expired,
    /// Never issued here.
    Unknown,
}

/// Issued access tokens with their expiry and app.
#[derive(Debug, Default)]
pub struct TokenStore {
    issued: HashMap<String, Issued>,
}

#[derive(Debug)]
struct Issued {
    expires: Instant,
    client_id: String,
}

impl TokenStore {
    /// Issues a new opaque token for `client_id`, valid for `lifetime`.
    pub fn issue(&mut self, client_id: &str, lifetime: Duration) -> String {
        let now = Instant::now();
        self.issued
            .retain(|_, issued| now < issued.expires + EXPIRED_MEMORY);
        let token = ids::access_token();
        let issued = Issued {
            expires: now + lifetime,
            client_id: client_id.to_string(),
        };
        self.issued.insert(token.clone(), issued);
        token
    }

    /// Whether `token` may be used now, and by whom.
    pub fn state(&self, token: &str) -> TokenState {
        match self.issued.get(token) {
            Some(issued) if Instant::now() < issued.expires => TokenState::Valid {
                client_id: issued.client_id.clone(),
            },
            Some(_) => TokenState::Expired,
            None => TokenState::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_valid_for_its_app_until_its_lifetime_ends() {
        let mut store = TokenStore::default();
        let live = store.issue("app-1", Duration::from_secs(60));
        let dead = store.issue("app-1", Duration::ZERO);
        assert_ne!(live, dead);
        assert_eq!(
            store.state(&live),
            TokenState::Valid {
                client_id: "app-1".into()
            }
        );
        assert_eq!(store.state(&dead), TokenState::Expired);
        assert_eq!(store.state("sim.forged"), TokenState::Unknown);
    }
}
