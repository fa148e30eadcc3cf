//! Helpers shared by the integration tests.

pub mod cluster;
pub mod operator;
pub mod roles;
pub mod scenario;
