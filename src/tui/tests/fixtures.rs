//! A fleet covering every health state, pinned to a fixed `NOW`.

use std::sync::Arc;

use crate::domain::{
    AuthKind, ConnectionKey, ConnectionView, ErrorClass, Failure, Health, McpTransport,
    ProbeResult, ProbeVia, Snapshot, TokenMeta, Transport, UnixMs,
};

/// 2023-11-14T22:13:20Z: any fixed instant will do; this one reads well in a debugger.
pub const NOW: UnixMs = 1_700_000_000_000;
const MIN: i64 = 60_000;

fn token(expires_in: Option<i64>) -> Option<TokenMeta> {
    Some(TokenMeta {
        expires_at: expires_in.map(|d| NOW + d),
        issued_at: Some(NOW - 10 * MIN),
        has_refresh_token: true,
        scopes: vec!["read".into()],
    })
}

fn probe(latency_ms: u64, failure: Option<Failure>) -> Option<ProbeResult> {
    Some(ProbeResult {
        at: NOW - 30_000,
        via: ProbeVia::Mcp,
        latency_ms,
        failure,
        primary_failure: None,
    })
}

pub fn conn(connector: &str, account: &str, name: &str, health: Health) -> ConnectionView {
    ConnectionView {
        key: ConnectionKey::new(connector, account),
        name: name.into(),
        transport: Transport::Rest,
        auth: AuthKind::OAuth2,
        health,
        detail: None,
        token: None,
        next_refresh_at: None,
        last_refresh_at: None,
        refresh_count: 0,
        success_rate_1h: None,
        probes_1h: 0,
        last_probe: None,
        last_error: None,
        busy: false,
        history: None,
        next_refresh_why: None,
        next_probe_at: None,
        paused: false,
        probed_elsewhere: false,
    }
}

pub fn fleet() -> Vec<ConnectionView> {
    let mut github = conn("github", "alice", "GitHub", Health::Up);
    github.transport = Transport::Mcp(McpTransport::StreamableHttp);
    github.token = token(Some(42 * MIN + 10_000));
    github.next_refresh_at = Some(NOW + 37 * MIN);
    github.success_rate_1h = Some(1.0);
    github.probes_1h = 12;
    github.last_probe = probe(42, None);

    let mut atlassian = conn("atlassian", "default", "Atlassian", Health::Degraded);
    atlassian.transport = Transport::Mcp(McpTransport::Sse);
    atlassian.detail = Some("MCP down, REST fallback up".into());
    atlassian.token = token(Some(45_000));
    atlassian.success_rate_1h = Some(0.83);
    atlassian.probes_1h = 12;
    atlassian.last_probe = probe(1250, None);
    atlassian.last_error = Some(Failure::new(
        ErrorClass::Connection,
        "connection refused (127.0.0.1:9443) while opening the SSE stream",
    ));
    atlassian.busy = true;

    let mut google = conn("google", "default", "Google Calendar", Health::Down);
    google.token = token(Some(-3 * MIN));
    google.success_rate_1h = Some(0.12);
    google.probes_1h = 8;
    google.last_probe = probe(5000, None);
    google.last_error = Some(Failure::new(ErrorClass::Timeout, "no answer within 5s"));

    let mut notion = conn("notion", "default", "Notion", Health::NeedsReauth);
    notion.transport = Transport::Mcp(McpTransport::StreamableHttp);
    notion.auth = AuthKind::Mcp;
    notion.token = token(Some(-2 * 60 * MIN));
    notion.success_rate_1h = Some(0.0);
    notion.probes_1h = 4;
    notion.last_error = Some(Failure::new(
        ErrorClass::Auth,
        "invalid_grant: refresh token revoked",
    ));

    let mut zoom = conn("zoom", "default", "Zoom", Health::Unauthorized);
    zoom.detail = Some("run `switchboard auth zoom`".into());

    let mut jira = conn("jira", "default", "Jira", Health::NotConfigured);
    jira.transport = Transport::Mcp(McpTransport::Stdio);
    jira.detail = Some("set JIRA_CLIENT_ID".into());

    let mut paypal = conn("paypal", "default", "PayPal", Health::Pending);
    paypal.auth = AuthKind::ClientCredentials;
    paypal.token = token(None);
    paypal.busy = true;

    vec![github, atlassian, google, notion, zoom, jira, paypal]
}

pub fn snapshot(connections: Vec<ConnectionView>) -> Arc<Snapshot> {
    Arc::new(Snapshot::new(NOW, connections, true))
}

pub fn key(connector: &str, account: &str) -> ConnectionKey {
    ConnectionKey::new(connector, account)
}
