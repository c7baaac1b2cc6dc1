//! Command-line surface. Exit codes are part of the contract scripts rely on.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::secret::Secret;

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
        SWITCHBOARD_KEY (vault key, 32 bytes base64 or hex), SWITCHBOARD_LOG (log filter, e.g. debug), \
        SWITCHBOARD_DATABASE_URL (a PostgreSQL shared by daemons on several hosts: postgres://USER:PASSWORD@HOST:PORT/DB)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    /// Open the console read-only: every action that changes something (refresh, probe,
    /// re-authorize, revoke, pause) is hidden and refused.
    #[arg(long)]
    pub read_only: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The command line as `--help`, completions and the man page show it: `demo` writes its
    /// own config, so it does not list the global `--config` it ignores.
    pub fn command_line() -> clap::Command {
        // A hidden argument of demo's own under the global one's id: global arguments are
        // copied only into subcommands that lack an argument of that id.
        let ignored = clap::Arg::new("config")
            .long("config")
            .num_args(1)
            .value_parser(clap::value_parser!(PathBuf))
            .hide(true);
        <Cli as clap::CommandFactory>::command().mut_subcommand("demo", |demo| demo.arg(ignored))
    }

    /// Parses the process's arguments against `command_line()`; exits on bad usage as clap does.
    pub fn parse_args() -> Cli {
        let matches = Self::command_line().get_matches();
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Config file [default: the platform config dir's switchboard/config.toml, e.g.
    /// ~/.config/switchboard/config.toml]
    #[arg(long, global = true, value_name = "PATH", env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the database, vault key and log live [env: SWITCHBOARD_DATA_DIR] [default: the
    /// platform data dir, e.g. ~/.local/share/switchboard]
    // Not clap's `env`: the demo takes --data-dir but must never pick up the operator's
    // $SWITCHBOARD_DATA_DIR; the store resolves the variable for every other command.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the console on a live demo fleet (OAuth server, MCP servers, REST API) on loopback.
    /// Uses its own temporary config and data; never touches yours.
    Demo(DemoArgs),
    /// Run the engine without a UI: refresh tokens and probe on schedule. SIGTERM or Ctrl-C stops it.
    Daemon(DaemonArgs),
    /// Print the fleet: health, token expiry, next refresh, success rate, last error.
    #[command(
        after_help = "Exit codes with --check: 0 every connection is fine, 1 some connection is down or at risk, \
        3 some connection needs re-auth (a human must run `switchboard auth`); 2 usage or config error."
    )]
    Status(StatusArgs),
    /// Print a connection's access token (refreshed first if it is about to expire), for
    /// scripts: curl -H "Authorization: Bearer $(switchboard token jira)" ...
    #[command(
        after_help = "The token is printed only when stdout is not a terminal, unless --reveal.\n\
        Exit codes: 0 printed, 1 the token could not be obtained, 2 usage, 3 re-authorization needed."
    )]
    Token {
        /// The connector's id in the config.
        connector: String,
        /// Which authorized account of the connector.
        #[arg(long, default_value = "default")]
        account: String,
        /// Print the token even to a terminal (where it stays in the scrollback).
        #[arg(long)]
        reveal: bool,
    },
    /// Run a command with a connection's access token in an environment variable (never on its
    /// command line); exits with the command's exit code.
    #[command(
        after_help = "Example:\n  switchboard exec jira -- sh -c 'curl -H \"Authorization: Bearer $SWITCHBOARD_TOKEN\" https://example.com/api'\n\n\
        Exit codes: the command's own; 126 it cannot be run, 127 it was not found; before it runs, \
        1 the token could not be obtained, 2 usage, 3 re-authorization needed."
    )]
    Exec(ExecArgs),
    /// Authorize a connection (authorization code + PKCE in a browser, or --device).
    Auth {
        /// The connector's id in the config.
        connector: String,
        /// Which authorized account of the connector.
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
        /// The connector's id in the config.
        connector: String,
        /// Which authorized account of the connector.
        #[arg(long, default_value = "default")]
        account: String,
    },
    /// Refresh a connection's token now.
    Refresh {
        /// The connector's id in the config.
        connector: String,
        /// Which authorized account of the connector.
        #[arg(long, default_value = "default")]
        account: String,
        /// Machine-readable output (JSON).
        #[arg(long)]
        json: bool,
    },
    /// Pause a connection: no probes, no refreshes, calls refused, until `resume`. Kept in the
    /// store, so a running daemon or console stops within seconds and a restart keeps it.
    Pause {
        /// The connector's id in the config.
        connector: String,
        /// Which authorized account of the connector.
        #[arg(long, default_value = "default")]
        account: String,
    },
    /// Resume a paused connection: probes and refreshes start again (a token that came due
    /// meanwhile is refreshed at once).
    Resume {
        /// The connector's id in the config.
        connector: String,
        /// Which authorized account of the connector.
        #[arg(long, default_value = "default")]
        account: String,
    },
    /// Probe a connection now.
    Probe {
        /// The connector's id in the config.
        connector: String,
        /// Which authorized account of the connector.
        #[arg(long, default_value = "default")]
        account: String,
        /// Machine-readable output (JSON).
        #[arg(long)]
        json: bool,
    },
    /// List an MCP server's tools (with their arguments), resources and prompts.
    #[command(
        after_help = "Examples:\n  switchboard tools jira\n  switchboard tools --url https://example.com/mcp --bearer \"$TOKEN\"\n  switchboard tools --stdio \"npx -y @modelcontextprotocol/server-everything\""
    )]
    Tools(ToolsArgs),
    /// Call an MCP tool: arguments are checked against its schema before anything is sent.
    #[command(
        after_help = "Examples:\n  switchboard call jira search '{\"query\":\"bug\"}'\n  switchboard call --url https://example.com/mcp add '{\"a\":1,\"b\":2}' --header 'X-Api-Key: ...'\n  switchboard call --stdio \"./server --verbose\" echo '{\"message\":\"hi\"}'\n\n\
        Exit codes: 0 ok, 1 the call failed, timed out, was cancelled or the tool returned isError, \
        2 usage or invalid arguments, 3 re-authorization needed."
    )]
    Call(CallArgs),
    /// Read the event log (the audit trail): refreshes, probes, tool calls, token handouts,
    /// re-auths, pauses; as text or JSON lines, optionally following new events.
    #[command(
        after_help = "Examples:\n  switchboard events --since 1h\n  switchboard events --connector jira --json > jira-events.jsonl\n  switchboard events --follow --kind refresh\n  switchboard events prune --older-than 90d\n\n\
        The log is append-only: the store refuses UPDATE and DELETE on it; `events prune` is the one way \
        rows leave it, and the prune itself is logged."
    )]
    Events(EventsArgs),
    /// Print a shell completion script: source <(switchboard completions bash), or save it
    /// where your shell loads completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into --dir.
    #[command(after_help = "Example: switchboard man | man -l -")]
    Man {
        /// Write switchboard.1 and a page per command (switchboard-status.1, ...) here.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Alert channels (`[[alerts]]`): list them with their last delivery, or send a test message.
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
    },
    /// The store: move a data directory's tokens into a shared PostgreSQL.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
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
    /// Seconds after start at which the demo's provider starts failing one connection's
    /// (lab-flaky's) refreshes, so it turns *at risk* before its token expires.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub flaky_after: Duration,
    /// How long those refreshes fail before the provider recovers.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub flaky_for: Duration,
    /// Run the demo fleet without the console (until Ctrl-C); prints where its data is.
    #[arg(long)]
    pub headless: bool,
    /// Keep the demo's temporary data directory on exit.
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Machine-readable output: a JSON array, one object per connection; indented on a
    /// terminal, compact when piped (pipe through `jq` to read it indented).
    #[arg(long)]
    pub json: bool,
    /// Exit non-zero when any connection is down, at risk or needs re-auth (for cron and CI).
    #[arg(long)]
    pub check: bool,
    /// Redraw every --interval until Ctrl-C.
    #[arg(long, conflicts_with = "json")]
    pub watch: bool,
    /// How often --watch redraws.
    #[arg(long, default_value = "2s", value_parser = parse_duration, requires = "watch")]
    pub interval: Duration,
    /// Read the store here even when a daemon on this data directory could answer. A daemon
    /// answers only for the config file and environment it runs with; otherwise, or with no
    /// daemon, `status` reads the store itself (slower at thousands of connections).
    #[arg(long)]
    pub no_daemon: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub command: Option<EventsCommand>,
    /// After the matching events, keep printing new ones as they are written (Ctrl-C stops).
    #[arg(long)]
    pub follow: bool,
    /// Only this connector's events.
    #[arg(long, value_name = "CONNECTOR")]
    pub connector: Option<String>,
    /// Only this account's events (with --connector).
    #[arg(long, requires = "connector")]
    pub account: Option<String>,
    /// Only events since then: an age (30m, 1h, 7d) or an RFC 3339 instant.
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub since: Option<i64>,
    /// Only events of this kind (repeatable): probe, refresh, tool_call, token, reauth, pause, ...
    #[arg(long = "kind", value_name = "KIND")]
    pub kinds: Vec<String>,
    /// At most this many of the newest matching events (--follow then prints every new one).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: u32,
    /// One JSON object per line: id, at (RFC 3339, milliseconds), connection, connector,
    /// account, kind, actor, outcome, latency_ms, class, detail.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy this data directory's tokens and re-auth marks into a PostgreSQL database that
    /// daemons on several hosts share. Tokens stay sealed by the vault key on the way, and each
    /// is read back and compared before the next; a token the database already has is kept.
    /// Stop the daemon and consoles on this directory first.
    #[command(
        after_help = "Example: SWITCHBOARD_DATABASE_URL=postgres://switchboard:PASSWORD@db:5432/switchboard switchboard store migrate"
    )]
    Migrate {
        /// The database: postgres://USER:PASSWORD@HOST:PORT/DATABASE (prefer the environment
        /// variable: it keeps the password out of `ps`).
        #[arg(long, env = "SWITCHBOARD_DATABASE_URL", hide_env_values = true, value_parser = parse_secret, value_name = "URL")]
        to: Option<Secret>,
    },
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Delete events older than an age or instant (retention); the prune is logged itself.
    Prune {
        /// An age (90d, 720h) or an RFC 3339 instant: events written before it are deleted.
        #[arg(long, value_name = "WHEN", value_parser = parse_since)]
        older_than: i64,
    },
}

