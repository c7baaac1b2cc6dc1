//! Every key of every key table does what its table says: the dashboard's `KEYMAP` and each of
//! the tool panel's stage tables. Each key is pressed on a fresh console in the right state and
//! the effect is checked against the binding's intent, so a table entry the dispatch ignores
//! (or a dispatch that does something else) fails here, and the hint line, which is drawn from
//! the same tables, cannot promise a key that does nothing.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rmcp::model::Tool;
use serde_json::json;

use super::elicit::{answered, answering, calling};
use super::fixtures::{NOW, fleet, snapshot};
use super::tools::{add_tool, listed_with, press, stage};
use crate::engine::{Command, Level};
use crate::toolkit::elicit::prompt::Answer;
use crate::tui::app::{Action, App};
use crate::tui::fleet::{GroupBy, SortBy};
use crate::tui::keymap::{Binding, Intent, KEYMAP};
use crate::tui::panel_keys::{self, PanelIntent};
use crate::tui::popup::Popup;
use crate::tui::theme::Theme;
use crate::tui::tools_panel::{Stage, Tab};
use crate::tui::view;
use crate::tui::views::{InputKind, Screen};

fn key_event(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
    KeyEvent::new(code, modifiers)
}

fn each_key<I: Copy>(table: &[Binding<I>]) -> Vec<(KeyEvent, I, &'static str)> {
    table
        .iter()
        .flat_map(|b| {
            b.keys
                .iter()
                .map(move |&(code, m)| (key_event(code, m), b.intent, b.label))
        })
        .collect()
}

#[test]
fn every_dashboard_key_does_what_the_keymap_says() {
    for (key, intent, label) in each_key(KEYMAP) {
        let mut app = App::new(snapshot(fleet()));
        // The second row: up, down, top and bottom all move from here.
        press(&mut app, KeyCode::Down);
        app.set_flash(Level::Info, "hello".into(), NOW);
        let before = app.selected_index().expect("a selection");
        let last = app.snapshot().connections.len() - 1;
        let selected = app.selected_key().cloned();
        let action = app.handle_key(key, NOW);
        let what = format!("{label} ({key:?}) should {intent:?}");
        match intent {
            Intent::Quit => assert!(matches!(action, Some(Action::Quit)), "{what}"),
            Intent::Up => assert_eq!(app.selected_index(), Some(before - 1), "{what}"),
            Intent::Down => assert_eq!(app.selected_index(), Some(before + 1), "{what}"),
            Intent::Top => assert_eq!(app.selected_index(), Some(0), "{what}"),
            Intent::Bottom => assert_eq!(app.selected_index(), Some(last), "{what}"),
            Intent::Refresh => assert!(
                matches!(action, Some(Action::Send(Command::Refresh { key, .. })) if Some(&key) == selected.as_ref()),
                "{what}"
            ),
            Intent::Probe => assert!(
                matches!(action, Some(Action::Send(Command::Probe { key, .. })) if Some(&key) == selected.as_ref()),
                "{what}"
            ),
            Intent::Tools => {
                assert!(
                    matches!(action, Some(Action::Send(Command::ListTools { .. }))),
                    "{what}"
                );
                assert!(app.tool_panel().is_some(), "{what}");
            }
            Intent::Help => assert!(app.help_visible(), "{what}"),
            Intent::Close => assert!(app.flash(NOW).is_none(), "{what}"),
            Intent::Detail => {
                assert!(
                    matches!(app.screen(), Screen::Detail(d) if Some(&d.key) == selected.as_ref()),
                    "{what}"
                );
                assert!(
                    matches!(action, Some(Action::ReadLog(r)) if r.len() == 2),
                    "{what}"
                );
            }
            Intent::Filter => assert!(
                matches!(app.input(), Some(i) if i.kind == InputKind::Filter),
                "{what}"
            ),
            Intent::CommandMode => assert!(
                matches!(app.input(), Some(i) if i.kind == InputKind::Command),
                "{what}"
            ),
            Intent::Sort => assert_eq!(app.fleet().sort, SortBy::Health, "{what}"),
            Intent::Reverse => assert!(app.fleet().descending, "{what}"),
            Intent::Group => assert_eq!(app.fleet().group, GroupBy::Connector, "{what}"),
            Intent::Reauth => assert!(
                matches!(app.popup(), Some(Popup::ChooseReauth { key }) if Some(key) == selected.as_ref()),
                "{what}"
            ),
            Intent::Revoke => assert!(
                matches!(app.popup(), Some(Popup::ConfirmRevoke { key }) if Some(key) == selected.as_ref()),
                "{what}"
            ),
            Intent::Pause => assert!(
                action.is_some() || app.flash(NOW).is_some_and(|f| f.text.contains("pause")),
                "{what}"
            ),
            Intent::Events => {
                assert!(matches!(app.screen(), Screen::Events(_)), "{what}");
                assert!(matches!(action, Some(Action::ReadLog(_))), "{what}");
            }
        }
    }
}

