//! The argument editor inside the tool panel: keys move the cursor and edit where it is,
//! Alt-Enter breaks lines, a paste lands at the cursor, Enter and Ctrl-S still send, and the
//! terminal cursor is drawn on the character it is before.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rmcp::model::{CallToolResult, ContentBlock, Tool};
use serde_json::json;

use super::fixtures::{NOW, key};
use super::tools::{add_tool, listed, listed_with, press, stage, typed};
use crate::engine::{Command, Event};
use crate::toolkit::CallOutcome;
use crate::tui::app::{Action, App};
use crate::tui::theme::Theme;
use crate::tui::tools_panel::Stage;
use crate::tui::view;

fn chord(app: &mut App, code: KeyCode, modifiers: KeyModifiers) -> Option<Action> {
    app.handle_key(KeyEvent::new(code, modifiers), NOW)
}

fn text(app: &App) -> String {
    match stage(app) {
        Stage::Edit { editor, .. } => editor.text().to_owned(),
        other => panic!("expected the editor, got {other:?}"),
    }
}

fn cursor(app: &App) -> (usize, usize) {
    match stage(app) {
        Stage::Edit { editor, .. } => editor.position(),
        other => panic!("expected the editor, got {other:?}"),
    }
}

fn problems(app: &App) -> Vec<String> {
    match stage(app) {
        Stage::Edit { problems, .. } => problems.clone(),
        other => panic!("expected the editor, got {other:?}"),
    }
}

/// The arguments of the call the action sends.
fn sent(action: Option<Action>) -> serde_json::Value {
    match action {
        Some(Action::Send(Command::CallTool { arguments, .. })) => json!(arguments),
        other => panic!("expected a call, got {other:?}"),
    }
}

fn echo_tool() -> Tool {
    let serde_json::Value::Object(schema) = json!({
        "type": "object",
        "properties": {"message": {"type": "string"}},
        "required": ["message"]
    }) else {
        unreachable!()
    };
    Tool::new("echo", "Echo a message back", schema)
}

