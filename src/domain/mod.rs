//! Plain data shared by every layer. No tokio, no ratatui, no rusqlite in here: the UI renders
//! these, the store persists them, the engine produces them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch. Wall-clock instants cross process boundaries (the store,
/// JSON output), so they are plain integers rather than `Instant`s.
pub type UnixMs = i64;

pub fn now_ms() -> UnixMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub mod alert;
pub mod events;
mod failure;
pub mod history;
mod kinds;

pub use failure::{ErrorClass, Failure, Reason};
pub use kinds::{AuthKind, McpTransport, Transport};

pub const DEFAULT_ACCOUNT: &str = "default";

/// One authorized account of a connector. The fleet is made of these.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConnectionKey {
    pub connector: String,
    pub account: String,
}

impl ConnectionKey {
    pub fn new(connector: impl Into<String>, account: impl Into<String>) -> Self {
        Self {
            connector: connector.into(),
            account: account.into(),
        }
    }
}

/// ` --account NAME`, or nothing for the default account: what a command must add to reach it.
pub fn account_flag(key: &ConnectionKey) -> String {
    if key.account == DEFAULT_ACCOUNT {
        String::new()
    } else {
        format!(" --account {}", key.account)
    }
}

/// The command that gives `key` a new grant, for messages that ask a human to run it.
pub fn auth_command(key: &ConnectionKey) -> String {
    format!("switchboard auth {}{}", key.connector, account_flag(key))
}

impl fmt::Display for ConnectionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.account == DEFAULT_ACCOUNT {
            f.write_str(&self.connector)
        } else {
            write!(f, "{}/{}", self.connector, self.account)
        }
    }
}

/// Where a connection stands, worst first when sorting by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// A human must re-authorize; nothing automatic will fix it.
    NeedsReauth,
    /// A forecast: the token will likely expire before a refresh can succeed (refreshes are
    /// failing and the next attempt, or the attempts still needed, run past expiry).
    AtRisk,
    /// Probes are failing.
    Down,
    /// Some probes fail, or the primary transport is down but a fallback answers.
    Degraded,
    /// Configured but never authorized: `switchboard auth` is the next step.
    Unauthorized,
    /// The config refers to an environment variable that is not set.
    NotConfigured,
    /// No probe has finished yet.
    Pending,
    /// An operator paused it: no probes, no refreshes until resumed.
    Paused,
    Up,
}

impl Health {
    pub const ALL: [Health; 9] = [
        Health::Up,
        Health::Degraded,
        Health::Down,
        Health::AtRisk,
        Health::NeedsReauth,
        Health::Unauthorized,
        Health::NotConfigured,
        Health::Pending,
        Health::Paused,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Degraded => "degraded",
            Health::Down => "down",
            Health::NeedsReauth => "needs re-auth",
            Health::AtRisk => "at risk",
            Health::Unauthorized => "not authorized",
            Health::NotConfigured => "not configured",
            Health::Pending => "pending",
            Health::Paused => "paused",
        }
    }

    /// Lower is more urgent.
    pub fn severity(self) -> u8 {
        match self {
            Health::NeedsReauth => 0,
            Health::AtRisk => 1,
            Health::Down => 2,
            Health::Degraded => 3,
            Health::Unauthorized => 4,
            Health::NotConfigured => 5,
            Health::Pending => 6,
            Health::Paused => 7,
            Health::Up => 8,
        }
    }
}

/// Which path a probe took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeVia {
    Mcp,
    Rest,
    /// The MCP probe failed and the REST fallback was tried.
    RestFallback,
}

impl ProbeVia {
    /// The words `probe` prints, the same the console and `status` use ("MCP down, REST
    /// fallback up").
    pub fn label(self) -> &'static str {
        match self {
            ProbeVia::Mcp => "MCP",
            ProbeVia::Rest => "REST",
            ProbeVia::RestFallback => "REST fallback",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub at: UnixMs,
    pub via: ProbeVia,
    pub latency_ms: u64,
    /// `None` on success.
    pub failure: Option<Failure>,
    /// Set when `via` is `RestFallback`: why the MCP side failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_failure: Option<Failure>,
}

impl ProbeResult {
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }
}

/// What the fleet view knows about a token, without the token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenMeta {
    /// `None` when the token does not expire or its lifetime is unknown.
    pub expires_at: Option<UnixMs>,
    pub issued_at: Option<UnixMs>,
    pub has_refresh_token: bool,
    pub scopes: Vec<String>,
}

/// Who asked for an operation; recorded in the event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    Scheduler,
    Console,
    Cli,
    Daemon,
    Demo,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Scheduler => "scheduler",
            Actor::Console => "console",
            Actor::Cli => "cli",
            Actor::Daemon => "daemon",
            Actor::Demo => "demo",
        }
    }
}