/// An age back from now ("1h") or an RFC 3339 instant, as Unix milliseconds.
fn parse_since(s: &str) -> Result<i64, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(at.timestamp_millis());
    }
    let age = parse_duration(s).map_err(|e| {
        format!("{e}; give an age such as 30m, 1h or 7d, or an RFC 3339 instant such as 2026-01-31T09:00:00Z")
    })?;
    let age = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
    Ok(crate::domain::now_ms().saturating_sub(age))
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The connector's id in the config.
    pub connector: String,
    /// Which authorized account of the connector.
    #[arg(long, default_value = "default")]
    pub account: String,
    /// The environment variable that carries the token.
    #[arg(long, value_name = "NAME", default_value = "SWITCHBOARD_TOKEN")]
    pub env: String,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Serve Prometheus `/metrics`, `/healthz` and `/readyz` on this address (e.g.
    /// 127.0.0.1:9464) [default: `[metrics] listen` from the config, else none].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// How the log file (switchboard.YYYY-MM-DD.log in the data directory) is written.
    #[arg(long, value_enum, default_value = "text", value_name = "FORMAT")]
    pub log_format: LogFormat,
    /// The log's level: off, error, warn, info, debug or trace [default: $SWITCHBOARD_LOG, else info].
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<tracing::level_filters::LevelFilter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Each channel: kind, where it sends, what it fires on, messages waiting, and how the last
    /// delivery went.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Send a test message to CHANNEL now and say what happened (exit 1 if it was not
    /// delivered).
    Test {
        /// The channel's `name` in `[[alerts]]`.
        channel: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config file (and the console theme it names); exits 0 when it is usable,
    /// 2 when it is not, like every command that reads a bad config.
    Check,
    /// Print the documented example config.
    Example,
    /// Write the documented example config to the config file's path (creating its
    /// directory), as a start to edit; refuses to overwrite an existing file without --force.
    Init {
        /// Overwrite an existing config file.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// An MCP server over stdio with the lab's tools.
    McpStdio,
    /// The client the official MCP conformance suite drives: runs the scenario named in
    /// $MCP_CONFORMANCE_SCENARIO against URL through `tools --url` / `call --url`.
    ConformanceClient {
        /// The scenario server's URL (the suite appends it).
        url: String,
        #[arg(long, env = "MCP_CONFORMANCE_SCENARIO")]
        scenario: Option<String>,
    },
    /// Run the lab on loopback and print its URLs as JSON, until Ctrl-C.
    Serve {
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        token_ttl: Duration,
        /// Share in [0, 1] of `GET /api/me` answered 503 (a flaky API); 0 for fleet benches.
        #[arg(long, default_value_t = 0.1)]
        rest_failure_rate: f64,
    },
    /// Authorize every connection of the config that waits for a grant, with the scripted
    /// browser answering the lab's consent (benches/fleet.sh seeds its fleets this way).
    AuthorizeAll {
        /// Authorizations in flight at once (at most 256).
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Give up a connection whose login has not completed after this long.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        timeout: Duration,
    },
}

/// Which MCP server a `tools` or `call` talks to: a configured connector, or an ad hoc target.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Which authorized account of the connector.
    #[arg(long, default_value = "default")]
    pub account: String,
    /// An MCP server URL that has no config entry (streamable HTTP unless --transport says otherwise).
    #[arg(long, conflicts_with = "stdio")]
    pub url: Option<String>,
    /// A stdio MCP server's command line that has no config entry, e.g. "npx -y my-server".
    #[arg(long, value_name = "COMMAND")]
    pub stdio: Option<String>,
    /// Transport of an ad hoc target.
    #[arg(long, value_enum)]
    pub transport: Option<TransportArg>,
    /// Extra HTTP header for an ad hoc --url, 'Name: value' (repeatable; values are never echoed).
    #[arg(long = "header", value_name = "'NAME: VALUE'", value_parser = HeaderParser)]
    pub headers: Vec<HeaderArg>,
    /// Bearer token for an ad hoc --url (prefer the environment variable: it keeps the token
    /// out of `ps`).
    #[arg(long, env = "SWITCHBOARD_BEARER", hide_env_values = true, value_parser = parse_secret)]
    pub bearer: Option<Secret>,
    /// When an ad hoc --url answers 401, the pre-registered OAuth client to authorize as
    /// (default: a Client ID Metadata Document if given, else dynamic registration).
    #[arg(long, value_name = "ID", help_heading = "Ad hoc authorization")]
    pub client_id: Option<String>,
    /// Secret of --client-id (prefer the environment variable: it keeps the secret out of
    /// `ps`).
    #[arg(long, env = "SWITCHBOARD_CLIENT_SECRET", hide_env_values = true, value_parser = parse_secret, help_heading = "Ad hoc authorization")]
    pub client_secret: Option<Secret>,
    /// An https URL hosting switchboard's Client ID Metadata Document, used as the client_id
    /// where the authorization server supports such documents.
    #[arg(long, value_name = "URL", help_heading = "Ad hoc authorization")]
    pub client_metadata_url: Option<String>,
    /// How to get a token when an ad hoc --url answers 401: a login in the browser
    /// (authorization code + PKCE), or as a machine with no user (client credentials, needs
    /// --client-id and $SWITCHBOARD_CLIENT_SECRET).
    #[arg(
        long,
        value_enum,
        value_name = "GRANT",
        help_heading = "Ad hoc authorization"
    )]
    pub grant: Option<GrantArg>,
    /// With --grant client-credentials: authenticate with a JWT signed by this PEM private key
    /// (private_key_jwt, ES256 or RS256) instead of a secret.
    #[arg(long, value_name = "FILE", help_heading = "Ad hoc authorization")]
    pub private_key: Option<PathBuf>,
    /// The private key's PEM itself, for the conformance client (its suite hands one over).
    #[arg(skip)]
    pub private_key_pem: Option<Secret>,
    /// With --grant cross-app: a file holding the identity provider's ID token (or set
    /// $SWITCHBOARD_ID_TOKEN).
    #[arg(long, value_name = "FILE", help_heading = "Ad hoc authorization")]
    pub id_token_file: Option<PathBuf>,
    /// With --grant cross-app: the ID token itself (environment only: it is a credential).
    #[arg(skip)]
    pub id_token: Option<Secret>,
    /// With --grant cross-app: the identity provider's issuer URL.
    #[arg(long, value_name = "URL", help_heading = "Ad hoc authorization")]
    pub idp_issuer: Option<String>,
    /// With --grant cross-app: switchboard's client ID at the identity provider (its secret, if
    /// any, in $SWITCHBOARD_IDP_CLIENT_SECRET).
    #[arg(long, value_name = "ID", help_heading = "Ad hoc authorization")]
    pub idp_client_id: Option<String>,
    /// Print the authorization URL instead of opening a browser.
    #[arg(long, help_heading = "Ad hoc authorization")]
    pub no_browser: bool,
    /// How the authorization URL reaches a browser (the conformance client's is internal).
    #[arg(skip)]
    pub opener: Option<crate::engine::Opener>,
    /// How to answer a server's request for input during the command (MCP elicitation): ask
    /// on the terminal, accept the schema's defaults, or decline [default: ask when stdin and
    /// stderr are terminals, else decline]. The console asks in its tool panel; the daemon
    /// declines.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub elicit: Option<ElicitArg>,
    /// The MCP protocol revision to propose at `initialize` (e.g. 2025-06-18), to test a
    /// server as a client of that revision sees it [default: the newest switchboard speaks].
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_protocol)]
    pub protocol_version: Option<rmcp::model::ProtocolVersion>,
    /// Machine-readable output (the raw MCP result).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ElicitArg {
    Ask,
    Defaults,
    Decline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum GrantArg {
    #[default]
    AuthorizationCode,
    ClientCredentials,
    /// Enterprise-managed (SEP-990): the IdP's ID token, exchanged at the IdP, redeemed at the AS.
    CrossApp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportArg {
    StreamableHttp,
    Stdio,
    Sse,
}

/// One `--header`: the value is a secret from the moment it is parsed.
#[derive(Debug, Clone)]
pub struct HeaderArg(pub String, pub Secret);

#[derive(Debug, Args)]
pub struct ToolsArgs {
    /// A configured MCP connector (omit with --url or --stdio).
    pub connector: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// CONNECTOR TOOL [ARGS], or TOOL [ARGS] with --url or --stdio. ARGS is a JSON object.
    #[arg(value_name = "[CONNECTOR] TOOL [ARGS]", num_args = 1..=3, required = true)]
    pub positionals: Vec<String>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Give up (and tell the server to stop) after this long.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Print progress notifications on stderr even when it is not a terminal.
    #[arg(long)]
    pub progress: bool,
}

/// Parses `--header` without clap's usual error, which would echo the value (a secret).
#[derive(Clone)]
struct HeaderParser;

impl clap::builder::TypedValueParser for HeaderParser {
    type Value = HeaderArg;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<HeaderArg, clap::Error> {
        let invalid = |m: String| clap::Error::raw(clap::error::ErrorKind::InvalidValue, m + "\n");
        let text = value
            .to_str()
            .ok_or_else(|| invalid("--header must be UTF-8 text".into()))?;
        crate::engine::adhoc::parse_header(text)
            .map(|(n, v)| HeaderArg(n, v))
            .map_err(invalid)
    }
}

fn parse_secret(s: &str) -> Result<Secret, String> {
    if s.trim().is_empty() {
        return Err("the token is empty".into());
    }
    Ok(Secret::new(s.trim()))
}

fn parse_protocol(s: &str) -> Result<rmcp::model::ProtocolVersion, String> {
    crate::toolkit::protocol::parse(s)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s)
}
