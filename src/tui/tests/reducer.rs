//! Keys and engine events in; state and emitted commands out.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::fixtures::{NOW, fleet, key, snapshot};
use crate::domain::{Actor, ConnectionKey, ErrorClass, Failure, TokenMeta};
use crate::engine::{Command, Event, Level};
use crate::tui::app::{Action, App};

fn press(app: &mut App, code: KeyCode) -> Option<Action> {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE), NOW)
}

fn ch(app: &mut App, c: char) -> Option<Action> {
    press(app, KeyCode::Char(c))
}

fn app() -> App {
    App::new(snapshot(fleet()))
}

fn selected(app: &App) -> ConnectionKey {
    app.selected_key().cloned().expect("a selection")
}

#[test]
fn q_and_ctrl_c_quit() {
    let mut app = app();
    assert!(matches!(ch(&mut app, 'q'), Some(Action::Quit)));
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(matches!(app.handle_key(ctrl_c, NOW), Some(Action::Quit)));
}

#[test]
fn first_row_is_selected_on_start() {
    assert_eq!(selected(&app()), key("github", "alice"));
    assert_eq!(app().selected_index(), Some(0));
}

#[test]
fn r_on_second_row_refreshes_that_row_as_console() {
    let mut app = app();
    assert!(ch(&mut app, 'j').is_none());
    match ch(&mut app, 'r') {
        Some(Action::Send(Command::Refresh {
            key: k,
            actor,
            reply,
        })) => {
            assert_eq!(k, key("atlassian", "default"));
            assert_eq!(actor, Actor::Console);
            assert!(reply.is_none());
        }
        other => panic!("expected a refresh, got {other:?}"),
    }
    let flash = app.flash(NOW).expect("feedback on the key press");
    assert_eq!(flash.text, "atlassian: refreshing…");
}

#[test]
fn p_probes_the_selected_row() {
    let mut app = app();
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    match ch(&mut app, 'p') {
        Some(Action::Send(Command::Probe { key: k, actor, .. })) => {
            assert_eq!(k, key("google", "default"));
            assert_eq!(actor, Actor::Console);
        }
        other => panic!("expected a probe, got {other:?}"),
    }
}

#[test]
fn movement_clamps_at_both_ends_and_g_jumps() {
    let mut app = app();
    ch(&mut app, 'k');
    assert_eq!(app.selected_index(), Some(0));
    ch(&mut app, 'G');
    assert_eq!(selected(&app), key("paypal", "default"));
    ch(&mut app, 'j');
    assert_eq!(app.selected_index(), Some(6));
    ch(&mut app, 'g');
    assert_eq!(app.selected_index(), Some(0));
    press(&mut app, KeyCode::End);
    press(&mut app, KeyCode::Up);
    assert_eq!(selected(&app), key("jira", "default"));
}

#[test]
fn selection_follows_its_row_across_a_reorder() {
    let mut app = app();
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    assert_eq!(selected(&app), key("google", "default"));
    let mut rows = fleet();
    rows.reverse();
    app.on_snapshot(snapshot(rows));
    assert_eq!(selected(&app), key("google", "default"));
    assert_eq!(app.selected_index(), Some(4));
    // And the next move starts from the row's new place.
    ch(&mut app, 'j');
    assert_eq!(selected(&app), key("atlassian", "default"));
}

#[test]
fn selection_clamps_when_rows_vanish() {
    let mut app = app();
    ch(&mut app, 'G');
    let mut rows = fleet();
    rows.truncate(3);
    app.on_snapshot(snapshot(rows));
    assert_eq!(selected(&app), key("google", "default"));

    // A vanished row in the middle: the selection stays at the same place.
    let mut app = self::app();
    ch(&mut app, 'j');
    let rows: Vec<_> = fleet()
        .into_iter()
        .filter(|c| c.key.connector != "atlassian")
        .collect();
    app.on_snapshot(snapshot(rows));
    assert_eq!(selected(&app), key("google", "default"));
}

