//! Call history per connection (kept by the console across panels) and "copy as command".

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

use super::fixtures::{NOW, key};
use super::tools::{listed, press, stage, typed};
use crate::engine::{Command, Event};
use crate::toolkit::{CallOutcome, Catalogue};
use crate::tui::app::{Action, App};
use crate::tui::theme::Theme;
use crate::tui::tools_panel::Stage;
use crate::tui::view;

fn call(app: &mut App, args: &str, latency_ms: u64) {
    press(app, KeyCode::Enter);
    app.handle_key(
        KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL),
        NOW,
    );
    typed(app, args);
    match press(app, KeyCode::Enter) {
        Some(Action::Send(Command::CallTool { .. })) => {}
        other => panic!("Enter should call, got {other:?}"),
    }
    app.on_event(
        &Event::ToolResult {
            key: key("github", "alice"),
            tool: "add".into(),
            result: Ok(CallOutcome {
                result: CallToolResult::success(vec![ContentBlock::text("ok")]),
                latency_ms,
            }),
        },
        NOW,
    );
    press(app, KeyCode::Esc);
}

fn sent_arguments(action: Option<Action>) -> Value {
    match action {
        Some(Action::Send(Command::CallTool { arguments, .. })) => {
            Value::Object(arguments.unwrap_or_default())
        }
        other => panic!("expected a call, got {other:?}"),
    }
}

#[test]
fn past_calls_outlive_the_panel_and_run_again_or_open_in_the_editor() {
    let mut app = listed();
    call(&mut app, r#"{"a": 1, "b": 2}"#, 7);
    call(&mut app, r#"{"a": 5, "b": 5}"#, 9);
    // Closed and opened again: the console kept them.
    press(&mut app, KeyCode::Esc);
    assert!(app.tool_panel().is_none());
    press(&mut app, KeyCode::Char('t'));
    app.on_event(
        &Event::ToolsListed {
            key: key("github", "alice"),
            result: Ok(Arc::new(Catalogue {
                tools: vec![super::tools::add_tool()],
                ..Catalogue::default()
            })),
        },
        NOW,
    );
    press(&mut app, KeyCode::Char('h'));
    let history = &app.tool_panel().expect("panel").history;
    let shown: Vec<(Value, Option<&str>)> = history
        .iter()
        .map(|p| (Value::Object(p.arguments.clone()), p.outcome.as_deref()))
        .collect();
    assert_eq!(
        shown,
        [
            (json!({"a": 5, "b": 5}), Some("ok in 9 ms")),
            (json!({"a": 1, "b": 2}), Some("ok in 7 ms"))
        ]
    );
    insta::assert_snapshot!("history_80x24", draw(&app, 80, 24).backend());

    // The older one, run again as it was; it becomes the newest.
    press(&mut app, KeyCode::Down);
    assert_eq!(
        sent_arguments(press(&mut app, KeyCode::Enter)),
        json!({"a": 1, "b": 2})
    );
    assert!(matches!(stage(&app), Stage::Running { .. }));
    assert_eq!(app.tool_panel().expect("panel").history.len(), 3);

    // `e` opens a past call's arguments in the editor.
    let mut app = listed();
    call(&mut app, r#"{"a": 3, "b": 4}"#, 1);
    press(&mut app, KeyCode::Char('h'));
    press(&mut app, KeyCode::Char('e'));
    match stage(&app) {
        Stage::Edit { editor, .. } => assert_eq!(
            serde_json::from_str::<Value>(editor.text()).ok(),
            Some(json!({"a": 3, "b": 4}))
        ),
        other => panic!("e should edit, got {other:?}"),
    }
}

#[test]
fn copy_as_command_puts_the_call_line_on_the_clipboard_and_on_screen() {
    let mut app = listed();
    call(&mut app, r#"{"a": 1, "b": 2}"#, 7);
    press(&mut app, KeyCode::Char('h'));
    let line = r#"switchboard call github add '{"a":1,"b":2}' --account alice"#;
    match press(&mut app, KeyCode::Char('y')) {
        Some(Action::Copy(text)) => assert_eq!(text, line),
        other => panic!("y should copy, got {other:?}"),
    }
    let flash = app.flash(NOW).expect("the line is shown too");
    assert!(flash.text.ends_with(line), "{}", flash.text);
    // From the editor, broken JSON is not copied: the problem shows instead.
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Enter);
    typed(&mut app, "}");
    let copied = app.handle_key(
        KeyEvent::new(KeyCode::Char('y'), KeyModifiers::CONTROL),
        NOW,
    );
    assert!(copied.is_none(), "{copied:?}");
    match stage(&app) {
        Stage::Edit { problems, .. } => {
            assert!(problems[0].starts_with("not valid JSON"), "{problems:?}")
        }
        other => panic!("{other:?}"),
    }
}

fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("backend");
    let theme = Theme::builtin_default();
    terminal
        .draw(|f| view::render(f, app, &theme, NOW))
        .expect("draw");
    terminal
}
