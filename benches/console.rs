//! The console at fleet scale: how long one frame of the fleet view takes to draw, how long a
//! new snapshot takes to take in (the one filter and sort pass), and a keypress to its frame.
//!
//! `cargo bench --bench console -- [CONNECTIONS]` (default 10000); numbers go to BENCHMARKS.md.
//! Without `--bench` (as `cargo test --all-targets` runs it) it checks itself on 50 connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use switchboard::domain::history::{Figures, History, Windows};
use switchboard::domain::{
    AuthKind, ConnectionKey, ConnectionView, Health, ProbeResult, ProbeVia, Snapshot, TokenMeta,
    Transport,
};
use switchboard::tui::{App, Theme, view};

const NOW: i64 = 1_700_000_000_000;

fn connection(i: usize) -> ConnectionView {
    let health = Health::ALL[i % Health::ALL.len()];
    let figures = Figures {
        samples: 120,
        success_rate: Some(0.97),
        p50_ms: Some(40 + (i % 50) as u64),
        p95_ms: Some(90 + (i % 300) as u64),
        p99_ms: Some(400),
    };
    let windows = Windows {
        five_minutes: figures,
        hour: figures,
        day: figures,
        week: figures,
    };
    ConnectionView {
        key: ConnectionKey::new(format!("conn-{:05}", i / 3), format!("acct-{}", i % 3)),
        name: format!("Connector {}", i / 3),
        transport: Transport::Rest,
        auth: AuthKind::OAuth2,
        health,
        detail: i
            .is_multiple_of(7)
            .then(|| "MCP down, REST fallback up".to_owned()),
        token: Some(TokenMeta {
            expires_at: Some(NOW + (i as i64 % 3600) * 1000),
            issued_at: Some(NOW - 60_000),
            has_refresh_token: true,
            scopes: vec!["read".into()],
        }),
        next_refresh_at: Some(NOW + 30_000),
        last_refresh_at: Some(NOW - 30_000),
        refresh_count: 3,
        success_rate_1h: Some(0.97),
        probes_1h: 120,
        last_probe: Some(ProbeResult {
            at: NOW - 5_000,
            via: ProbeVia::Rest,
            latency_ms: 42,
            failure: None,
            primary_failure: None,
        }),
        last_error: None,
        busy: i.is_multiple_of(11),
        history: Some(Arc::new(History {
            probes: windows.clone(),
            refreshes: windows,
            tool_calls: Windows::default(),
            as_of: NOW,
        })),
        next_refresh_why: Some("lead 5m".into()),
        next_probe_at: None,
        paused: false,
    }
}

fn per_op(total: Duration, n: u32) -> String {
    format!("{:.3} ms", total.as_secs_f64() * 1000.0 / f64::from(n))
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .find_map(|a| a.parse().ok())
        .unwrap_or(if measuring { 10_000 } else { 50 });
    let rounds: u32 = if measuring { 200 } else { 3 };
    let snapshot = Arc::new(Snapshot::new(NOW, (0..n).map(connection).collect(), true));
    let theme = Theme::builtin_default();

    let t = Instant::now();
    let mut app = App::new(snapshot.clone());
    for _ in 1..rounds {
        app.on_snapshot(snapshot.clone());
    }
    let take_in = t.elapsed();

    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("a test terminal");
    let t = Instant::now();
    for _ in 0..rounds {
        terminal
            .draw(|f| view::render(f, &app, &theme, NOW))
            .expect("a frame");
    }
    let frame = t.elapsed();

    let down = KeyEvent::new(KeyCode::Down, KeyModifiers::NONE);
    let t = Instant::now();
    for _ in 0..rounds {
        let _ = app.handle_key(down, NOW);
        terminal
            .draw(|f| view::render(f, &app, &theme, NOW))
            .expect("a frame");
    }
    let key_to_frame = t.elapsed();

    // The frame shows the table and the row under the selection, whatever the fleet's size.
    let screen: String = terminal
        .backend()
        .buffer()
        .content
        .iter()
        .map(|c| c.symbol())
        .collect();
    assert!(screen.contains(&format!("connections ({n})")), "{screen}");
    assert!(screen.contains("Connector"), "{screen}");

    println!("console, {n} connections, 120x40, {rounds} rounds:");
    println!(
        "  take in a snapshot (filter + sort + widths): {}",
        per_op(take_in, rounds)
    );
    println!(
        "  render one fleet frame:                      {}",
        per_op(frame, rounds)
    );
    println!(
        "  keypress (Down) to frame:                    {}",
        per_op(key_to_frame, rounds)
    );
}
