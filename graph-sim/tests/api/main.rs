//! End-to-end tests: each starts a simulator on 127.0.0.1:0 and talks HTTP to it.

mod access_passes;
mod admin;
mod assertions;
mod auth;
mod batch;
mod delta;
mod faults;
mod groups;
mod licenses;
mod lifecycle;
mod mail;
mod query;
mod sent_items;
mod support;
mod throttling;
mod tls;
mod token;
mod users;
