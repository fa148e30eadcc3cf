//! A simulator of Microsoft Graph v1.0 and the Entra ID token endpoint, for tests that must not
//! leave the machine.
//!
//! [`serve`] starts the simulator on a loopback listener and returns a [`Handle`]. The port
//! speaks plain HTTP and HTTPS (with a certificate authority made at start), and answers three
//! families of paths:
//!
//! - `/{tenant}/oauth2/v2.0/token` and `/{tenant}/v2.0/.well-known/openid-configuration`: the
//!   client-credentials token endpoint (secrets, certificates, federated credentials) with the
//!   AADSTS error envelope of the identity platform, and its discovery document;
//! - `/v1.0/...`: the Graph resources the operator uses (users and their life cycle, licenses,
//!   groups, roles, app role assignments, Temporary Access Passes, mail, `$batch`), behind
//!   bearer tokens the simulator issued and the permissions granted to the app, throttled like
//!   the real service, answering with the Graph error envelope;
//! - `/_sim/...`: an unauthenticated control API for tests and the CLI, mirroring [`Handle`].
//!
//! Besides the happy paths the simulator reproduces the behaviour that trips real clients:
//! uniqueness conflicts, validation failures, seat exhaustion, replication lag after a create,
//! throttling with `Retry-After`, and, through [`Faults`], random server errors, throttling and
//! timeouts, and answers held back after the change was already committed.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admin;
mod clock;
mod config;
mod directory;
mod faults;
mod graph;
mod handle;
mod http;
mod ids;
mod login;
mod mailbox;
mod net;
mod sim;
mod tls;

pub use config::{
    AppRoleSeed, ClientCredential, Config, DEFAULT_PERMISSIONS, FEDERATED_AUDIENCE,
    FederatedCredential, FederatedIssuer, GroupSeed, RoleAssignmentSeed, ServicePrincipalSeed,
    SkuSeed, TemporaryAccessPassPolicy, ThrottleLimits,
};
pub use faults::Faults;
pub use handle::{Handle, serve};
