//! The argument form in the tool panel: Tab from the JSON editor, typing into fields, turning
//! choices, the schema check as the fields change, the call, and how it looks.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rmcp::model::Tool;
use serde_json::{Value, json};

use super::fixtures::NOW;
use super::tools::{listed_with, press, stage, typed};
use crate::engine::Command;
use crate::tui::app::{Action, App};
use crate::tui::theme::Theme;
use crate::tui::tools_panel::Stage;
use crate::tui::view;

/// A schema with the shapes generated forms stumble on.
pub(super) fn rich_tool() -> Tool {
    let Value::Object(schema) = json!({
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "what to look for"},
            "limit": {"type": ["integer", "null"], "default": 10, "description": "at most this many"},
            "mode": {"enum": ["fast", "exact"]},
            "verbose": {"type": "boolean"},
            "target": {"$ref": "#/$defs/Target"},
            "tags": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["query", "target"],
        "$defs": {"Target": {"type": "object", "description": "where to look",
            "properties": {"host": {"type": "string"}, "port": {"type": "integer"}},
            "required": ["host"]}}
    }) else {
        unreachable!()
    };
    Tool::new("search", "Search somewhere", schema)
}

fn form_value(app: &App) -> Value {
    match stage(app) {
        Stage::Edit {
            form: Some(form), ..
        } => form.value().clone(),
        other => panic!("no form: {other:?}"),
    }
}

fn form_problems(app: &App) -> Vec<String> {
    match stage(app) {
        Stage::Edit {
            form: Some(form), ..
        } => form.problems().iter().map(ToString::to_string).collect(),
        other => panic!("no form: {other:?}"),
    }
}

fn ctrl(app: &mut App, c: char) -> Option<Action> {
    app.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL), NOW)
}

fn in_form() -> App {
    let mut app = listed_with(vec![rich_tool()]);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Tab);
    app
}

#[test]
fn fields_fill_the_arguments_and_the_check_follows_each_key() {
    let mut app = in_form();
    // The template's required fields and the default: valid as it stands.
    assert_eq!(
        form_value(&app),
        json!({"query": "", "target": {"host": ""}, "limit": 10})
    );
    assert!(form_problems(&app).is_empty());
    typed(&mut app, "rust tui");
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    typed(&mut app, "example.org");
    press(&mut app, KeyCode::Down);
    typed(&mut app, "80x");
    assert_eq!(
        form_problems(&app),
        ["/target/port: expected integer, got \"80x\""]
    );
    press(&mut app, KeyCode::Backspace);
    assert!(form_problems(&app).is_empty());
    press(&mut app, KeyCode::Down);
    // limit: Ctrl-U clears the default; cleared, an optional field is left out.
    ctrl(&mut app, 'u');
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char(' '));
    let sent = match press(&mut app, KeyCode::Enter) {
        Some(Action::Send(Command::CallTool { arguments, .. })) => arguments.map(Value::Object),
        other => panic!("Enter should call, got {other:?}"),
    };
    assert_eq!(
        sent,
        Some(json!({
            "query": "rust tui", "target": {"host": "example.org", "port": 80},
            "mode": "fast", "verbose": true
        }))
    );
}

#[test]
fn tab_carries_the_value_both_ways_and_refuses_what_the_form_cannot_show() {
    let mut app = listed_with(vec![rich_tool()]);
    press(&mut app, KeyCode::Enter);
    ctrl(&mut app, 'u');
    typed(
        &mut app,
        r#"{"query": "x", "target": {"host": "h"}, "tags": ["a", "b"]}"#,
    );
    press(&mut app, KeyCode::Tab);
    assert_eq!(
        form_value(&app),
        json!({"query": "x", "target": {"host": "h"}, "tags": ["a", "b"]})
    );
    press(&mut app, KeyCode::Tab);
    let text = match stage(&app) {
        Stage::Edit {
            form: None, editor, ..
        } => editor.text().to_string(),
        other => panic!("Tab should go back to JSON: {other:?}"),
    };
    assert_eq!(
        serde_json::from_str::<Value>(&text).ok(),
        Some(json!({"query": "x", "target": {"host": "h"}, "tags": ["a", "b"]}))
    );
    // Broken JSON stays in the editor and says why.
    typed(&mut app, "}");
    press(&mut app, KeyCode::Tab);
    match stage(&app) {
        Stage::Edit {
            form: None,
            problems,
            ..
        } => assert!(
            problems[0].contains("fix it to open the form"),
            "{problems:?}"
        ),
        other => panic!("broken JSON must not open the form: {other:?}"),
    }
}

#[test]
fn the_json_editor_is_checked_as_it_is_typed() {
    let mut app = listed_with(vec![rich_tool()]);
    press(&mut app, KeyCode::Enter);
    let live = |app: &App| match stage(app) {
        Stage::Edit { live, .. } => live.clone(),
        other => panic!("{other:?}"),
    };
    assert!(live(&app).is_empty(), "{:?}", live(&app));
    ctrl(&mut app, 'u');
    typed(&mut app, r#"{"query": 1"#);
    assert!(
        live(&app)[0].starts_with("not valid JSON yet"),
        "{:?}",
        live(&app)
    );
    typed(&mut app, "}");
    assert_eq!(
        live(&app),
        [
            "/query: expected string, got 1",
            "/target: missing required property \"target\" (object)"
        ]
    );
}

fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("backend");
    let theme = Theme::builtin_default();
    terminal
        .draw(|f| view::render(f, app, &theme, NOW))
        .expect("draw");
    terminal
}

#[test]
fn the_form_at_120x40_and_80x24() {
    let mut app = in_form();
    typed(&mut app, "rust");
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    typed(&mut app, "example.org");
    press(&mut app, KeyCode::Down);
    typed(&mut app, "x");
    insta::assert_snapshot!("form_120x40", draw(&app, 120, 40).backend());
    insta::assert_snapshot!("form_80x24", draw(&app, 80, 24).backend());
}
