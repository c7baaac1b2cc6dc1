//! Render snapshots at the two sizes that matter, plus the clock-driven bits.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

use super::fixtures::{NOW, fleet, snapshot};
use crate::domain::UnixMs;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::view;

fn draw(app: &App, width: u16, height: u16, now: UnixMs) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    let theme = Theme::builtin_default();
    terminal
        .draw(|frame| view::render(frame, app, &theme, now))
        .expect("draw");
    terminal
}

fn text(buffer: &Buffer) -> String {
    let width = usize::from(buffer.area.width);
    buffer
        .content
        .chunks(width)
        .map(|row| row.iter().map(|c| c.symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where `needle` starts on screen, as (x, y).
fn find(buffer: &Buffer, needle: &str) -> Option<(u16, u16)> {
    let width = usize::from(buffer.area.width);
    buffer
        .content
        .chunks(width)
        .enumerate()
        .find_map(|(y, row)| {
            let line: Vec<&str> = row.iter().map(|c| c.symbol()).collect();
            let first = needle.chars().next()?.to_string();
            (0..line.len()).find_map(|x| {
                let candidate: String = line[x..].concat();
                (line[x] == first && candidate.starts_with(needle)).then_some((x as u16, y as u16))
            })
        })
}

fn fleet_app() -> App {
    App::new(snapshot(fleet()))
}

#[test]
fn dashboard_120x40() {
    let terminal = draw(&fleet_app(), 120, 40, NOW);
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn dashboard_80x24() {
    let terminal = draw(&fleet_app(), 80, 24, NOW);
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn dashboard_80x24_with_flash_and_selection() {
    let mut app = fleet_app();
    app.handle_key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE), NOW);
    app.handle_key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::NONE), NOW);
    let terminal = draw(&app, 80, 24, NOW);
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn help_popup_80x24() {
    let mut app = fleet_app();
    app.handle_key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE), NOW);
    let terminal = draw(&app, 80, 24, NOW);
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn empty_fleet_80x24() {
    let terminal = draw(&App::new(snapshot(vec![])), 80, 24, NOW);
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn countdown_moves_with_now() {
    let app = fleet_app();
    let before = text(draw(&app, 120, 40, NOW).backend().buffer());
    let after = text(draw(&app, 120, 40, NOW + 1_000).backend().buffer());
    assert!(before.contains("42m 10s"), "{before}");
    assert!(after.contains("42m 09s"), "{after}");
    assert!(before.contains("45s") && after.contains("44s"));
    assert!(after.contains("expired 3m 01s ago"), "{after}");
}

#[test]
fn expiry_is_styled_warning_then_down() {
    let theme = Theme::builtin_default();
    let terminal = draw(&fleet_app(), 120, 40, NOW);
    let buffer = terminal.backend().buffer();

    let (x, y) = find(buffer, "45s").expect("near-expiry countdown on screen");
    assert_eq!(
        buffer[(x, y)].fg,
        theme.warning.fg.expect("warning has a colour")
    );
    let (x, y) = find(buffer, "expired 3m").expect("expired countdown on screen");
    assert_eq!(buffer[(x, y)].fg, theme.down.fg.expect("down has a colour"));
    let (x, y) = find(buffer, "42m 10s").expect("healthy countdown on screen");
    assert_eq!(buffer[(x, y)].fg, ratatui::style::Color::Reset);
}

#[test]
fn header_counts_hide_empty_states_except_up_and_down() {
    let mut rows = fleet();
    rows.retain(|c| c.key.connector == "github");
    let terminal = draw(&App::new(snapshot(rows)), 120, 40, NOW);
    let screen = text(terminal.backend().buffer());
    let header = screen.lines().next().unwrap_or_default();
    assert!(header.contains("● 1 up"), "{header}");
    assert!(header.contains("✗ 0 down"), "{header}");
    assert!(!header.contains("degraded"), "{header}");
}

#[test]
fn columns_hold_still_while_countdowns_tick() {
    let mut rows = fleet();
    rows.retain(|c| c.key.connector == "github");
    if let Some(token) = rows[0].token.as_mut() {
        token.expires_at = Some(NOW + 600_000);
    }
    let app = App::new(snapshot(rows));
    let header = |now| {
        let terminal = draw(&app, 120, 40, now);
        let screen = text(terminal.backend().buffer());
        screen.lines().nth(2).map(str::to_owned)
    };
    // "10m 00s" then "9m 59s": one character narrower, same layout.
    assert_eq!(header(NOW), header(NOW + 1_000));
}

#[test]
fn the_header_shows_each_alert_channels_last_delivery() {
    use crate::domain::alert::{ChannelState, Delivery};
    let mut app = App::new(snapshot(fleet()));
    let delivery = |channel: &str, ok: bool, status| Delivery {
        channel: channel.into(),
        at: NOW - 60_000,
        ok,
        status,
        message: String::new(),
        dedup_key: None,
        latency_ms: 12,
    };
    assert!(app.on_alert_channels(vec![
        ChannelState {
            channel: "hook".into(),
            queued: 0,
            last: Some(delivery("hook", true, Some(200))),
        },
        ChannelState {
            channel: "pd".into(),
            queued: 2,
            last: Some(delivery("pd", false, Some(503))),
        },
    ]));
    let wide = text(draw(&app, 160, 40, NOW).backend().buffer());
    let header = wide.lines().next().unwrap_or_default();
    assert!(
        header.contains("alerts: hook ok, pd failed (503) 2 queued · leader"),
        "{header}"
    );
    // Narrow: the tally, so the health counts keep their room.
    let narrow = text(draw(&app, 90, 40, NOW).backend().buffer());
    let header = narrow.lines().next().unwrap_or_default();
    assert!(
        header.contains("alerts: 1 of 2 failing, 2 queued · leader"),
        "{header}"
    );
    // Nothing configured, nothing shown.
    assert!(app.on_alert_channels(Vec::new()));
    let none = text(draw(&app, 160, 40, NOW).backend().buffer());
    assert!(!none.lines().next().unwrap_or_default().contains("alerts"));
}
