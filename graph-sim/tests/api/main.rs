//! End-to-end tests: each starts a simulator on 127.0.0.1:0 and talks HTTP to it.

mod admin;
mod auth;
mod faults;
mod licenses;
mod mail;
mod query;
mod support;
mod token;
mod users;
