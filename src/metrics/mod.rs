//! The Prometheus exporter: a front-end like the console. It reads the engine's `Snapshot` at
//! each scrape (health, token expiry, at risk, leader) and counts the engine's `Event`s
//! (probes, refreshes, tool calls, with their latencies) as they happen in this process. It
//! sends the engine nothing and names nothing behind it.

mod server;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::domain::{ConnectionKey, Failure, Health, Snapshot};
use crate::engine::Event;
use crate::toolkit::CallError;

pub use server::{Exporter, MAX_CONNECTIONS, OutboxDepth, REQUEST_TIMEOUT};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Conn {
    connector: String,
    account: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnState {
    connector: String,
    account: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnOutcome {
    connector: String,
    account: String,
    /// `ok`, or the failure's class (`auth`, `timeout`, `server`, ...).
    outcome: String,
}

fn conn(key: &ConnectionKey) -> Conn {
    Conn {
        connector: key.connector.clone(),
        account: key.account.clone(),
    }
}

fn with_outcome(key: &ConnectionKey, outcome: &str) -> ConnOutcome {
    ConnOutcome {
        connector: key.connector.clone(),
        account: key.account.clone(),
        outcome: outcome.to_owned(),
    }
}

/// The state label: the same snake_case word `status --json` prints for the health.
pub fn state_label(h: Health) -> String {
    serde_json::to_value(h)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| h.label().replace(' ', "_"))
}

fn failure_outcome(f: &Failure) -> String {
    f.class.label().replace(' ', "_")
}

type Histograms = Family<Conn, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 5 ms .. ~40 s: a loopback probe to a token endpoint that is timing out.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// Every metric switchboard exports, and what it needs to fill them.
pub struct Metrics {
    registry: Registry,
    expiry: Family<Conn, Gauge>,
    last_refresh: Family<Conn, Gauge>,
    next_refresh: Family<Conn, Gauge>,
    refreshable: Family<Conn, Gauge>,
    health: Family<ConnState, Gauge>,
    at_risk: Family<Conn, Gauge>,
    leader: Gauge,
    outbox: Gauge,
    connections: Gauge,
    probes: Family<ConnOutcome, Counter>,
    refreshes: Family<ConnOutcome, Counter>,
    tool_calls: Family<ConnOutcome, Counter>,
    probe_seconds: Histograms,
    refresh_seconds: Histograms,
    tool_call_seconds: Histograms,
    events_lost: Counter,
    /// When each refresh this process runs started: its latency is the gap to `Refreshed`.
    refreshing: HashMap<ConnectionKey, Instant>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            expiry: Family::default(),
            last_refresh: Family::default(),
            next_refresh: Family::default(),
            refreshable: Family::default(),
            health: Family::default(),
            at_risk: Family::default(),
            leader: Gauge::default(),
            outbox: Gauge::default(),
            connections: Gauge::default(),
            probes: Family::default(),
            refreshes: Family::default(),
            tool_calls: Family::default(),
            probe_seconds: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            refresh_seconds: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            tool_call_seconds: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            events_lost: Counter::default(),
            refreshing: HashMap::new(),
            registry: Registry::default(),
        };
        // Absolute instants, as certificate exporters give `not_after`: a rule can subtract
        // time() and predict, where a countdown would only be right at the scrape.
        registry.register(
            "switchboard_token_expiry_timestamp_seconds",
            "When the connection's access token expires (Unix seconds); absent for a token without expiry",
            m.expiry.clone(),
        );
        registry.register(
            "switchboard_token_last_refresh_timestamp_seconds",
            "When the connection's token was last refreshed (Unix seconds)",
            m.last_refresh.clone(),
        );
        registry.register(
            "switchboard_token_next_refresh_timestamp_seconds",
            "When the scheduler plans the next refresh (Unix seconds); absent when none is planned",
            m.next_refresh.clone(),
        );
        registry.register(
            "switchboard_token_refreshable",
            "1 when the connection holds a refresh token (or can get a new token unattended), else 0",
            m.refreshable.clone(),
        );
        registry.register(
            "switchboard_connection_health",
            "1 for the connection's health state, 0 for every other state",
            m.health.clone(),
        );
        registry.register(
            "switchboard_connection_at_risk",
            "1 while the token is forecast to expire before a refresh can succeed",
            m.at_risk.clone(),
        );
        registry.register(
            "switchboard_leader",
            "1 when this process leads (runs the scheduler), 0 when it follows another",
            m.leader.clone(),
        );
        registry.register(
            "switchboard_alert_outbox_depth",
            "Alerts waiting in the outbox to be delivered",
            m.outbox.clone(),
        );
        registry.register(
            "switchboard_connections",
            "Connections this process knows",
            m.connections.clone(),
        );
        registry.register(
            "switchboard_probes",
            "Probes this process ran, by outcome (ok, or the failure's class)",
            m.probes.clone(),
        );
        registry.register(
            "switchboard_refreshes",
            "Token refreshes this process ran, by outcome (ok, or the failure's class)",
            m.refreshes.clone(),
        );
        registry.register(
            "switchboard_tool_calls",
            "MCP tool calls this process ran, by outcome (ok, tool_error, timeout, cancelled, invalid_arguments, or the failure's class)",
            m.tool_calls.clone(),
        );
        registry.register(
            "switchboard_probe_duration_seconds",
            "How long probes took",
            m.probe_seconds.clone(),
        );
        registry.register(
            "switchboard_refresh_duration_seconds",
            "How long token refreshes took",
            m.refresh_seconds.clone(),
        );
        registry.register(
            "switchboard_tool_call_duration_seconds",
            "How long MCP tool calls took (calls that produced a result)",
            m.tool_call_seconds.clone(),
        );
        registry.register(
            "switchboard_metrics_events_lost",
            "Engine events the exporter fell too far behind to count",
            m.events_lost.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Sets every gauge from the fleet as it stands. Families are cleared first, so a
    /// connection that went away (or lost its token) leaves no stale series behind.
    pub fn update(&self, snapshot: &Snapshot, outbox_depth: i64) {
        for f in [
            &self.expiry,
            &self.last_refresh,
            &self.next_refresh,
            &self.refreshable,
            &self.at_risk,
        ] {
            f.clear();
        }
        self.health.clear();
        self.leader.set(i64::from(snapshot.leader));
        self.outbox.set(outbox_depth);
        self.connections
            .set(i64::try_from(snapshot.connections.len()).unwrap_or(i64::MAX));
        let secs = |ms: i64| ms.div_euclid(1000);
        for c in &snapshot.connections {
            let labels = conn(&c.key);
            if let Some(t) = &c.token {
                if let Some(at) = t.expires_at {
                    self.expiry.get_or_create(&labels).set(secs(at));
                }
                self.refreshable
                    .get_or_create(&labels)
                    .set(i64::from(t.has_refresh_token));
            }
            if let Some(at) = c.last_refresh_at {
                self.last_refresh.get_or_create(&labels).set(secs(at));
            }
            if let Some(at) = c.next_refresh_at {
                self.next_refresh.get_or_create(&labels).set(secs(at));
            }
            self.at_risk
                .get_or_create(&labels)
                .set(i64::from(c.health == Health::AtRisk));
            for h in Health::ALL {
                let labels = ConnState {
                    connector: c.key.connector.clone(),
                    account: c.key.account.clone(),
                    state: state_label(h),
                };
                self.health
                    .get_or_create(&labels)
                    .set(i64::from(c.health == h));
            }
        }
    }

    /// Counts one engine event.
    pub fn observe(&mut self, event: &Event) {
        match event {
            Event::RefreshStarted { key } => {
                self.refreshing.insert(key.clone(), Instant::now());
            }
            Event::Refreshed { key, result } => {
                let outcome = match result {
                    Ok(_) => "ok".to_owned(),
                    Err(f) => failure_outcome(f),
                };
                self.refreshes
                    .get_or_create(&with_outcome(key, &outcome))
                    .inc();
                if let Some(started) = self.refreshing.remove(key) {
                    self.refresh_seconds
                        .get_or_create(&conn(key))
                        .observe(started.elapsed().as_secs_f64());
                }
            }
            Event::Probed { key, result } => {
                let outcome = match &result.failure {
                    None => "ok".to_owned(),
                    Some(f) => failure_outcome(f),
                };
                self.probes
                    .get_or_create(&with_outcome(key, &outcome))
                    .inc();
                self.probe_seconds
                    .get_or_create(&conn(key))
                    .observe(result.latency_ms as f64 / 1000.0);
            }
            Event::ToolResult { key, result, .. } => {
                let outcome = match result {
                    Ok(o) => {
                        self.tool_call_seconds
                            .get_or_create(&conn(key))
                            .observe(o.latency_ms as f64 / 1000.0);
                        if o.is_tool_error() {
                            "tool_error"
                        } else {
                            "ok"
                        }
                        .to_owned()
                    }
                    Err(CallError::Timeout(_)) => "timeout".to_owned(),
                    Err(CallError::Cancelled) => "cancelled".to_owned(),
                    Err(CallError::InvalidArguments(_)) => "invalid_arguments".to_owned(),
                    Err(CallError::Failed(f)) => failure_outcome(f),
                };
                self.tool_calls
                    .get_or_create(&with_outcome(key, &outcome))
                    .inc();
            }
            _ => {}
        }
    }

    pub fn lost(&self, n: u64) {
        self.events_lost.inc_by(n);
    }

    /// The Prometheus text format (0.0.4), as prometheus-client writes it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; an encoder error would mean a bad metric name,
        // which the tests would have caught.
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::error!("metrics: cannot encode: {e}");
        }
        out
    }
}

/// The metrics behind a lock: the event task counts, the scrape renders.
pub type Shared = std::sync::Arc<Mutex<Metrics>>;

#[cfg(test)]
mod tests;
