//! Control characters in what servers send (tool names and descriptions, results, error
//! messages) are drawn as visible stand-ins. ratatui drops a control character silently, so
//! without this `\x1b[2J` reached the screen as `[2J`, with nothing to say an escape was there.

use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rmcp::model::{CallToolResult, ContentBlock, Tool};
use serde_json::json;

use super::fixtures::{NOW, fleet, key, snapshot};
use super::tools::{listed_with, press};
use crate::domain::{ErrorClass, Failure};
use crate::engine::{Command, Event};
use crate::toolkit::CallOutcome;
use crate::tui::app::{Action, App};
use crate::tui::theme::Theme;
use crate::tui::view;

fn screen(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("backend");
    let theme = Theme::builtin_default();
    terminal
        .draw(|f| view::render(f, app, &theme, NOW))
        .expect("draw");
    terminal
        .backend()
        .buffer()
        .content
        .iter()
        .map(|c| c.symbol())
        .collect()
}

fn evil_tool() -> Tool {
    let serde_json::Value::Object(schema) = json!({
        "type": "object",
        "properties": {"x\u{1b}[8m": {"type": "string"}},
        "required": ["x\u{1b}[8m"]
    }) else {
        unreachable!()
    };
    Tool::new("evil\u{1b}[2J", "red \u{1b}[31malert\u{7}", schema)
}

#[test]
fn tool_names_descriptions_and_arguments_are_shown_with_visible_escapes() {
    let app = listed_with(vec![evil_tool()]);
    let screen = screen(&app);
    assert!(screen.contains("▶ evil␛[2J"), "{screen}");
    assert!(screen.contains("red ␛[31malert␇"), "{screen}");
    assert!(screen.contains("args: x␛[8m: string"), "{screen}");
}

#[test]
fn progress_and_a_tool_result_are_shown_with_visible_escapes() {
    let serde_json::Value::Object(schema) = json!({"type": "object"}) else {
        unreachable!()
    };
    let mut app = listed_with(vec![Tool::new("plain", "no arguments", schema)]);
    press(&mut app, KeyCode::Enter);
    assert!(matches!(
        press(&mut app, KeyCode::Enter),
        Some(Action::Send(Command::CallTool { .. }))
    ));
    app.on_event(
        &Event::ToolProgress {
            key: key("github", "alice"),
            tool: "plain".into(),
            progress: 1.0,
            total: None,
            message: Some("step\u{1b}[1Aup".into()),
        },
        NOW,
    );
    let shown = screen(&app);
    assert!(shown.contains("step␛[1Aup"), "{shown}");
    let result = CallToolResult::success(vec![ContentBlock::text("done\u{1b}]0;owned\u{7}")]);
    app.on_event(
        &Event::ToolResult {
            key: key("github", "alice"),
            tool: "plain".into(),
            result: Ok(CallOutcome {
                result,
                latency_ms: 3,
            }),
        },
        NOW,
    );
    let screen = screen(&app);
    assert!(screen.contains("done␛]0;owned␇"), "{screen}");
}

#[test]
fn a_server_error_on_the_dashboard_is_shown_with_visible_escapes() {
    let mut connections = fleet();
    connections[0].health = crate::domain::Health::Down;
    connections[0].last_error = Some(Failure::new(ErrorClass::Auth, "\u{1b}[5mblink\u{1b}[0m"));
    let app = App::new(snapshot(connections));
    let screen = screen(&app);
    // In the table's detail column, the side pane and the status line under them.
    assert_eq!(screen.matches("auth: ␛[5mblink␛[0m").count(), 3, "{screen}");
}

#[test]
fn a_listing_failure_is_shown_with_visible_escapes() {
    let mut app = listed_with(vec![]);
    app.on_event(
        &Event::ToolsListed {
            key: key("github", "alice"),
            result: Err(Failure::new(
                ErrorClass::Protocol,
                "server error -1: \u{1b}[2Jgone",
            )),
        },
        NOW,
    );
    let screen = screen(&app);
    assert!(screen.contains("␛[2Jgone"), "{screen}");
}
