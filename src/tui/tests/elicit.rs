//! A server's request for input during a console call (MCP elicitation), as the engine's
//! `Event::ElicitationRequested`: it opens over the running call as a JSON answer to edit
//! (defaults filled in, a blank for each required field), checked against the request before
//! the console sends `Command::AnswerElicitation`; Esc declines, Ctrl-D cancels, and the call
//! carries on. A request with no call of this panel behind it is declined at once, and one
//! closed elsewhere (answered, timed out) closes here too.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rmcp::model::Tool;
use serde_json::json;

use super::fixtures::{NOW, key};
use super::tools::{listed_with, press, stage, typed};
use crate::engine::{Command, ElicitationRequest, Event};
use crate::toolkit::elicit::form::Form;
use crate::toolkit::elicit::prompt::Answer;
use crate::tui::app::{Action, App};
use crate::tui::theme::Theme;
use crate::tui::tools_panel::Stage;
use crate::tui::view;

/// The engine's id of the request in these tests.
pub(super) const ID: u64 = 7;

fn asking_tool() -> Tool {
    let serde_json::Value::Object(schema) = json!({"type": "object", "properties": {}}) else {
        unreachable!()
    };
    Tool::new("sign_up", "Asks who you are", schema)
}

/// The request, from the connection the panel is open on (`github/alice`).
pub(super) fn ask() -> Event {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Your name"},
            "zeal": {"type": "integer", "minimum": 1, "maximum": 5, "default": 3}
        },
        "required": ["name"]
    });
    let schema = serde_json::from_value(schema).expect("an elicitation schema");
    Event::ElicitationRequested {
        id: ID,
        key: Some(key("github", "alice")),
        request: ElicitationRequest {
            server: "lab-mcp".into(),
            message: "Who is calling?".into(),
            form: Form::from_schema(&schema).expect("a form"),
        },
    }
}

/// The answer an action sends for request `ID`, if it is one.
pub(super) fn answered(action: Option<Action>) -> Option<Answer> {
    match action {
        Some(Action::Send(Command::AnswerElicitation { id, answer })) => {
            assert_eq!(id, ID, "answers the request it was asked");
            Some(answer)
        }
        _ => None,
    }
}

/// The panel with `sign_up` called and running.
pub(super) fn calling() -> App {
    let mut app = listed_with(vec![asking_tool()]);
    press(&mut app, KeyCode::Enter);
    assert!(matches!(
        press(&mut app, KeyCode::Enter),
        Some(Action::Send(_))
    ));
    assert!(matches!(stage(&app), Stage::Running { .. }));
    app
}

/// `calling`, with the request open.
pub(super) fn answering() -> App {
    let mut app = calling();
    assert!(app.on_event(&ask(), NOW).is_none(), "shown, not declined");
    assert!(matches!(stage(&app), Stage::Answer { id: ID, .. }));
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
    let mut app = answering();
    assert_eq!(editor_text(&app), "{\n  \"name\": \"\",\n  \"zeal\": 3\n}");
    let shown = screen(&app);
    assert!(shown.contains("lab-mcp asks: Who is calling?"), "{shown}");
    assert!(shown.contains("name* (text): Your name"), "{shown}");
    assert!(
        shown.contains("zeal (a whole number from 1 to 5)"),
        "{shown}"
    );

    // Sent untouched, the blank is no answer: nothing goes to the server.
    assert_eq!(answered(press(&mut app, KeyCode::Enter)), None);
    assert_eq!(problems(&app), ["name: required: type a value"]);

    // The cursor waits in the blank.
    typed(&mut app, "Ada");
    assert!(problems(&app).is_empty(), "an edit clears the problems");
    assert_eq!(
        answered(press(&mut app, KeyCode::Enter)),
        Some(Answer::Accept(
            json!({"name": "Ada", "zeal": 3})
                .as_object()
                .cloned()
                .unwrap_or_default()
        ))
    );
    assert!(
        matches!(stage(&app), Stage::Running { .. }),
        "back to the call"
    );
}

#[test]
fn values_outside_the_request_are_refused_with_every_reason() {
    let mut app = answering();
    // Pasted after the template: not JSON any more, and nothing is sent.
    app.handle_paste("{\"nick\": 1}");
    assert_eq!(answered(press(&mut app, KeyCode::Enter)), None);
    let found = problems(&app);
    assert!(found[0].starts_with("not valid JSON"), "{found:?}");

    // Emptied and pasted whole: every field's problem at once.
    let ctrl_end = KeyEvent::new(KeyCode::End, KeyModifiers::CONTROL);
    app.handle_key(ctrl_end, NOW);
    for _ in 0..editor_text(&app).chars().count() {
        press(&mut app, KeyCode::Backspace);
    }
    assert_eq!(editor_text(&app), "");
    app.handle_paste("{\"nick\": 1, \"zeal\": 9}");
    assert_eq!(answered(press(&mut app, KeyCode::Enter)), None);
    assert_eq!(
        problems(&app),
        [
            "nick: not a field of this request",
            "name: required (text)",
            "zeal: 9 is above the maximum 5",
        ]
    );
}

#[test]
fn esc_declines_and_ctrl_d_cancels() {
    let mut app = answering();
    assert_eq!(
        answered(press(&mut app, KeyCode::Esc)),
        Some(Answer::Decline)
    );
    assert!(
        matches!(stage(&app), Stage::Running { .. }),
        "Esc did not cancel the call"
    );

    assert!(app.on_event(&ask(), NOW).is_none());
    let ctrl_d = KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL);
    assert_eq!(answered(app.handle_key(ctrl_d, NOW)), Some(Answer::Cancel));
}

#[test]
fn a_request_without_a_call_of_this_panel_is_declined() {
    let mut app = listed_with(vec![asking_tool()]);
    assert_eq!(answered(app.on_event(&ask(), NOW)), Some(Answer::Decline));
    assert!(matches!(stage(&app), Stage::List { .. }));
    let flash = app.flash(NOW).expect("a flash");
    assert!(flash.text.contains("lab-mcp asked for input"), "{flash:?}");

    // A call running on this panel, but the request is another connection's.
    let mut app = calling();
    let Event::ElicitationRequested { id, request, .. } = ask() else {
        unreachable!()
    };
    let elsewhere = Event::ElicitationRequested {
        id,
        key: Some(key("atlassian", "default")),
        request,
    };
    assert_eq!(
        answered(app.on_event(&elsewhere, NOW)),
        Some(Answer::Decline)
    );
    assert!(matches!(stage(&app), Stage::Running { .. }));
}

#[test]
fn a_request_closed_elsewhere_closes_here() {
    let mut app = answering();
    // Another request's closing changes nothing.
    assert!(
        app.on_event(&Event::ElicitationClosed { id: ID + 1 }, NOW)
            .is_none()
    );
    assert!(matches!(stage(&app), Stage::Answer { .. }));
    assert!(
        app.on_event(&Event::ElicitationClosed { id: ID }, NOW)
            .is_none()
    );
    assert!(
        matches!(stage(&app), Stage::Running { .. }),
        "back to the call"
    );
}
