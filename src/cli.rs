//! Command-line surface. Exit codes are part of the contract scripts rely on.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub const EXIT_OK: i32 = 0;
/// The operation was tried and failed.
pub const EXIT_FAILED: i32 = 1;
/// Bad usage or configuration.
pub const EXIT_USAGE: i32 = 2;
/// A human must act (re-authorize).
pub const EXIT_HUMAN: i32 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Operations console for OAuth-authenticated connectors: MCP servers and REST APIs",
    long_about = "Operations console for OAuth-authenticated connectors: MCP servers and REST APIs.\n\n\
        Without a command, opens the console on your config. Try `switchboard demo` for a live \
        demo fleet on loopback.",
    after_help = "Exit codes: 0 success, 1 the operation failed, 2 usage or config error, 3 a human is needed (re-auth).\n\
        Environment: SWITCHBOARD_CONFIG (config file), SWITCHBOARD_DATA_DIR (data directory), \
        SWITCHBOARD_KEY (vault key, 32 bytes base64 or hex), SWITCHBOARD_LOG (log filter, e.g. debug)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Config file [default: $SWITCHBOARD_CONFIG, else the platform config dir's switchboard/config.toml]
    #[arg(long, global = true, value_name = "PATH", env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the database, vault key and log live [default: $SWITCHBOARD_DATA_DIR, else the platform data dir]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the console on a live demo fleet (OAuth server, MCP servers, REST API) on loopback.
    /// Uses its own temporary config and data; never touches yours.
    Demo(DemoArgs),
    /// Run the engine without a UI: refresh tokens and probe on schedule. SIGTERM or Ctrl-C stops it.
    Daemon,
    /// Print the fleet once: health, token expiry, next refresh, success rate, last error.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Authorize a connection (authorization code + PKCE in a browser, or --device).
    Auth {
        connector: String,
        #[arg(long, default_value = "default")]
        account: String,
        /// Print the URL instead of opening a browser (for SSH sessions).
        #[arg(long)]
        no_browser: bool,
        /// Device authorization (RFC 8628): approve a code on another device; no browser or
        /// redirect needed here.
        #[arg(long, conflicts_with = "no_browser")]
        device: bool,
    },
    /// Revoke a connection's tokens at the authorization server (RFC 7009) and forget them.
    Revoke {
        connector: String,
        #[arg(long, default_value = "default")]
        account: String,
    },
    /// Refresh a connection's token now.
    Refresh {
        connector: String,
        #[arg(long, default_value = "default")]
        account: String,
        #[arg(long)]
        json: bool,
    },
    /// Probe a connection now.
    Probe {
        connector: String,
        #[arg(long, default_value = "default")]
        account: String,
        #[arg(long)]
        json: bool,
    },
    /// Work with the config file.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Loopback test peers (used by the demo and the tests).
    #[command(hide = true)]
    Lab {
        #[command(subcommand)]
        command: LabCommand,
    },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Access token lifetime in the demo's authorization server.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub token_ttl: Duration,
    /// Seconds after start at which the demo revokes one connection's grant.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub revoke_after: Duration,
    /// Run the demo fleet without the console (until Ctrl-C); prints where its data is.
    #[arg(long)]
    pub headless: bool,
    /// Keep the demo's temporary data directory on exit.
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config file; exits 0 when it is usable, 2 when it is not.
    Check,
    /// Print the documented example config.
    Example,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// An MCP server over stdio with the lab's tools.
    McpStdio,
    /// Run the lab on loopback and print its URLs as JSON, until Ctrl-C.
    Serve {
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        token_ttl: Duration,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s)
}
