//! m365-operator: a Kubernetes operator that runs the Microsoft 365 / Entra ID user
//! lifecycle from declared resources.
//!
//! Data flows one way: manifests → reconcilers (observe, plan, act through [`graph`]) →
//! status, Events and logs. The README maps the modules.
#![forbid(unsafe_code)]

pub mod admission;
pub mod api;
pub mod approval;
pub mod archive;
pub mod audit;
pub mod connections;
pub mod credentials;
pub mod graph;
pub mod http;
pub mod import;
pub mod leader;
pub mod mail;
pub mod metrics;
pub mod names;
pub mod password;
pub mod reconcile;
pub mod revocation;
pub mod roles;
pub mod sla;
pub mod tokens;
