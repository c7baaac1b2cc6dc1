//! Snapshots of the console's screens at 120×40 and 80×24 with a fixed clock: the fleet with
//! its pane, the detail, the events view, the re-authorize popup with a device code, help,
//! and the fleet in every shipped theme.

use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::fixtures::{NOW, fleet, key, snapshot};
use super::tools::{press, typed};
use crate::domain::ConnectionView;
use crate::domain::history::{Figures, History, Windows};
use crate::engine::{Event, ReauthProgress};
use crate::tui::app::{Action, App};
use crate::tui::log::LogLine;
use crate::tui::theme::Theme;
use crate::tui::view;

fn figures(samples: u64, rate: f64, p50: u32, p95: u32, p99: u32) -> Figures {
    Figures {
        samples,
        success_rate: Some(rate),
        p50_ms: Some(p50),
        p95_ms: Some(p95),
        p99_ms: Some(p99),
    }
}

fn windows(rate: f64, p95: u32) -> Windows {
    Windows {
        five_minutes: figures(5, rate, p95 / 2, p95, p95 + 10),
        hour: figures(60, rate, p95 / 2, p95, p95 + 20),
        day: figures(1440, rate, p95 / 2, p95, p95 + 40),
        week: figures(10080, rate, p95 / 2, p95, p95 + 80),
    }
}

/// The fixture fleet with history on the rows that have probes, so p95 shows.
fn rich_fleet() -> Vec<ConnectionView> {
    let mut rows = fleet();
    for (i, p95) in [(0usize, 48u32), (1, 1400), (2, 5000)] {
        rows[i].history = Some(std::sync::Arc::new(History {
            probes: windows(rows[i].success_rate_1h.unwrap_or(1.0), p95),
            refreshes: windows(1.0, 120),
            tool_calls: Windows::default(),
            as_of: NOW,
        }));
    }
    rows[0].next_refresh_why = Some("lead 5m = share of lifetime".into());
    rows
}

fn draw(app: &App, width: u16, height: u16, theme: &Theme) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    terminal
        .draw(|frame| view::render(frame, app, theme, NOW))
        .expect("draw");
    terminal
}

fn app() -> App {
    App::new(snapshot(rich_fleet())).with_about(
        vec![
            "export SWITCHBOARD_CONFIG=/tmp/demo/config.toml".into(),
            "export SWITCHBOARD_DATA_DIR=/tmp/demo".into(),
        ],
        vec![],
    )
}

fn both_sizes(name: &str, app: &App) {
    let theme = Theme::builtin_default();
    for (w, h) in [(120, 40), (80, 24)] {
        let terminal = draw(app, w, h, &theme);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
    }
}

fn probe_line(at: i64, latency: u64, ok: bool) -> LogLine {
    LogLine {
        at,
        key: Some(key("github", "alice")),
        kind: "probe".into(),
        actor: "scheduler".into(),
        outcome: if ok { "ok" } else { "failed" }.into(),
        latency_ms: Some(latency),
        message: (!ok).then(|| "timeout: no answer within 5s".to_owned()),
    }
}

#[test]
fn fleet_with_its_pane() {
    let mut app = app();
    press(&mut app, KeyCode::Down);
    both_sizes("fleet", &app);
    // Wide screens put the pane beside the table.
    let terminal = draw(&app, 170, 30, &Theme::builtin_default());
    insta::assert_snapshot!("fleet_170x30", terminal.backend());
}

#[test]
fn fleet_filtered_sorted_and_grouped() {
    let mut app = app();
    press(&mut app, KeyCode::Char('s'));
    press(&mut app, KeyCode::Char('z'));
    press(&mut app, KeyCode::Char('/'));
    typed(&mut app, "mcp");
    both_sizes("fleet_filtered", &app);
}

#[test]
fn detail() {
    let mut app = app();
    let Some(Action::ReadLog(requests)) = press(&mut app, KeyCode::Enter) else {
        panic!("reads");
    };
    let probes: Vec<LogLine> = (0..60)
        .map(|i| {
            probe_line(
                NOW - 3_600_000 + i * 60_000,
                30 + (i as u64 * 7) % 50,
                i % 17 != 0,
            )
        })
        .collect();
    let mut recent: Vec<LogLine> = probes[50..].to_vec();
    recent.push(LogLine {
        at: NOW - 120_000,
        key: Some(key("github", "alice")),
        kind: "refresh".into(),
        actor: "scheduler".into(),
        outcome: "ok".into(),
        latency_ms: Some(84),
        message: None,
    });
    for r in &requests {
        let lines = match r.purpose {
            crate::tui::views::LogPurpose::DetailProbes => probes.clone(),
            _ => recent.clone(),
        };
        app.on_log(r, Ok(lines));
    }
    both_sizes("detail", &app);
}

#[test]
fn events() {
    let mut app = app();
    let Some(Action::ReadLog(requests)) = press(&mut app, KeyCode::Char('e')) else {
        panic!("a read");
    };
    let lines: Vec<LogLine> = (0..50)
        .map(|i| probe_line(NOW - 50_000 + i * 1000, 20 + i as u64, i % 9 != 0))
        .collect();
    app.on_log(&requests[0], Ok(lines));
    both_sizes("events", &app);
}

#[test]
fn reauth_popup_with_a_device_code() {
    let mut app = app();
    for _ in 0..3 {
        press(&mut app, KeyCode::Down);
    }
    press(&mut app, KeyCode::Char('a'));
    both_sizes("reauth_choose", &app);
    press(&mut app, KeyCode::Char('d'));
    app.on_event(
        &Event::Reauth {
            key: key("notion", "default"),
            progress: ReauthProgress::DeviceCode {
                verification_uri: "http://127.0.0.1:4242/device".into(),
                user_code: "BCDF-GHJK".into(),
                verification_uri_complete: Some(
                    "http://127.0.0.1:4242/device?user_code=BCDF-GHJK".into(),
                ),
                expires_in: Duration::from_secs(600),
            },
        },
        NOW,
    );
    both_sizes("reauth_device", &app);
}

#[test]
fn help() {
    let mut app = app();
    press(&mut app, KeyCode::Char('?'));
    both_sizes("help", &app);
}

#[test]
fn every_theme_at_80x24() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("themes");
    let names = Theme::available(std::slice::from_ref(&dir));
    assert!(names.len() >= 5, "{names:?}");
    let mut app = app();
    press(&mut app, KeyCode::Down);
    for name in names {
        let theme = Theme::load(&name, std::slice::from_ref(&dir)).expect("theme loads");
        let terminal = draw(&app, 80, 24, &theme);
        // The buffer's debug form carries every cell's style, so a colour change shows.
        let buffer = terminal.backend().buffer().clone();
        insta::assert_debug_snapshot!(format!("theme_{name}"), buffer);
    }
}

#[test]
fn ascii_symbols_when_the_locale_is_not_utf8() {
    let mut theme = Theme::builtin_default();
    theme.ascii = true;
    let terminal = draw(&app(), 80, 24, &theme);
    insta::assert_snapshot!("fleet_ascii_80x24", terminal.backend());
}
