use super::*;
use crate::domain::{
    AuthKind, ConnectionView, ErrorClass, ProbeResult, ProbeVia, TokenMeta, Transport,
};

fn view(connector: &str, account: &str, health: Health, expires_at: Option<i64>) -> ConnectionView {
    ConnectionView {
        key: ConnectionKey::new(connector, account),
        name: connector.into(),
        transport: Transport::Rest,
        auth: AuthKind::OAuth2,
        health,
        detail: None,
        token: expires_at.map(|e| TokenMeta {
            expires_at: Some(e),
            issued_at: None,
            has_refresh_token: true,
            scopes: vec![],
        }),
        next_refresh_at: Some(1_700_000_100_000),
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

fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines().find(|l| l.starts_with(prefix))
}

#[test]
fn expiry_is_an_absolute_timestamp_and_health_one_gauge_per_state() {
    let m = Metrics::new();
    let snapshot = Snapshot::new(
        0,
        vec![view(
            "jira",
            "default",
            Health::AtRisk,
            Some(1_700_000_123_456),
        )],
        true,
    );
    m.update(&snapshot, 3);
    let text = m.render();
    assert_eq!(
        line(&text, "switchboard_token_expiry_timestamp_seconds{"),
        Some(
            r#"switchboard_token_expiry_timestamp_seconds{connector="jira",account="default"} 1700000123"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"switchboard_connection_health{connector="jira",account="default",state="at_risk"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"switchboard_connection_health{connector="jira",account="default",state="up"} 0"#
        ),
        "{text}"
    );
    let states = text
        .lines()
        .filter(|l| l.starts_with("switchboard_connection_health{"))
        .count();
    assert_eq!(states, Health::ALL.len(), "{text}");
    assert!(
        text.contains(r#"switchboard_connection_at_risk{connector="jira",account="default"} 1"#)
    );
    assert!(text.contains("switchboard_leader 1"), "{text}");
    assert!(text.contains("switchboard_alert_outbox_depth 3"), "{text}");
}

#[test]
fn a_connection_that_goes_away_leaves_no_stale_series() {
    let m = Metrics::new();
    let mut snapshot = Snapshot::new(
        0,
        vec![view("gone", "default", Health::Up, Some(1_000_000))],
        false,
    );
    m.update(&snapshot, 0);
    assert!(m.render().contains("connector=\"gone\""));
    snapshot.connections = vec![std::sync::Arc::new(view(
        "kept",
        "default",
        Health::Up,
        None,
    ))];
    m.update(&snapshot, 0);
    let text = m.render();
    assert!(!text.contains("connector=\"gone\""), "{text}");
    // A token without expiry has no expiry series (rules would read 0 as long expired).
    assert!(
        line(&text, "switchboard_token_expiry_timestamp_seconds{").is_none(),
        "{text}"
    );
}

#[test]
fn hostile_label_values_are_escaped() {
    let m = Metrics::new();
    let snapshot = Snapshot::new(
        0,
        vec![view("x", "a\"b\\c\nd", Health::Down, Some(5_000))],
        false,
    );
    m.update(&snapshot, 0);
    let text = m.render();
    assert!(text.contains(r#"account="a\"b\\c\nd""#), "{text}");
    // Every sample stays on one line.
    assert!(
        text.lines()
            .all(|l| l.starts_with('#') || l.starts_with("switchboard_")),
        "{text}"
    );
}

#[test]
fn events_count_outcomes_and_latencies() {
    let mut m = Metrics::new();
    let key = ConnectionKey::new("jira", "default");
    let probe = |failure: Option<Failure>| Event::Probed {
        key: key.clone(),
        result: ProbeResult {
            at: 0,
            via: ProbeVia::Rest,
            latency_ms: 250,
            failure,
            primary_failure: None,
        },
    };
    m.observe(&probe(None));
    m.observe(&probe(None));
    m.observe(&probe(Some(Failure::new(ErrorClass::RateLimited, "429"))));
    m.observe(&Event::RefreshStarted { key: key.clone() });
    m.observe(&Event::Refreshed {
        key: key.clone(),
        result: Err(Failure::new(ErrorClass::Auth, "invalid_grant")),
    });
    let text = m.render();
    assert!(
        text.contains(
            r#"switchboard_probes_total{connector="jira",account="default",outcome="ok"} 2"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"switchboard_probes_total{connector="jira",account="default",outcome="rate_limited"} 1"#), "{text}");
    assert!(
        text.contains(
            r#"switchboard_refreshes_total{connector="jira",account="default",outcome="auth"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"switchboard_probe_duration_seconds_count{connector="jira",account="default"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"switchboard_probe_duration_seconds_sum{connector="jira",account="default"} 0.75"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"switchboard_refresh_duration_seconds_count{connector="jira",account="default"} 1"#
        ),
        "{text}"
    );
}

#[test]
fn state_labels_are_the_json_words() {
    assert_eq!(state_label(Health::NeedsReauth), "needs_reauth");
    assert_eq!(state_label(Health::AtRisk), "at_risk");
    assert_eq!(state_label(Health::NotConfigured), "not_configured");
}
