//! The console at fleet scale: how long one frame of the fleet view takes to draw, how long a
//! new snapshot takes to take in (from scratch, and patched for ten changed rows with and
//! without rows moving), and a keypress to its frame.
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
use switchboard::tui::fleet::SortBy;
use switchboard::tui::{App, Theme, view};

const NOW: i64 = 1_700_000_000_000;

fn connection(i: usize) -> ConnectionView {
    let health = Health::ALL[i % Health::ALL.len()];
    let figures = Figures {
        samples: 120,
        success_rate: Some(0.97),
        p50_ms: Some(40 + (i % 50) as u32),
        p95_ms: Some(90 + (i % 300) as u32),
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
        probed_elsewhere: false,
    }
}

fn per_op(total: Duration, n: u32) -> String {
    format!("{:.3} ms", total.as_secs_f64() * 1000.0 / f64::from(n))
}

/// `rounds` snapshots in a row, each with `changed` rows given a new probe result (a new `Arc`,
/// as the engine does) and every other row shared with the one before.
fn probe_rounds(
    first: &Arc<Snapshot>,
    rounds: u32,
    changed: usize,
    base: i64,
) -> Vec<Arc<Snapshot>> {
    let n = first.connections.len();
    let mut out = Vec::new();
    let mut current = first.clone();
    for r in 0..rounds as usize {
        let mut rows = current.connections.clone();
        for k in 0..changed {
            let i = (r * 7_919 + k * 104_729) % n;
            let row = Arc::make_mut(&mut rows[i]);
            if let Some(p) = row.last_probe.as_mut() {
                p.at = base + (r * changed + k) as i64;
                p.latency_ms = 10 + (r + k) as u64 % 90;
            }
        }
        current = Arc::new(Snapshot {
            connections: rows,
            ..(*current).clone()
        });
        out.push(current.clone());
    }
    out
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

    // From scratch: what a new sort, filter or grouping costs (and the first snapshot).
    let t = Instant::now();
    let mut app = App::new(snapshot.clone());
    for _ in 1..rounds {
        app = App::new(snapshot.clone());
    }
    let rebuild = t.elapsed();

    // The engine's usual snapshot: ten probes finished since the last one.
    let changes = probe_rounds(&snapshot, rounds, 10, NOW);
    let t = Instant::now();
    for s in &changes {
        app.on_snapshot(s.clone());
    }
    let patch = t.elapsed();
    let intake = app.fleet().intake();
    assert_eq!(
        (intake.changed, intake.sorted, intake.rebuilt),
        (10, false, false)
    );

    // Sorted by probe age, every new probe moves its row.
    let s = KeyEvent::new(KeyCode::Char('s'), KeyModifiers::NONE);
    while app.fleet().sort != SortBy::ProbeAge {
        let _ = app.handle_key(s, NOW);
    }
    let last = changes.last().cloned().unwrap_or(snapshot.clone());
    let moving = probe_rounds(&last, rounds, 10, NOW + 1_000_000);
    let t = Instant::now();
    for s in &moving {
        app.on_snapshot(s.clone());
    }
    let resort = t.elapsed();
    assert!(app.fleet().intake().sorted);
    while app.fleet().sort != SortBy::Fleet {
        let _ = app.handle_key(s, NOW);
    }

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
        "  order from scratch (filter + sort + widths): {}",
        per_op(rebuild, rounds)
    );
    println!(
        "  take in a snapshot, 10 rows changed:         {}",
        per_op(patch, rounds)
    );
    println!(
        "  the same, sorted by probe age (rows move):   {}",
        per_op(resort, rounds)
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