fn two_tools() -> Vec<Tool> {
    let serde_json::Value::Object(schema) = json!({"type": "object"}) else {
        unreachable!()
    };
    vec![add_tool(), Tool::new("echo", "Says it back", schema)]
}

/// The panel on its list, the second tool selected.
fn on_list() -> App {
    let mut app = listed_with(two_tools());
    press(&mut app, KeyCode::Down);
    assert!(matches!(stage(&app), Stage::List { selected: 1 }));
    app
}

/// The panel's editor open on `add`, with valid arguments.
fn editing() -> App {
    let mut app = listed_with(two_tools());
    press(&mut app, KeyCode::Enter);
    assert!(matches!(stage(&app), Stage::Edit { .. }));
    app
}

fn editor_text(app: &App) -> String {
    match stage(app) {
        Stage::Edit { editor, .. } | Stage::Answer { editor, .. } => editor.text().to_string(),
        other => panic!("no editor: {other:?}"),
    }
}

/// Checks what the panel-wide intents do; true when `intent` was one of them.
fn common(app: &App, action: &Option<Action>, intent: PanelIntent, what: &str) -> bool {
    match intent {
        PanelIntent::Close => {
            assert!(action.is_none(), "{what}");
            assert!(app.tool_panel().is_none(), "{what}");
        }
        PanelIntent::Help => {
            let panel = app.tool_panel().expect("panel open");
            assert!(panel.help_visible(), "{what}");
        }
        PanelIntent::NextTab => {
            let panel = app.tool_panel().expect("panel open");
            assert_eq!(panel.tabs.tab, Tab::Resources, "{what}");
        }
        PanelIntent::PrevTab => {
            // Backwards from tools is the protocol tab, which asks for the transcript.
            let panel = app.tool_panel().expect("panel open");
            assert_eq!(panel.tabs.tab, Tab::Protocol, "{what}");
            assert!(
                matches!(
                    action,
                    Some(Action::Send(Command::Transcript { follow: true, .. }))
                ),
                "{what}: {action:?}"
            );
        }
        _ => return false,
    }
    true
}

#[test]
fn every_tool_list_key_does_what_its_table_says() {
    for (key, intent, label) in each_key(panel_keys::LIST) {
        let mut app = on_list();
        let action = app.handle_key(key, NOW);
        let what = format!("list: {label} ({key:?}) should {intent:?}");
        if common(&app, &action, intent, &what) {
            continue;
        }
        match (intent, stage(&app)) {
            (PanelIntent::Up, Stage::List { selected: 0 }) => {}
            (PanelIntent::Down, Stage::List { selected: 1 }) => {
                // Already the last tool: Down stays, so check it moves from the first.
                let mut app = listed_with(two_tools());
                app.handle_key(key, NOW);
                assert!(matches!(stage(&app), Stage::List { selected: 1 }), "{what}");
            }
            (PanelIntent::Arguments, Stage::Edit { tool: 1, .. }) => {}
            (PanelIntent::History, Stage::History { selected: 0 }) => {}
            (_, other) => panic!("{what}; got {other:?}"),
        }
    }
}

#[test]
fn every_loading_and_result_key_does_what_its_table_says() {
    for (key, intent, label) in each_key(panel_keys::LOADING) {
        let mut app = App::new(snapshot(fleet()));
        press(&mut app, KeyCode::Char('t'));
        assert!(matches!(stage(&app), Stage::Loading));
        let action = app.handle_key(key, NOW);
        let what = format!("loading: {label} ({key:?}) should {intent:?}");
        assert!(common(&app, &action, intent, &what), "{what}: unchecked");
    }
    for (key, intent, label) in each_key(panel_keys::DONE) {
        let mut app = calling();
        let result = crate::engine::Event::ToolResult {
            key: app.selected_key().cloned().expect("a selection"),
            tool: "sign_up".into(),
            result: Err(crate::toolkit::CallError::Failed(
                crate::domain::Failure::new(crate::domain::ErrorClass::Server, "boom"),
            )),
        };
        app.on_event(&result, NOW);
        assert!(matches!(stage(&app), Stage::Done { .. }));
        let action = app.handle_key(key, NOW);
        let what = format!("result: {label} ({key:?}) should {intent:?}");
        if common(&app, &action, intent, &what) {
            continue;
        }
        if intent == PanelIntent::Copy {
            assert!(
                matches!(&action, Some(Action::Copy(line)) if line.starts_with("switchboard call ") && line.contains(" sign_up ")),
                "{what}: {action:?}"
            );
            continue;
        }
        assert_eq!(intent, PanelIntent::Back, "{what}: unchecked");
        assert!(matches!(stage(&app), Stage::List { .. }), "{what}");
    }
}

