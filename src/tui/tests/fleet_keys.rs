//! The fleet's order (sort, filter, group), its actions (re-authorize, revoke, pause, all
//! visible), read-only, command mode, the detail and events screens: keys in, state and
//! commands out.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::fixtures::{NOW, fleet, key, snapshot};
use super::tools::{press, typed};
use crate::domain::{Actor, ErrorClass, Failure, Health, TokenMeta};
use crate::engine::{Command, Event, Level, ReauthMethod, ReauthProgress};
use crate::tui::app::{Action, App};
use crate::tui::fleet::{GroupBy, SortBy};
use crate::tui::log::LogLine;
use crate::tui::popup::{Popup, Status};
use crate::tui::views::{LogPurpose, Screen};

fn app() -> App {
    App::new(snapshot(fleet()))
}

fn ch(app: &mut App, c: char) -> Option<Action> {
    press(app, KeyCode::Char(c))
}

fn visible(app: &App) -> Vec<String> {
    let rows = &app.snapshot().connections;
    app.fleet()
        .rows()
        .map(|i| rows[i].key.connector.clone())
        .collect()
}

#[test]
fn s_cycles_the_sort_column_and_capital_s_reverses_it() {
    let mut app = app();
    ch(&mut app, 's');
    assert_eq!(app.fleet().sort, SortBy::Health);
    // Worst first: needs re-auth, down, degraded, ... up.
    assert_eq!(visible(&app)[0], "notion");
    assert_eq!(visible(&app).last().map(String::as_str), Some("github"));
    ch(&mut app, 'S');
    assert_eq!(visible(&app)[0], "github");
    ch(&mut app, 's');
    assert_eq!(app.fleet().sort, SortBy::Name);
    ch(&mut app, 'S');
    assert_eq!(
        visible(&app),
        [
            "atlassian",
            "github",
            "google",
            "jira",
            "notion",
            "paypal",
            "zoom"
        ]
    );
}

#[test]
fn the_selection_follows_its_connection_when_the_order_changes() {
    let mut app = app();
    press(&mut app, KeyCode::Down);
    assert_eq!(app.selected_key(), Some(&key("atlassian", "default")));
    ch(&mut app, 's');
    assert_eq!(app.selected_key(), Some(&key("atlassian", "default")));
    let pos = app.selected_index().expect("selected");
    assert_eq!(visible(&app)[pos], "atlassian");
}

#[test]
fn slash_filters_as_typed_matching_state_and_error_text_and_esc_clears() {
    let mut app = app();
    ch(&mut app, '/');
    typed(&mut app, "TIMEOUT");
    // "timeout: no answer within 5s" is Google's last error.
    assert_eq!(visible(&app), ["google"]);
    assert_eq!(app.selected_key(), Some(&key("google", "default")));
    press(&mut app, KeyCode::Enter);
    assert!(
        app.input().is_none(),
        "Enter keeps the filter and closes the line"
    );
    assert_eq!(visible(&app), ["google"]);
    press(&mut app, KeyCode::Esc);
    assert_eq!(visible(&app).len(), 7, "Esc on the fleet clears the filter");

    ch(&mut app, '/');
    typed(&mut app, "needs re");
    assert_eq!(visible(&app), ["notion"]);
    press(&mut app, KeyCode::Esc);
    assert_eq!(visible(&app).len(), 7, "Esc in the line clears it");
    assert!(app.input().is_none());
}

#[test]
fn keys_typed_into_the_filter_do_not_act() {
    let mut app = app();
    ch(&mut app, '/');
    assert!(ch(&mut app, 'q').is_none(), "q is a letter here, not quit");
    assert!(ch(&mut app, 'r').is_none());
    assert_eq!(app.input().map(|i| i.text.as_str()), Some("qr"));
}

