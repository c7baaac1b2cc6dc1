//! The terminal prompt, the policies, and the handler through rmcp.

use std::io::Cursor;

use rmcp::model::{ClientResult, ElicitRequest, JsonObject, ServerRequest};
use rmcp::{ServerHandler, ServiceExt};
use serde_json::json;

use super::tests_form::{form, sep1034};
use super::*;

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

#[tokio::test]
async fn policies_answer_without_a_terminal() {
    let form_request = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: "defaults please".into(),
        requested_schema: sep1034(),
    };
    let url_request = ElicitRequestParams::UrlElicitationParams {
        meta: None,
        message: "open this".into(),
        url: "https://example.com/x".into(),
        elicitation_id: "e1".into(),
    };
    let defaults = Elicitor::for_command(ElicitPolicy::Defaults);
    let answer = defaults.answer("lab", form_request.clone()).await;
    assert_eq!(answer.action, ElicitationAction::Accept);
    assert_eq!(
        answer.content.as_ref().and_then(|c| c.get("age")),
        Some(&json!(30))
    );
    let answer = defaults.answer("lab", url_request).await;
    assert_eq!(answer.action, ElicitationAction::Decline);
    let answer = Elicitor::default().answer("lab", form_request).await;
    assert_eq!(
        (answer.action, answer.content),
        (ElicitationAction::Decline, None)
    );
}

#[test]
fn only_answering_policies_advertise_the_capability() {
    assert_eq!(Elicitor::default().capability(), None);
    assert_eq!(
        Elicitor::for_command(ElicitPolicy::Decline).capability(),
        None
    );
    let defaults = Elicitor::for_command(ElicitPolicy::Defaults)
        .capability()
        .unwrap();
    assert!(defaults.form.is_some() && defaults.url.is_none());
    let ask = Elicitor::for_command(ElicitPolicy::Ask)
        .capability()
        .unwrap();
    assert!(ask.form.is_some() && ask.url.is_some());
}

#[test]
fn the_prompt_clock_counts_only_open_prompts() {
    let clock = PromptClock::default();
    assert_eq!(clock.spent(), Duration::ZERO);
    let guard = clock.start();
    std::thread::sleep(Duration::from_millis(20));
    assert!(clock.is_open() && clock.spent() >= Duration::from_millis(20));
    drop(guard);
    let spent = clock.spent();
    std::thread::sleep(Duration::from_millis(20));
    assert!(!clock.is_open());
    assert_eq!(clock.spent(), spent);
}

#[derive(Clone)]
struct BareServer;
impl ServerHandler for BareServer {}

/// Through rmcp both ways: the handler advertises what its policy answers, and a server's
/// `elicitation/create` gets the policy's answer.
#[tokio::test]
async fn sessions_advertise_and_answer_as_their_policy_says() -> anyhow::Result<()> {
    for (handler, advertised) in [
        (super::super::SessionHandler::new(None), false),
        (
            super::super::SessionHandler::for_command(Elicitor::for_command(
                ElicitPolicy::Defaults,
            )),
            true,
        ),
    ] {
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move { BareServer.serve(server_io).await });
        let client = handler.serve(client_io).await?;
        let server = server.await??;
        let caps = server.peer().peer_info().map(|i| i.capabilities.clone());
        assert_eq!(caps.and_then(|c| c.elicitation).is_some(), advertised);
        let request = ServerRequest::ElicitRequest(ElicitRequest::new(
            ElicitRequestParams::FormElicitationParams {
                meta: None,
                message: "defaults please".into(),
                requested_schema: sep1034(),
            },
        ));
        let ClientResult::ElicitResult(answer) = server.peer().send_request(request).await? else {
            anyhow::bail!("not an elicitation result");
        };
        let expected = if advertised {
            ElicitationAction::Accept
        } else {
            ElicitationAction::Decline
        };
        assert_eq!(answer.action, expected);
        client.cancel().await?;
        server.cancel().await?;
    }
    Ok(())
}