#[test]
fn every_editor_key_does_what_its_table_says() {
    for (key, intent, label) in each_key(panel_keys::EDIT) {
        let mut app = editing();
        let before = editor_text(&app);
        let action = app.handle_key(key, NOW);
        let what = format!("edit: {label} ({key:?}) should {intent:?}");
        match intent {
            PanelIntent::Call => {
                assert!(
                    matches!(&action, Some(Action::Send(Command::CallTool { tool, .. })) if tool == "add"),
                    "{what}: {action:?}"
                );
                assert!(matches!(stage(&app), Stage::Running { .. }), "{what}");
            }
            PanelIntent::Newline => {
                assert!(action.is_none(), "{what}");
                assert_eq!(
                    editor_text(&app).matches('\n').count(),
                    before.matches('\n').count() + 1,
                    "{what}"
                );
            }
            PanelIntent::Back => {
                assert!(matches!(stage(&app), Stage::List { selected: 0 }), "{what}")
            }
            PanelIntent::Switch => {
                assert!(
                    matches!(stage(&app), Stage::Edit { form: Some(_), .. }),
                    "{what}"
                )
            }
            PanelIntent::Copy => assert!(
                matches!(&action, Some(Action::Copy(line))
                    if line == r#"switchboard call github add '{"a":0,"b":0}' --account alice"#),
                "{what}: {action:?}"
            ),
            other => panic!("{what}: unchecked intent {other:?}"),
        }
    }
}

/// The form open on a tool with an optional array, an enum and a required number.
fn in_form() -> App {
    let serde_json::Value::Object(schema) = json!({
        "type": "object",
        "properties": {
            "n": {"type": "number"},
            "mode": {"enum": ["a", "b", "c"]},
            "tags": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["n", "mode"]
    }) else {
        unreachable!()
    };
    let mut app = listed_with(vec![Tool::new("pick", "Pick", schema)]);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Tab);
    // On `mode`, the second row.
    press(&mut app, KeyCode::Down);
    app
}

fn form_rows(app: &App) -> (usize, serde_json::Value) {
    match stage(app) {
        Stage::Edit {
            form: Some(form), ..
        } => (form.selected(), form.value().clone()),
        other => panic!("no form: {other:?}"),
    }
}

#[test]
fn every_form_key_does_what_its_table_says() {
    for (key, intent, label) in each_key(panel_keys::FORM) {
        let mut app = in_form();
        let (row, before) = form_rows(&app);
        assert_eq!((row, &before), (1, &json!({"n": 0, "mode": "a"})));
        let action = app.handle_key(key, NOW);
        let what = format!("form: {label} ({key:?}) should {intent:?}");
        if intent == PanelIntent::Call {
            assert!(
                matches!(&action, Some(Action::Send(Command::CallTool { tool, arguments, .. }))
                    if tool == "pick" && arguments.clone().map(serde_json::Value::Object) == Some(before.clone())),
                "{what}: {action:?}"
            );
            continue;
        }
        if intent == PanelIntent::Copy {
            assert!(
                matches!(&action, Some(Action::Copy(line))
                    if line == r#"switchboard call github pick '{"mode":"a","n":0}' --account alice"#),
                "{what}: {action:?}"
            );
            continue;
        }
        assert!(action.is_none(), "{what}");
        match intent {
            PanelIntent::Back => {
                assert!(matches!(stage(&app), Stage::List { .. }), "{what}");
                continue;
            }
            PanelIntent::Switch => {
                assert!(
                    matches!(stage(&app), Stage::Edit { form: None, editor, .. }
                        if serde_json::from_str::<serde_json::Value>(editor.text()).ok() == Some(before.clone())),
                    "{what}"
                );
                continue;
            }
            _ => {}
        }
        let (row, after) = form_rows(&app);
        match intent {
            PanelIntent::Up => assert_eq!(row, 0, "{what}"),
            PanelIntent::Down => assert_eq!(row, 2, "{what}"),
            PanelIntent::Next => assert_eq!(after["mode"], "b", "{what}"),
            PanelIntent::Previous => assert_eq!(after["mode"], "c", "{what}"),
            PanelIntent::Add | PanelIntent::Remove => {
                // From the array row: Ctrl-N gives it a value, then an item; Ctrl-X takes the
                // item away.
                let mut app = in_form();
                press(&mut app, KeyCode::Down);
                if intent == PanelIntent::Add {
                    app.handle_key(key, NOW);
                    assert_eq!(form_rows(&app).1["tags"], json!([]), "{what}");
                    app.handle_key(key, NOW);
                    assert_eq!(form_rows(&app).1["tags"], json!([""]), "{what}");
                } else {
                    let add = KeyEvent::new(KeyCode::Char('n'), KeyModifiers::CONTROL);
                    app.handle_key(add, NOW);
                    app.handle_key(add, NOW);
                    // Ctrl-N selected the new item; Ctrl-X removes it, then leaves the array out.
                    app.handle_key(key, NOW);
                    assert_eq!(form_rows(&app).1["tags"], json!([]), "{what}");
                    app.handle_key(key, NOW);
                    assert!(form_rows(&app).1.get("tags").is_none(), "{what}");
                }
            }
            other => panic!("{what}: unchecked intent {other:?}"),
        }
    }
}

#[test]
fn every_running_key_does_what_its_table_says() {
    for (key, intent, label) in each_key(panel_keys::RUNNING) {
        let mut app = calling();
        app.handle_key(key, NOW);
        let what = format!("running: {label} ({key:?}) should {intent:?}");
        assert_eq!(intent, PanelIntent::Cancel, "{what}: unchecked");
        match stage(&app) {
            Stage::Running { cancel, .. } => assert!(cancel.is_cancelled(), "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn every_answer_key_does_what_its_table_says() {
    for (key, intent, label) in each_key(panel_keys::ANSWER) {
        let mut app = answering();
        // A valid answer, so that sending it sends.
        crate::tui::tests::tools::typed(&mut app, "Ada");
        let before = editor_text(&app);
        let sent = answered(app.handle_key(key, NOW));
        let what = format!("answer: {label} ({key:?}) should {intent:?}");
        match intent {
            PanelIntent::Answer => {
                assert!(matches!(sent, Some(Answer::Accept(_))), "{what}: {sent:?}")
            }
            PanelIntent::Decline => assert_eq!(sent, Some(Answer::Decline), "{what}"),
            PanelIntent::CancelAsk => assert_eq!(sent, Some(Answer::Cancel), "{what}"),
            PanelIntent::Newline => {
                assert_eq!(sent, None, "{what}");
                assert_eq!(
                    editor_text(&app).matches('\n').count(),
                    before.matches('\n').count() + 1,
                    "{what}"
                );
            }
            other => panic!("{what}: unchecked intent {other:?}"),
        }
        if sent.is_some() {
            assert!(
                matches!(stage(&app), Stage::Running { .. }),
                "{what}: back to the call"
            );
        }
    }
}

#[test]
fn the_panel_hint_line_is_its_table() {
    let app = editing();
    let panel = app.tool_panel().expect("panel open");
    let shown: Vec<_> = crate::tui::keymap::hints(panel.keys());
    assert_eq!(
        shown,
        [
            ("Enter/Ctrl-S", "call"),
            ("Alt-Enter/Ctrl-J", "newline"),
            ("Tab", "form"),
            ("Esc", "back")
        ]
    );
}

#[test]
fn the_panel_help_lists_every_stage_table_and_closes_on_esc() {
    let mut app = listed_with(two_tools());
    press(&mut app, KeyCode::Char('?'));
    // Every stage's table at once needs a tall terminal.
    let mut terminal = Terminal::new(TestBackend::new(120, 70)).expect("backend");
    let theme = Theme::builtin_default();
    terminal
        .draw(|f| view::render(f, &app, &theme, NOW))
        .expect("draw");
    let buffer = terminal.backend().buffer();
    let screen: String = buffer
        .content
        .chunks(usize::from(buffer.area.width))
        .map(|row| row.iter().map(|c| c.symbol()).collect::<String>() + "\n")
        .collect();
    for (title, table) in panel_keys::SECTIONS {
        assert!(screen.contains(title), "{title} missing:\n{screen}");
        for binding in *table {
            assert!(
                screen.contains(binding.description),
                "{} missing:\n{screen}",
                binding.description
            );
        }
    }
    // Modal: Enter does not open the editor behind it; Esc closes it, not the panel.
    press(&mut app, KeyCode::Enter);
    assert!(matches!(stage(&app), Stage::List { .. }));
    press(&mut app, KeyCode::Esc);
    let panel = app.tool_panel().expect("the panel stays open");
    assert!(!panel.help_visible());
}