#[test]
fn z_groups_by_connector_then_health_with_headings() {
    let mut rows = fleet();
    let mut second = rows[0].clone();
    second.key = key("github", "bob");
    rows.push(second);
    let mut app = App::new(snapshot(rows));
    ch(&mut app, 'z');
    assert_eq!(app.fleet().group, GroupBy::Connector);
    let headings: Vec<(String, usize)> = app
        .fleet()
        .entries()
        .iter()
        .filter_map(|e| match e {
            crate::tui::fleet::Entry::Group { label, count } => Some((label.clone(), *count)),
            _ => None,
        })
        .collect();
    assert_eq!(headings.len(), 7);
    assert!(headings.contains(&("github".into(), 2)), "{headings:?}");
    // Moving skips headings: every position is a connection.
    for _ in 0..8 {
        press(&mut app, KeyCode::Down);
        assert!(app.selected_key().is_some());
    }
    ch(&mut app, 'z');
    assert_eq!(app.fleet().group, GroupBy::Health);
    ch(&mut app, 'z');
    assert_eq!(app.fleet().group, GroupBy::None);
    assert_eq!(app.fleet().entries().len(), 8);
}

#[test]
fn a_reorder_is_one_pass_not_per_frame() {
    // The order is computed when the snapshot arrives; a key that only moves does not rebuild.
    let mut app = app();
    let before = app.fleet().entries().to_vec();
    press(&mut app, KeyCode::Down);
    assert_eq!(app.fleet().entries(), before.as_slice());
}

fn notion_selected() -> App {
    let mut app = app();
    for _ in 0..3 {
        press(&mut app, KeyCode::Down);
    }
    assert_eq!(app.selected_key(), Some(&key("notion", "default")));
    app
}

#[test]
fn a_then_b_reauthorizes_in_a_browser_through_the_engine() {
    let mut app = notion_selected();
    assert!(ch(&mut app, 'a').is_none());
    assert!(matches!(app.popup(), Some(Popup::ChooseReauth { .. })));
    let action = ch(&mut app, 'b');
    let Some(Action::Send(Command::Reauth {
        key: k,
        method,
        actor,
        ..
    })) = action
    else {
        panic!("expected a re-auth, got {action:?}");
    };
    assert_eq!(k, key("notion", "default"));
    assert_eq!(actor, Actor::Console);
    assert!(matches!(method, ReauthMethod::Browser { .. }));
    let url = "http://127.0.0.1:1/authorize?client_id=x".to_owned();
    app.on_event(
        &Event::Reauth {
            key: k.clone(),
            progress: ReauthProgress::OpenBrowser { url: url.clone() },
        },
        NOW,
    );
    let Some(Popup::Reauth(r)) = app.popup() else {
        panic!("the status popup");
    };
    assert_eq!(r.url.as_deref(), Some(url.as_str()));
    assert_eq!(r.status, Status::Browser);
    let meta = TokenMeta {
        expires_at: Some(NOW + 60_000),
        ..TokenMeta::default()
    };
    app.on_event(
        &Event::Reauth {
            key: k,
            progress: ReauthProgress::Done(meta),
        },
        NOW,
    );
    let Some(Popup::Reauth(r)) = app.popup() else {
        panic!("the status popup stays to say it is done");
    };
    assert!(matches!(r.status, Status::Done { .. }));
    press(&mut app, KeyCode::Esc);
    assert!(app.popup().is_none());
}

#[test]
fn a_device_code_shows_the_code_and_a_qr_and_esc_cancels_the_flow() {
    let mut app = notion_selected();
    ch(&mut app, 'a');
    let Some(Action::Send(Command::Reauth { method, cancel, .. })) = ch(&mut app, 'd') else {
        panic!("expected a re-auth");
    };
    assert!(matches!(method, ReauthMethod::DeviceCode));
    app.on_event(
        &Event::Reauth {
            key: key("notion", "default"),
            progress: ReauthProgress::DeviceCode {
                verification_uri: "http://127.0.0.1:1/device".into(),
                user_code: "BCDF-GHJK".into(),
                verification_uri_complete: Some(
                    "http://127.0.0.1:1/device?user_code=BCDF-GHJK".into(),
                ),
                expires_in: Duration::from_secs(600),
            },
        },
        NOW,
    );
    let Some(Popup::Reauth(r)) = app.popup() else {
        panic!("status popup");
    };
    let device = r.device.as_ref().expect("the device code");
    assert_eq!(device.user_code, "BCDF-GHJK");
    assert!(device.qr.as_ref().is_some_and(|q| !q.is_empty()));
    // Another connection's progress does not touch this popup.
    app.on_event(
        &Event::Reauth {
            key: key("zoom", "default"),
            progress: ReauthProgress::Cancelled,
        },
        NOW,
    );
    assert!(matches!(app.popup(), Some(Popup::Reauth(r)) if !r.status.finished()));
    assert!(!cancel.is_cancelled());
    press(&mut app, KeyCode::Esc);
    assert!(cancel.is_cancelled(), "Esc cancels the engine's flow");
    assert!(app.popup().is_none());
}

