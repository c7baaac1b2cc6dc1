//! A server's request for input during a console call (MCP elicitation): it opens over the
//! running call as a JSON answer to edit (defaults filled in, a blank for each required field),
//! checked against the request before it goes; Esc declines, Ctrl-D cancels, and the call
//! carries on. An ask with no call of this panel behind it is declined.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rmcp::model::Tool;
use serde_json::json;
use tokio::sync::oneshot;

use super::fixtures::NOW;
use super::tools::{listed_with, press, stage, typed};
use crate::mcp::elicit::ConsoleAsk;
use crate::toolkit::elicit::form::Form;
use crate::toolkit::elicit::prompt::Answer;
use crate::tui::app::{Action, App};
use crate::tui::theme::Theme;
use crate::tui::tools_panel::Stage;
use crate::tui::view;

fn asking_tool() -> Tool {
    let serde_json::Value::Object(schema) = json!({"type": "object", "properties": {}}) else {
        unreachable!()
    };
    Tool::new("sign_up", "Asks who you are", schema)
}

fn ask() -> (ConsoleAsk, oneshot::Receiver<Answer>) {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Your name"},
            "zeal": {"type": "integer", "minimum": 1, "maximum": 5, "default": 3}
        },
        "required": ["name"]
    });
    let schema = serde_json::from_value(schema).expect("an elicitation schema");
    let (reply, answer) = oneshot::channel();
    let ask = ConsoleAsk {
        server: "lab-mcp".into(),
        message: "Who is calling?".into(),
        form: Form::from_schema(&schema).expect("a form"),
        reply,
    };
    (ask, answer)
}

/// The panel with `sign_up` called and running.
fn calling() -> App {
    let mut app = listed_with(vec![asking_tool()]);
    press(&mut app, KeyCode::Enter);
    assert!(matches!(
        press(&mut app, KeyCode::Enter),
        Some(Action::Send(_))
    ));
    assert!(matches!(stage(&app), Stage::Running { .. }));
    app
}

fn editor_text(app: &App) -> String {
    match stage(app) {
        Stage::Answer { editor, .. } => editor.text().to_string(),
        other => panic!("not answering: {other:?}"),
    }
}

fn problems(app: &App) -> Vec<String> {
    match stage(app) {
        Stage::Answer { problems, .. } => problems.clone(),
        other => panic!("not answering: {other:?}"),
    }
}

fn screen(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("backend");
    let theme = Theme::builtin_default();
    terminal
        .draw(|f| view::render(f, app, &theme, NOW))
        .expect("draw");
    let buffer = terminal.backend().buffer();
    buffer
        .content
        .chunks(usize::from(buffer.area.width))
        .map(|row| row.iter().map(|c| c.symbol()).collect::<String>() + "\n")
        .collect()
}

#[test]
fn an_answer_is_edited_checked_and_sent() {
    let mut app = calling();
    let (ask, mut answer) = ask();
    app.on_ask(ask, NOW);
    assert_eq!(editor_text(&app), "{\n  \"name\": \"\",\n  \"zeal\": 3\n}");
    let shown = screen(&app);
    assert!(shown.contains("lab-mcp asks: Who is calling?"), "{shown}");
    assert!(shown.contains("name* (text): Your name"), "{shown}");
    assert!(
        shown.contains("zeal (a whole number from 1 to 5)"),
        "{shown}"
    );

    // Sent untouched, the blank is no answer: nothing goes to the server.
    press(&mut app, KeyCode::Enter);
    assert_eq!(problems(&app), ["name: required: type a value"]);
    assert!(answer.try_recv().is_err());

    // The cursor waits in the blank.
    typed(&mut app, "Ada");
    assert!(problems(&app).is_empty(), "an edit clears the problems");
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        answer.try_recv().expect("an answer"),
        Answer::Accept(
            json!({"name": "Ada", "zeal": 3})
                .as_object()
                .cloned()
                .unwrap_or_default()
        )
    );
    assert!(
        matches!(stage(&app), Stage::Running { .. }),
        "back to the call"
    );
}

#[test]
fn values_outside_the_request_are_refused_with_every_reason() {
    let mut app = calling();
    let (ask, mut answer) = ask();
    app.on_ask(ask, NOW);
    // Pasted after the template: not JSON any more, and nothing is sent.
    app.handle_paste("{\"nick\": 1}");
    press(&mut app, KeyCode::Enter);
    let found = problems(&app);
    assert!(found[0].starts_with("not valid JSON"), "{found:?}");
    assert!(answer.try_recv().is_err());

    // Emptied and pasted whole: every field's problem at once.
    let ctrl_end = KeyEvent::new(KeyCode::End, KeyModifiers::CONTROL);
    app.handle_key(ctrl_end, NOW);
    for _ in 0..editor_text(&app).chars().count() {
        press(&mut app, KeyCode::Backspace);
    }
    assert_eq!(editor_text(&app), "");
    app.handle_paste("{\"nick\": 1, \"zeal\": 9}");
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        problems(&app),
        [
            "nick: not a field of this request",
            "name: required (text)",
            "zeal: 9 is above the maximum 5",
        ]
    );
    assert!(answer.try_recv().is_err());
}

#[test]
fn esc_declines_and_ctrl_d_cancels() {
    let mut app = calling();
    let (ask1, mut answer1) = ask();
    app.on_ask(ask1, NOW);
    press(&mut app, KeyCode::Esc);
    assert_eq!(answer1.try_recv().expect("an answer"), Answer::Decline);
    assert!(
        matches!(stage(&app), Stage::Running { .. }),
        "Esc did not cancel the call"
    );

    let (ask2, mut answer2) = ask();
    app.on_ask(ask2, NOW);
    let ctrl_d = KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL);
    app.handle_key(ctrl_d, NOW);
    assert_eq!(answer2.try_recv().expect("an answer"), Answer::Cancel);
}

#[test]
fn an_ask_without_a_call_of_this_panel_is_declined() {
    let mut app = listed_with(vec![asking_tool()]);
    let (ask, mut answer) = ask();
    app.on_ask(ask, NOW);
    assert!(matches!(stage(&app), Stage::List { .. }));
    // The reply was dropped, which the elicitor sends as a decline.
    assert!(matches!(
        answer.try_recv(),
        Err(oneshot::error::TryRecvError::Closed)
    ));
    let flash = app.flash(NOW).expect("a flash");
    assert!(flash.text.contains("lab-mcp asked for input"), "{flash:?}");
}