#[test]
fn empty_fleet_has_no_selection_and_refresh_explains() {
    let mut app = app();
    app.on_snapshot(snapshot(vec![]));
    assert_eq!(app.selected_key(), None);
    assert!(ch(&mut app, 'r').is_none());
    assert_eq!(app.flash(NOW).map(|f| f.level), Some(Level::Warn));
    // Rows coming back select the first one again.
    app.on_snapshot(snapshot(fleet()));
    assert_eq!(app.selected_index(), Some(0));
}

#[test]
fn help_is_modal_and_esc_closes_it() {
    let mut app = app();
    ch(&mut app, '?');
    assert!(app.help_visible());
    assert!(ch(&mut app, 'r').is_none(), "no commands behind the popup");
    ch(&mut app, 'j');
    assert_eq!(app.selected_index(), Some(0));
    press(&mut app, KeyCode::Esc);
    assert!(!app.help_visible());
    ch(&mut app, '?');
    ch(&mut app, '?');
    assert!(!app.help_visible());
    ch(&mut app, '?');
    assert!(matches!(ch(&mut app, 'q'), Some(Action::Quit)));
}

#[test]
fn esc_clears_the_flash() {
    let mut app = app();
    ch(&mut app, 'r');
    assert!(app.flash(NOW).is_some());
    press(&mut app, KeyCode::Esc);
    assert!(app.flash(NOW).is_none());
}

#[test]
fn flash_expires() {
    let mut app = app();
    app.set_flash(Level::Info, "hello".into(), NOW);
    assert!(!app.expire_flash(NOW + 1_000));
    assert!(app.flash(NOW + 1_000).is_some());
    assert!(app.expire_flash(NOW + 60_000));
    assert!(app.flash(NOW + 60_000).is_none());
}

#[test]
fn info_does_not_hide_a_live_error() {
    let mut app = app();
    app.set_flash(Level::Error, "bad".into(), NOW);
    app.set_flash(Level::Info, "fine".into(), NOW + 1_000);
    assert_eq!(app.flash(NOW + 1_000).map(|f| f.text.as_str()), Some("bad"));
    app.set_flash(Level::Info, "later".into(), NOW + 60_000);
    assert_eq!(
        app.flash(NOW + 60_000).map(|f| f.text.as_str()),
        Some("later")
    );
}

#[test]
fn our_refresh_success_flashes_but_the_schedulers_does_not() {
    let meta = TokenMeta {
        expires_at: Some(NOW + 3_600_000),
        ..TokenMeta::default()
    };
    let done = |connector: &str| Event::Refreshed {
        key: key(connector, "default"),
        result: Ok(meta.clone()),
    };
    let mut app = app();
    app.on_event(&done("atlassian"), NOW);
    assert!(
        app.flash(NOW).is_none(),
        "routine scheduler refresh is silent"
    );

    ch(&mut app, 'j');
    ch(&mut app, 'r');
    app.on_event(&done("atlassian"), NOW + 500);
    let flash = app.flash(NOW + 500).expect("our refresh reports back");
    assert_eq!(flash.text, "atlassian: refreshed, expires in 59m 59s");
}

#[test]
fn failures_and_lost_grants_always_flash_as_errors() {
    let mut app = app();
    app.on_event(
        &Event::Refreshed {
            key: key("google", "default"),
            result: Err(Failure::new(ErrorClass::Server, "503 from token endpoint")),
        },
        NOW,
    );
    let flash = app.flash(NOW).expect("flash");
    assert_eq!(flash.level, Level::Error);
    assert_eq!(
        flash.text,
        "google: refresh failed: server: 503 from token endpoint"
    );

    app.on_event(
        &Event::NeedsReauth {
            key: key("notion", "default"),
        },
        NOW + 20_000,
    );
    let flash = app.flash(NOW + 20_000).expect("flash");
    assert!(
        flash
            .text
            .contains("notion: grant lost; select it and press a"),
        "{}",
        flash.text
    );

    app.on_event(
        &Event::Notice {
            level: Level::Warn,
            text: "leader changed".into(),
        },
        NOW + 60_000,
    );
    assert_eq!(app.flash(NOW + 60_000).map(|f| f.level), Some(Level::Warn));
}