#[test]
fn capital_d_asks_before_revoking() {
    let mut app = app();
    assert!(ch(&mut app, 'D').is_none());
    assert!(ch(&mut app, 'n').is_none(), "n keeps the grant");
    assert!(app.popup().is_none());
    ch(&mut app, 'D');
    match ch(&mut app, 'y') {
        Some(Action::Send(Command::Revoke { key: k, actor, .. })) => {
            assert_eq!(k, key("github", "alice"));
            assert_eq!(actor, Actor::Console);
        }
        other => panic!("expected a revoke, got {other:?}"),
    }
}

#[test]
fn space_pauses_and_resumes_by_what_the_snapshot_says() {
    let mut app = app();
    let paused = |a: Option<Action>| match a {
        Some(Action::Send(Command::SetPaused { paused, .. })) => paused,
        other => panic!("expected SetPaused, got {other:?}"),
    };
    assert!(paused(ch(&mut app, ' ')));
    let mut rows = fleet();
    rows[0].paused = true;
    rows[0].health = Health::Paused;
    app.on_snapshot(snapshot(rows));
    assert!(!paused(ch(&mut app, 'P')), "a paused connection resumes");
}

#[test]
fn read_only_refuses_every_action_and_says_so() {
    let mut app = App::new(snapshot(fleet())).read_only(true);
    for c in ['r', 'p', 'a', 'D', ' ', 'P'] {
        assert!(ch(&mut app, c).is_none(), "{c} must do nothing");
        assert!(app.popup().is_none(), "{c} opened a popup");
        let flash = app.flash(NOW).expect("a refusal");
        assert_eq!(flash.level, Level::Warn);
        assert!(flash.text.contains("read-only"));
    }
    ch(&mut app, ':');
    typed(&mut app, "refresh all");
    assert!(press(&mut app, KeyCode::Enter).is_none());
    // Looking is still allowed.
    assert!(matches!(
        press(&mut app, KeyCode::Enter),
        Some(Action::ReadLog(_))
    ));
    assert!(matches!(app.screen(), Screen::Detail(_)));
    assert!(ch(&mut app, 'r').is_none(), "nor from the detail");
}

#[test]
fn command_mode_runs_refresh_all_over_the_visible_rows_only() {
    let mut app = app();
    ch(&mut app, '/');
    typed(&mut app, "rest");
    press(&mut app, KeyCode::Enter);
    let shown = visible(&app);
    ch(&mut app, ':');
    typed(&mut app, "refresh all");
    let Some(Action::Batch(commands)) = press(&mut app, KeyCode::Enter) else {
        panic!("a batch of refreshes");
    };
    let keys: Vec<String> = commands
        .iter()
        .map(|c| match c {
            Command::Refresh { key, .. } => key.connector.clone(),
            other => panic!("not a refresh: {other:?}"),
        })
        .collect();
    assert_eq!(keys, shown);
    assert!(keys.len() < 7, "the filter limits it: {keys:?}");
}

#[test]
fn command_mode_completes_with_tab_and_reports_unknown_commands() {
    let mut app = App::new(snapshot(fleet())).with_about(vec![], vec!["mono".into()]);
    ch(&mut app, ':');
    typed(&mut app, "th");
    press(&mut app, KeyCode::Tab);
    typed(&mut app, "m");
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.input().map(|i| i.text.as_str()), Some("theme mono"));
    assert!(matches!(press(&mut app, KeyCode::Enter), Some(Action::Theme(t)) if t == "mono"));
    ch(&mut app, ':');
    typed(&mut app, "pa");
    press(&mut app, KeyCode::Tab);
    typed(&mut app, "zo");
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.input().map(|i| i.text.as_str()), Some("pause zoom"));
    assert!(matches!(
        press(&mut app, KeyCode::Enter),
        Some(Action::Send(Command::SetPaused { paused: true, .. }))
    ));
    ch(&mut app, ':');
    typed(&mut app, "frobnicate");
    assert!(press(&mut app, KeyCode::Enter).is_none());
    assert!(
        app.flash(NOW)
            .is_some_and(|f| f.text.contains("unknown command"))
    );
    ch(&mut app, ':');
    typed(&mut app, "q");
    assert!(matches!(
        press(&mut app, KeyCode::Enter),
        Some(Action::Quit)
    ));
}

