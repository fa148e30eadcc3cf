//! A simulator of Microsoft Graph v1.0 and the Entra ID token endpoint, for tests that must not
//! leave the machine.
//!
//! [`serve`] starts the simulator on a loopback listener and returns a [`Handle`]. The same
//! listener answers three families of paths:
//!
//! - `POST /{tenant}/oauth2/v2.0/token`: the client-credentials token endpoint, with the AADSTS
//!   error envelope of the identity platform;
//! - `/v1.0/...`: the Graph resources the operator uses (users, licenses, sendMail), behind bearer
//!   tokens the simulator issued, answering with the Graph error envelope;
//! - `/_sim/...`: an unauthenticated control API for tests and the CLI, mirroring [`Handle`].
//!
//! Besides the happy paths the simulator reproduces the behaviour that trips real clients:
//! uniqueness conflicts, validation failures, seat exhaustion, replication lag after a create
//! and, through [`Faults`], answers held back after the change was already committed.
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
mod sim;

pub use config::{ClientCredential, Config, SkuSeed};
pub use faults::Faults;
pub use handle::{Handle, serve};