/// One row of the fleet: everything a front-end shows about a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionView {
    pub key: ConnectionKey,
    /// Display name from the config, else the connector id.
    pub name: String,
    pub transport: Transport,
    pub auth: AuthKind,
    pub health: Health,
    /// Why the health is what it is, in a few words ("set JIRA_CLIENT_ID", "MCP down, REST fallback up").
    pub detail: Option<String>,
    pub token: Option<TokenMeta>,
    pub next_refresh_at: Option<UnixMs>,
    pub last_refresh_at: Option<UnixMs>,
    pub refresh_count: u64,
    /// Success rate over the last hour in 0.0..=1.0, `None` before any probe.
    pub success_rate_1h: Option<f64>,
    pub probes_1h: u32,
    pub last_probe: Option<ProbeResult>,
    pub last_error: Option<Failure>,
    /// A refresh or probe is running right now.
    pub busy: bool,
    /// Success rates and latency percentiles over 5m / 1h / 24h / 7d for probes, refreshes and
    /// tool calls, as the store holds them; `None` until first read.
    /// Shared with the engine's row: a snapshot does not copy every window of every connection.
    #[serde(default)]
    pub history: Option<std::sync::Arc<history::History>>,
    /// When and why the next refresh is planned: "in 4m12s: lead 6m = ...".
    #[serde(default)]
    pub next_refresh_why: Option<String>,
    /// Set while the breaker holds a down connection's probes back: when the next one runs.
    #[serde(default)]
    pub next_probe_at: Option<UnixMs>,
    /// Paused by an operator (`Command::SetPaused`): nothing automatic touches it.
    #[serde(default)]
    pub paused: bool,
    /// Another daemon probes it (the grants are shared and its partition is not this
    /// process's): what is shown came from the feed, and whoever probes it alerts on it.
    #[serde(default)]
    pub probed_elsewhere: bool,
}

/// The fleet at one instant. Cheap to clone behind an `Arc`; front-ends read only this.
///
/// A view that did not change between two snapshots is the same `Arc` in both, so a front-end
/// tells the changed rows by `Arc::ptr_eq` instead of comparing every field of every row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub generated_at: UnixMs,
    pub connections: Vec<std::sync::Arc<ConnectionView>>,
    /// True when this process runs the scheduler; false when another process leads and this one
    /// only watches.
    pub leader: bool,
    /// Position of each key in `connections`. The fleet's keys are fixed for an engine's life,
    /// so every snapshot it publishes shares one index.
    #[serde(skip)]
    pub index: std::sync::Arc<std::collections::HashMap<ConnectionKey, usize>>,
}

impl Snapshot {
    /// A snapshot with its index built: for tests and tools that assemble one by hand.
    pub fn new(generated_at: UnixMs, connections: Vec<ConnectionView>, leader: bool) -> Self {
        let connections: Vec<_> = connections.into_iter().map(std::sync::Arc::new).collect();
        let index = connections
            .iter()
            .enumerate()
            .map(|(i, c)| (c.key.clone(), i))
            .collect();
        Snapshot {
            generated_at,
            connections,
            leader,
            index: std::sync::Arc::new(index),
        }
    }

    pub fn count(&self, health: Health) -> usize {
        self.connections
            .iter()
            .filter(|c| c.health == health)
            .count()
    }

    pub fn get(&self, key: &ConnectionKey) -> Option<&ConnectionView> {
        match self.index.get(key).and_then(|&i| self.connections.get(i)) {
            Some(c) if &c.key == key => Some(c),
            // An index that does not fit (a snapshot built without one) is not trusted.
            _ => self
                .connections
                .iter()
                .find(|c| &c.key == key)
                .map(|c| &**c),
        }
    }
}

/// "in 4m 10s", "12s", "expired 3s ago": the countdown text used by every front-end.
pub fn format_expires_in(expires_at: UnixMs, now: UnixMs) -> String {
    let delta = expires_at - now;
    if delta <= 0 {
        return format!("expired {} ago", format_duration_ms((-delta) as u64));
    }
    format_duration_ms(delta as u64)
}

/// Compact human duration: "45s", "4m 10s", "2h 5m", "3d 4h".
pub fn format_duration_ms(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_countdown() {
        assert_eq!(format_duration_ms(0), "0s");
        assert_eq!(format_duration_ms(59_999), "59s");
        assert_eq!(format_duration_ms(250_000), "4m 10s");
        assert_eq!(format_duration_ms(7_500_000), "2h 05m");
        assert_eq!(format_duration_ms(3 * 86_400_000 + 4 * 3_600_000), "3d 4h");
        assert_eq!(format_expires_in(10_000, 4_000), "6s");
        assert_eq!(format_expires_in(1_000, 4_000), "expired 3s ago");
    }

    #[test]
    fn default_account_is_implicit_in_display() {
        assert_eq!(ConnectionKey::new("jira", "default").to_string(), "jira");
        assert_eq!(
            ConnectionKey::new("jira", "alice").to_string(),
            "jira/alice"
        );
    }

    #[test]
    fn severity_orders_urgent_first() {
        assert!(Health::NeedsReauth.severity() < Health::Down.severity());
        assert!(Health::Down.severity() < Health::Up.severity());
    }
}