fn line(k: &str, kind: &str, at: i64) -> LogLine {
    LogLine {
        at,
        key: Some(key(k, "default")),
        kind: kind.into(),
        actor: "scheduler".into(),
        outcome: "ok".into(),
        latency_ms: Some(12),
        message: None,
    }
}

#[test]
fn enter_opens_the_detail_which_reads_its_own_probes_and_events() {
    let mut app = app();
    let Some(Action::ReadLog(requests)) = press(&mut app, KeyCode::Enter) else {
        panic!("reads of the log");
    };
    assert!(
        requests
            .iter()
            .all(|r| r.key == Some(key("github", "alice")))
    );
    let probes = requests
        .iter()
        .find(|r| r.purpose == LogPurpose::DetailProbes)
        .expect("probes");
    assert_eq!(probes.kinds, ["probe"]);
    assert_eq!(probes.since, Some(NOW - 3_600_000));
    app.on_log(probes, Ok(vec![line("github", "probe", NOW - 1000)]));
    // h switches to the day and reads again.
    let Some(Action::ReadLog(again)) = ch(&mut app, 'h') else {
        panic!("a re-read");
    };
    assert_eq!(again[0].since, Some(NOW - 24 * 3_600_000));
    // A live probe of this connection lands in the chart's data.
    app.on_log(&again[0], Ok(vec![]));
    let result = crate::domain::ProbeResult {
        at: NOW,
        via: crate::domain::ProbeVia::Mcp,
        latency_ms: 7,
        failure: None,
        primary_failure: None,
    };
    let probed = Event::Probed {
        key: key("github", "alice"),
        result,
    };
    app.on_event(&probed, NOW);
    let Screen::Detail(d) = app.screen() else {
        panic!("detail");
    };
    assert_eq!(
        d.probes
            .as_ref()
            .and_then(|p| p.as_ref().ok())
            .map(Vec::len),
        Some(1)
    );
    // j moves to the next connection's detail.
    assert!(matches!(ch(&mut app, 'j'), Some(Action::ReadLog(_))));
    assert!(matches!(app.screen(), Screen::Detail(d) if d.key == key("atlassian", "default")));
    press(&mut app, KeyCode::Esc);
    assert!(matches!(app.screen(), Screen::Fleet));
}

#[test]
fn the_events_view_backfills_follows_filters_and_jumps() {
    let mut app = app();
    let Some(Action::ReadLog(requests)) = ch(&mut app, 'e') else {
        panic!("a read");
    };
    assert_eq!(requests[0].purpose, LogPurpose::Events);
    // A live event before the stored log answers stays after it.
    let failed = Event::Refreshed {
        key: key("google", "default"),
        result: Err(Failure::new(ErrorClass::Server, "503")),
    };
    app.on_event(&failed, NOW);
    app.on_log(
        &requests[0],
        Ok(vec![
            line("zoom", "probe", NOW - 2000),
            line("jira", "probe", NOW - 1000),
        ]),
    );
    let Screen::Events(log) = app.screen() else {
        panic!("events");
    };
    assert_eq!(log.shown.len(), 3);
    assert!(log.follow);
    assert_eq!(log.selected, 2, "following sits on the newest");
    ch(&mut app, 'k');
    ch(&mut app, 'k');
    let Screen::Events(log) = app.screen() else {
        panic!("events");
    };
    assert!(!log.follow, "moving up stops following");
    assert_eq!(
        log.selected_line().and_then(|l| l.key.clone()),
        Some(key("zoom", "default"))
    );
    ch(&mut app, '/');
    typed(&mut app, "refresh");
    press(&mut app, KeyCode::Enter);
    let Screen::Events(log) = app.screen() else {
        panic!("events");
    };
    assert_eq!(log.shown.len(), 1);
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.screen(), Screen::Fleet));
    assert_eq!(app.selected_key(), Some(&key("google", "default")));
}

