//! switchboard: a terminal operations console for OAuth-authenticated connectors.
//!
//! Layout: `domain` is plain data; `engine` is the one API every front-end uses (`Command` in,
//! `Event` out, a read-only `Snapshot`); `auth` owns every token through one broker; `store` is
//! the single SQLite owner; `tui`, the CLI and the daemon are front-ends; `lab` is the loopback
//! demo fleet that `switchboard demo` and the tests run against.

pub mod alert;
pub mod auth;
pub mod classify;
pub mod cli;
pub mod commands;
pub mod config;
pub mod domain;
pub mod engine;
pub mod health;
pub mod lab;
pub mod mcp;
pub mod metrics;
pub mod net;
pub mod probe;
pub mod secret;
pub mod store;
pub mod text;
pub mod toolkit;
pub mod tui;

/// The documented example config (the repo's `config.toml`), for `switchboard config example`.
pub const EXAMPLE_CONFIG: &str = include_str!("../config.toml");