#[test]
fn keys_move_the_cursor_and_edit_the_arguments_where_it_is() {
    let mut app = listed();
    press(&mut app, KeyCode::Enter);
    assert_eq!(text(&app), r#"{"a": 0, "b": 0}"#);
    assert_eq!(cursor(&app), (0, 16), "the cursor starts at the end");
    // Into the middle: to the line's start, then a word right twice lands after a's 0.
    press(&mut app, KeyCode::Home);
    chord(&mut app, KeyCode::Right, KeyModifiers::CONTROL);
    chord(&mut app, KeyCode::Right, KeyModifiers::CONTROL);
    press(&mut app, KeyCode::Backspace);
    typed(&mut app, "12");
    assert_eq!(text(&app), r#"{"a": 12, "b": 0}"#);
    chord(&mut app, KeyCode::Char('e'), KeyModifiers::CONTROL);
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Backspace);
    typed(&mut app, "3");
    assert_eq!(text(&app), r#"{"a": 12, "b": 3}"#);
    // Alt-Enter breaks the line instead of sending; ↑/↓ keep the column.
    chord(&mut app, KeyCode::Left, KeyModifiers::CONTROL);
    chord(&mut app, KeyCode::Char('b'), KeyModifiers::ALT);
    press(&mut app, KeyCode::Left);
    assert!(chord(&mut app, KeyCode::Enter, KeyModifiers::ALT).is_none());
    typed(&mut app, "  ");
    assert_eq!(text(&app), "{\"a\": 12, \n  \"b\": 3}");
    press(&mut app, KeyCode::Up);
    assert_eq!(cursor(&app), (0, 2));
    press(&mut app, KeyCode::Down);
    assert_eq!(cursor(&app), (1, 2));
    assert_eq!(
        sent(press(&mut app, KeyCode::Enter)),
        json!({"a": 12, "b": 3})
    );
}

#[test]
fn multibyte_text_and_a_paste_go_in_at_the_cursor_and_ctrl_s_sends() {
    let mut app = listed_with(vec![echo_tool()]);
    press(&mut app, KeyCode::Enter);
    assert_eq!(text(&app), r#"{"message": ""}"#);
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Left);
    typed(&mut app, "héllo 🦀");
    app.handle_paste(" wörld\r\n");
    press(&mut app, KeyCode::Backspace);
    chord(&mut app, KeyCode::Left, KeyModifiers::CONTROL);
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Backspace);
    assert_eq!(text(&app), r#"{"message": "héllo  wörld"}"#);
    let call = chord(&mut app, KeyCode::Char('s'), KeyModifiers::CONTROL);
    assert_eq!(sent(call), json!({"message": "héllo  wörld"}));
}

#[test]
fn invalid_json_says_where_and_puts_the_cursor_there() {
    let mut app = listed();
    press(&mut app, KeyCode::Enter);
    chord(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    typed(&mut app, r#"{"a": 1 "b": 2}"#);
    assert!(press(&mut app, KeyCode::Enter).is_none());
    assert_eq!(
        problems(&app),
        ["not valid JSON: expected `,` or `}` at line 1 column 9"]
    );
    assert_eq!(cursor(&app), (0, 8));
    // Moving keeps the message in view while the fix is made; editing clears it.
    press(&mut app, KeyCode::Left);
    assert_eq!(problems(&app).len(), 1);
    press(&mut app, KeyCode::Right);
    typed(&mut app, ",");
    assert!(problems(&app).is_empty());
    // Each schema violation is named by its JSON pointer.
    chord(&mut app, KeyCode::Char('e'), KeyModifiers::CONTROL);
    chord(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    typed(&mut app, r#"{"a": true}"#);
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        problems(&app),
        [
            "/a: expected number, got true",
            "/b: missing required property \"b\" (number)"
        ]
    );
}

#[test]
fn at_end_of_input_the_cursor_goes_after_the_last_character() {
    let mut app = listed();
    press(&mut app, KeyCode::Enter);
    chord(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    typed(&mut app, r#"{"a": 1, "b": "x"#);
    press(&mut app, KeyCode::Home);
    assert!(press(&mut app, KeyCode::Enter).is_none());
    assert!(problems(&app)[0].contains("EOF"), "{:?}", problems(&app));
    // What is missing goes after the text: typing `"}` closes the string and the object.
    assert_eq!(cursor(&app), (0, 16));
    typed(&mut app, "\"}");
    assert_eq!(text(&app), r#"{"a": 1, "b": "x"}"#);
}

#[test]
fn the_arguments_of_the_last_call_come_back_for_the_next_one() {
    let mut app = listed();
    press(&mut app, KeyCode::Enter);
    chord(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    typed(&mut app, r#"{"a": 1, "b": 2}"#);
    sent(press(&mut app, KeyCode::Enter));
    let result = CallToolResult::success(vec![ContentBlock::text("3")]);
    app.on_event(
        &Event::ToolResult {
            key: key("github", "alice"),
            tool: "add".into(),
            result: Ok(CallOutcome {
                result,
                latency_ms: 1,
            }),
        },
        NOW,
    );
    press(&mut app, KeyCode::Esc);
    assert!(matches!(stage(&app), Stage::List { selected: 0 }));
    press(&mut app, KeyCode::Enter);
    assert_eq!(text(&app), r#"{"a": 1, "b": 2}"#);
    // Esc keeps the draft too; closing the panel forgets it.
    typed(&mut app, " ");
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Enter);
    assert_eq!(text(&app), r#"{"a": 1, "b": 2} "#);
}

#[test]
fn a_paste_outside_the_editor_does_nothing() {
    let mut app = listed();
    app.handle_paste("q\n");
    assert!(matches!(stage(&app), Stage::List { .. }));
    assert!(app.tool_panel().is_some());
}

fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    let theme = Theme::builtin_default();
    terminal
        .draw(|frame| view::render(frame, app, &theme, NOW))
        .expect("draw");
    terminal
}

/// The screen's rows as strings.
fn rows(terminal: &Terminal<TestBackend>) -> Vec<String> {
    let buffer = terminal.backend().buffer();
    buffer
        .content
        .chunks(usize::from(buffer.area.width))
        .map(|row| row.iter().map(|c| c.symbol()).collect())
        .collect()
}

#[test]
fn the_terminal_cursor_sits_on_the_character_after_the_edit_point() {
    let mut app = listed();
    press(&mut app, KeyCode::Enter);
    chord(&mut app, KeyCode::Left, KeyModifiers::CONTROL);
    let terminal = draw(&app, 80, 24);
    insta::assert_snapshot!(terminal.backend());
    let screen = rows(&terminal);
    let y = screen
        .iter()
        .position(|r| r.contains(r#"{"a": 0, "b": 0}"#))
        .expect("the arguments on screen");
    let x = screen[y].find(r#"0}"#).expect("b's placeholder");
    let x = screen[y][..x].chars().count();
    assert!(terminal.backend().cursor_visible());
    let at = terminal.backend().cursor_position();
    assert_eq!((usize::from(at.x), usize::from(at.y)), (x, y));
}

#[test]
fn a_long_document_scrolls_to_keep_the_cursor_in_the_box() {
    let mut app = listed_with(vec![add_tool()]);
    press(&mut app, KeyCode::Enter);
    chord(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    let lines: Vec<String> = (0..30).map(|i| format!("  \"k{i}\": {i},")).collect();
    app.handle_paste(&format!("{{\n{}\n}}", lines.join("\n")));
    let terminal = draw(&app, 80, 24);
    let screen = rows(&terminal).join("\n");
    assert!(screen.contains("\"k29\": 29"), "{screen}");
    assert!(!screen.contains("\"k0\": 0"), "{screen}");
    let at = terminal.backend().cursor_position();
    let cursor_row = &rows(&terminal)[usize::from(at.y)];
    assert!(
        cursor_row.contains('}'),
        "cursor on the last line: {cursor_row}"
    );
    chord(&mut app, KeyCode::Home, KeyModifiers::CONTROL);
    let screen = rows(&draw(&app, 80, 24)).join("\n");
    assert!(screen.contains("\"k0\": 0"), "{screen}");
    assert!(!screen.contains("\"k29\": 29"), "{screen}");
}

#[test]
fn problems_show_under_the_box_naming_their_pointers() {
    let mut app = listed();
    press(&mut app, KeyCode::Enter);
    chord(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    typed(&mut app, r#"{"a": "x"}"#);
    press(&mut app, KeyCode::Enter);
    let screen = rows(&draw(&app, 80, 24));
    let row_of = |needle: &str| screen.iter().position(|r| r.contains(needle));
    let text_row = row_of(r#"{"a": "x"}"#).expect("the arguments on screen");
    let problem_row = row_of("/a: expected number").expect("the problem on screen");
    assert!(problem_row > text_row + 1, "{screen:#?}");
    assert!(
        row_of("/b: missing required property").is_some(),
        "{screen:#?}"
    );
}
