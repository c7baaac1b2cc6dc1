//! The terminal prompt, over in-memory streams.

use std::io::Cursor;

use rmcp::model::JsonObject;
use serde_json::{Value, json};

use super::form::Form;
use super::prompt::{Answer, ask_form, ask_url};
use super::tests_form::{form, sep1034};

/// Runs the prompt over `typed`; returns the answer and what the operator saw.
fn ask(form: &Form, typed: &str) -> (Answer, String) {
    let mut out = Vec::new();
    let answer = ask_form(
        "lab",
        "Who are you?",
        form,
        &mut Cursor::new(typed),
        &mut out,
    )
    .expect("in-memory I/O");
    (answer, String::from_utf8_lossy(&out).into_owned())
}

fn accepted(answer: Answer) -> Value {
    match answer {
        Answer::Accept(content) => Value::Object(content),
        other => panic!("expected accept, got {other:?}"),
    }
}

#[test]
fn prompt_takes_typed_answers_and_enter_for_defaults() {
    let f = Form::from_schema(&sep1034()).unwrap();
    // name typed, age typed, score default, status by number, verified typed, then send.
    let (answer, shown) = ask(&f, "Alice\n41\n\n2\nno\n\n");
    assert_eq!(
        accepted(answer),
        json!({"name": "Alice", "age": 41, "score": 95.5, "status": "inactive", "verified": false})
    );
    assert!(shown.contains("lab asks: Who are you?"), "{shown}");
    assert!(
        shown.contains("name — User name\n  text [John Doe]: "),
        "{shown}"
    );
    assert!(shown.contains("    2) inactive\n"), "{shown}");
    assert!(shown.contains("  yes or no [yes]: "), "{shown}");
    assert!(
        shown.contains("Answers:\n  name: Alice\n  age: 41\n"),
        "{shown}"
    );

    let (answer, _) = ask(&f, "\n\n\n\n\n\n");
    assert_eq!(
        accepted(answer),
        json!({"name": "John Doe", "age": 30, "score": 95.5, "status": "active", "verified": true})
    );
}

#[test]
fn prompt_re_asks_on_bad_input_with_the_reason() {
    let f = form(
        json!({"type": "object", "required": ["age"], "properties": {
            "age": {"type": "integer", "maximum": 150},
            "nick": {"type": "string"}
        }}),
    );
    let (answer, shown) = ask(&f, "\nabc\n200\n!oops\n7\n\ny\n");
    assert_eq!(accepted(answer), json!({"age": 7}));
    assert!(
        shown.contains("✗ age is required: type a whole number"),
        "{shown}"
    );
    assert!(
        shown.contains("✗ age: `abc` is not a whole number (e.g. 42)"),
        "{shown}"
    );
    assert!(
        shown.contains("✗ age: 200 is above the maximum 150"),
        "{shown}"
    );
    assert!(shown.contains("✗ `!oops` is not a command"), "{shown}");
    assert!(shown.contains("  text [skip]: "), "{shown}");
    assert!(shown.contains("  nick: (left out)"), "{shown}");
}

#[test]
fn prompt_declines_cancels_and_edits() {
    let f = Form::from_schema(&sep1034()).unwrap();
    assert_eq!(ask(&f, "Bob\n!decline\n").0, Answer::Decline);
    assert_eq!(ask(&f, "Bob\n").0, Answer::Cancel, "end of input cancels");
    assert_eq!(ask(&f, "Bob\n!cancel\n").0, Answer::Cancel);
    assert_eq!(
        ask(&f, "\n\n\n\n\nn\n").0,
        Answer::Decline,
        "n at review declines"
    );
    // `e` at review asks again, the first round's answers as defaults.
    let (answer, shown) = ask(&f, "Bob\n\n\n\n\ne\n\n31\n\n\n\n\n");
    assert_eq!(accepted(answer)["name"], json!("Bob"));
    assert!(shown.contains("  text [Bob]: "), "{shown}");
    // `!!` escapes a leading `!`.
    let (answer, _) = ask(&f, "!!bang\n\n\n\n\n\n");
    assert_eq!(accepted(answer)["name"], json!("!bang"));
}

#[test]
fn an_empty_form_is_a_confirmation() {
    let f = form(json!({"type": "object", "properties": {}}));
    let (answer, shown) = ask(&f, "\n");
    assert_eq!(accepted(answer), json!({}));
    assert!(shown.ends_with("Accept? [Y/n]: "), "{shown}");
    assert_eq!(ask(&f, "n\n").0, Answer::Decline);
}

#[test]
fn server_text_cannot_drive_the_terminal() {
    let f = form(json!({"type": "object", "properties": {
        "x": {"type": "string", "description": "\u{1b}[2Jwiped"}
    }}));
    let mut out = Vec::new();
    let answer = ask_form(
        "ev\u{1b}]0;t\u{7}il",
        "hi\u{1b}[31m",
        &f,
        &mut Cursor::new("\n\n"),
        &mut out,
    );
    assert!(matches!(answer, Ok(Answer::Accept(_))));
    let shown = String::from_utf8_lossy(&out);
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
        "{shown:?}"
    );
}

#[test]
fn url_requests_are_shown_never_opened() {
    let run = |url: &str, typed: &str| {
        let mut out = Vec::new();
        let a = ask_url(
            "lab",
            "Connect your account",
            url,
            &mut Cursor::new(typed),
            &mut out,
        );
        (
            a.expect("in-memory I/O"),
            String::from_utf8_lossy(&out).into_owned(),
        )
    };
    let (answer, shown) = run("https://auth.example.com/connect?x=1", "\n");
    assert_eq!(answer, Answer::Accept(JsonObject::new()));
    assert!(shown.contains("host auth.example.com"), "{shown}");
    assert_eq!(
        run("https://auth.example.com/", "!decline\n").0,
        Answer::Decline
    );
    assert_eq!(run("https://auth.example.com/", "").0, Answer::Cancel);
    assert_eq!(run("not a url", "\n").0, Answer::Decline);
}