#[test]
fn p_while_an_old_error_shows_still_shows_its_answer() {
    let mut app = app();
    app.set_flash(Level::Error, "an old error".into(), NOW);
    ch(&mut app, 'p');
    assert!(app.flash(NOW).is_some_and(|f| f.text.contains("probing")));
    // An error about something else arrives while the probe runs.
    app.set_flash(Level::Error, "zoom: refresh failed".into(), NOW + 50);
    let result = crate::domain::ProbeResult {
        at: NOW,
        via: crate::domain::ProbeVia::Mcp,
        latency_ms: 9,
        failure: None,
        primary_failure: None,
    };
    app.on_event(
        &Event::Probed {
            key: key("github", "alice"),
            result,
        },
        NOW + 100,
    );
    let flash = app.flash(NOW + 100).expect("the probe's answer");
    assert_eq!(flash.text, "github/alice: probe ok in 9 ms");
}

#[test]
fn ctrl_c_quits_from_any_screen_or_line() {
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    let mut a = app();
    ch(&mut a, '/');
    assert!(matches!(a.handle_key(ctrl_c, NOW), Some(Action::Quit)));
    let mut b = app();
    ch(&mut b, 'e');
    assert!(matches!(b.handle_key(ctrl_c, NOW), Some(Action::Quit)));
}

#[test]
fn configured_keys_drive_the_fleet_and_its_hint_bar() {
    use crate::config::KeyList;
    use crate::tui::key_config::Keys;
    let config: std::collections::BTreeMap<String, KeyList> =
        [("refresh".to_owned(), KeyList::One("F5".into()))].into();
    let keys = Keys::from_config(&config).expect("valid");
    let mut app = App::new(snapshot(fleet())).with_keys(keys);
    assert!(ch(&mut app, 'r').is_none(), "r no longer refreshes");
    assert!(matches!(
        press(&mut app, KeyCode::F(5)),
        Some(Action::Send(Command::Refresh { .. }))
    ));
    let theme = crate::tui::theme::Theme::builtin_default();
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).expect("backend");
    terminal
        .draw(|f| crate::tui::view::render(f, &app, &theme, NOW))
        .expect("draw");
    let screen: String = terminal
        .backend()
        .buffer()
        .content
        .iter()
        .map(|c| c.symbol())
        .collect();
    assert!(screen.contains("F5 refresh"), "{screen}");
}

#[test]
fn a_click_selects_the_row_under_it_and_the_wheel_moves() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let area = ratatui::layout::Rect::new(0, 0, 120, 40);
    let mouse = |kind, row| MouseEvent {
        kind,
        column: 10,
        row,
        modifiers: KeyModifiers::NONE,
    };
    let mut app = app();
    // Header line, table border, column titles: the fourth connection is on screen row 6.
    assert!(app.handle_mouse(mouse(MouseEventKind::Down(MouseButton::Left), 6), area));
    assert_eq!(app.selected_key(), Some(&key("notion", "default")));
    assert!(app.handle_mouse(mouse(MouseEventKind::ScrollDown, 0), area));
    assert_eq!(app.selected_key(), Some(&key("zoom", "default")));
    // A click on the border selects nothing.
    assert!(!app.handle_mouse(mouse(MouseEventKind::Down(MouseButton::Left), 1), area));
    assert_eq!(app.selected_key(), Some(&key("zoom", "default")));
}

#[test]
fn an_up_row_does_not_show_an_old_error_and_a_lost_grant_names_the_key() {
    let mut rows = fleet();
    rows[0].last_error = Some(Failure::new(ErrorClass::Server, "HTTP 503 from the server"));
    let app = App::new(snapshot(rows));
    let theme = crate::tui::theme::Theme::builtin_default();
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).expect("backend");
    terminal
        .draw(|f| crate::tui::view::render(f, &app, &theme, NOW))
        .expect("draw");
    let buffer = terminal.backend().buffer();
    let lines: Vec<String> = buffer
        .content
        .chunks(120)
        .map(|r| r.iter().map(|c| c.symbol()).collect())
        .collect();
    let github = lines
        .iter()
        .find(|l| l.contains("GitHub/alice"))
        .expect("row");
    assert!(!github.contains("503"), "{github}");
    let status = &lines[38];
    assert!(!status.contains("503"), "{status}");
    // The re-auth hint fits at 120 columns instead of `run \`switch…`.
    let notion = lines.iter().find(|l| l.contains("Notion")).expect("row");
    assert!(notion.contains("a: re-authorize"), "{notion}");
    assert!(
        !lines.iter().any(|l| l.contains("run `switch")),
        "{lines:?}"
    );
}
