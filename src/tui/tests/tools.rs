//! The tool panel: `t` lists, Enter edits prefilled arguments, Enter calls (after a local
//! schema check), progress and result come from engine events, Esc cancels or goes back.
//! The helpers here serve `arguments.rs` too.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rmcp::model::{CallToolResult, ContentBlock, Tool};
use serde_json::json;

use super::fixtures::{NOW, fleet, key, snapshot};
use crate::engine::{Command, Event};
use crate::toolkit::CallOutcome;
use crate::toolkit::Catalogue;
use crate::tui::app::{Action, App};
use crate::tui::theme::Theme;
use crate::tui::tools_panel::Stage;
use crate::tui::view;

pub(super) fn press(app: &mut App, code: KeyCode) -> Option<Action> {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE), NOW)
}

pub(super) fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

pub(super) fn add_tool() -> Tool {
    let schema = json!({
        "type": "object",
        "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        "required": ["a", "b"]
    });
    let serde_json::Value::Object(schema) = schema else {
        unreachable!()
    };
    Tool::new("add", "Add two numbers", schema)
}

/// An app with the panel open on the first (MCP) row and its tools listed.
pub(super) fn listed() -> App {
    listed_with(vec![add_tool()])
}

pub(super) fn listed_with(tools: Vec<Tool>) -> App {
    let mut app = App::new(snapshot(fleet()));
    match press(&mut app, KeyCode::Char('t')) {
        Some(Action::Send(Command::ListTools { key: k, .. })) => {
            assert_eq!(k, key("github", "alice"))
        }
        other => panic!("t should list tools, got {other:?}"),
    }
    let catalogue = Catalogue {
        tools,
        ..Catalogue::default()
    };
    app.on_event(
        &Event::ToolsListed {
            key: key("github", "alice"),
            result: Ok(Arc::new(catalogue)),
        },
        NOW,
    );
    app
}

pub(super) fn stage(app: &App) -> &Stage {
    &app.tool_panel().expect("panel open").stage
}

#[test]
fn rest_rows_have_no_tools() {
    let mut app = App::new(snapshot(fleet()));
    while app
        .selected_key()
        .and_then(|k| app.snapshot().get(k))
        .is_some_and(|c| c.transport.has_tools())
    {
        press(&mut app, KeyCode::Down);
    }
    assert!(press(&mut app, KeyCode::Char('t')).is_none());
    assert!(app.tool_panel().is_none());
    assert!(app.flash(NOW).is_some_and(|f| f.text.contains("no tools")));
}

#[test]
fn edit_validate_call_and_show_the_result() {
    let mut app = listed();
    assert!(matches!(stage(&app), Stage::List { selected: 0 }));
    press(&mut app, KeyCode::Enter);
    match stage(&app) {
        Stage::Edit { editor, .. } => assert_eq!(editor.text(), r#"{"a": 0, "b": 0}"#),
        other => panic!("expected the editor, got {other:?}"),
    }
    // Invalid arguments stay local and say why.
    press(&mut app, KeyCode::Char('u'));
    app.handle_key(
        KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL),
        NOW,
    );
    typed(&mut app, r#"{"a":"x"}"#);
    assert!(press(&mut app, KeyCode::Enter).is_none());
    match stage(&app) {
        Stage::Edit { problems, .. } => assert_eq!(
            problems,
            &[
                "/a: expected number, got \"x\"".to_string(),
                "/b: missing required property \"b\" (number)".to_string()
            ]
        ),
        other => panic!("expected problems, got {other:?}"),
    }
    app.handle_key(
        KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL),
        NOW,
    );
    typed(&mut app, r#"{"a":1,"b":2}"#);
    let cancel = match press(&mut app, KeyCode::Enter) {
        Some(Action::Send(Command::CallTool {
            tool,
            arguments,
            cancel,
            ..
        })) => {
            assert_eq!(tool, "add");
            assert_eq!(arguments, json!({"a": 1, "b": 2}).as_object().cloned());
            cancel
        }
        other => panic!("Enter should call, got {other:?}"),
    };
    app.on_event(
        &Event::ToolProgress {
            key: key("github", "alice"),
            tool: "add".into(),
            progress: 1.0,
            total: Some(2.0),
            message: Some("1/2".into()),
        },
        NOW,
    );
    // The server's message repeats the amount; the panel says it once.
    assert!(
        matches!(stage(&app), Stage::Running { progress: Some(p), .. } if p == "1/2 (50%)"),
        "{:?}",
        stage(&app)
    );
    // Esc while running cancels (the engine tells the server).
    press(&mut app, KeyCode::Esc);
    assert!(cancel.is_cancelled());
    let result = CallToolResult::success(vec![ContentBlock::text("3")]);
    app.on_event(
        &Event::ToolResult {
            key: key("github", "alice"),
            tool: "add".into(),
            result: Ok(CallOutcome {
                result,
                latency_ms: 7,
            }),
        },
        NOW,
    );
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("backend");
    let theme = Theme::builtin_default();
    terminal
        .draw(|f| view::render(f, &app, &theme, NOW))
        .expect("draw");
    let screen: String = terminal
        .backend()
        .buffer()
        .content
        .iter()
        .map(|c| c.symbol())
        .collect();
    assert!(screen.contains("MCP · github/alice"), "{screen}");
    assert!(screen.contains("add: ok in 7 ms"), "{screen}");
    // Back to the list, then closed; Ctrl-C quits from anywhere.
    press(&mut app, KeyCode::Esc);
    assert!(matches!(stage(&app), Stage::List { .. }));
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(matches!(app.handle_key(ctrl_c, NOW), Some(Action::Quit)));
    press(&mut app, KeyCode::Esc);
    assert!(app.tool_panel().is_none());
}
