use std::io::Cursor;

use rmcp::model::{ClientResult, ElicitRequest, JsonObject, ServerRequest};
use rmcp::{ServerHandler, ServiceExt};
use serde_json::json;

use super::form::Kind;
use super::*;

/// The form of the conformance suite's SEP-1034 scenario, as it comes over the wire (parsed
/// from text: a `json!` map would sort the properties).
fn sep1034() -> ElicitationSchema {
    let wire = r#"{
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "User name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": {"type": "string", "description": "User status",
                       "enum": ["active", "inactive", "pending"], "default": "active"},
            "verified": {"type": "boolean", "description": "Verification status", "default": true}
        },
        "required": []
    }"#;
    serde_json::from_str(wire).expect("a valid elicitation schema")
}

fn schema(v: Value) -> ElicitationSchema {
    serde_json::from_value(v).expect("a valid elicitation schema")
}

fn form(v: Value) -> Form {
    Form::from_schema(&schema(v)).expect("a usable form")
}

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
fn fields_keep_the_servers_order_and_kinds() {
    let f = Form::from_schema(&sep1034()).unwrap();
    let names: Vec<&str> = f.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["name", "age", "score", "status", "verified"]);
    assert!(matches!(f.fields[1].kind, Kind::Integer { .. }));
    assert!(matches!(&f.fields[3].kind, Kind::OneOf(c) if c.len() == 3));
    assert_eq!(f.fields[4].default, Some(json!(true)));
}

#[test]
fn defaults_fill_every_field_that_has_one() {
    let content = fill_defaults(&Form::from_schema(&sep1034()).unwrap()).unwrap();
    assert_eq!(
        Value::Object(content),
        json!({"name": "John Doe", "age": 30, "score": 95.5, "status": "active", "verified": true})
    );
    // Optional without a default: left out. Required without one: named.
    let f = form(json!({"type": "object", "properties": {
        "nick": {"type": "string"},
        "team": {"type": "string", "default": "ops"}
    }}));
    assert_eq!(
        Value::Object(fill_defaults(&f).unwrap()),
        json!({"team": "ops"})
    );
    let f = form(
        json!({"type": "object", "required": ["email"], "properties": {
            "email": {"type": "string", "format": "email"},
            "team": {"type": "string", "default": "ops"}
        }}),
    );
    let unfilled = fill_defaults(&f).unwrap_err();
    assert_eq!(unfilled.field, "email");
    assert_eq!(unfilled.why, "it has no default");
}

#[test]
fn a_default_the_schema_rejects_is_set_aside() {
    let f = form(
        json!({"type": "object", "required": ["level"], "properties": {
            "level": {"type": "string", "enum": ["low", "high"], "default": "medium"},
            "n": {"type": "integer", "minimum": 1, "default": 0}
        }}),
    );
    assert_eq!(f.fields[0].default, None);
    let unfilled = fill_defaults(&f).unwrap_err();
    assert_eq!(unfilled.field, "level");
    assert!(unfilled.why.contains("\"medium\""), "{}", unfilled.why);
    assert!(
        f.fields[1]
            .ignored_default
            .as_deref()
            .unwrap_or("")
            .contains("below the minimum 1")
    );
}

#[test]
fn a_schema_no_answer_can_satisfy_is_refused() {
    let bad = schema(
        json!({"type": "object", "required": ["ghost"], "properties": {
            "a": {"type": "string"}
        }}),
    );
    let err = Form::from_schema(&bad).unwrap_err();
    assert!(err.contains("`ghost`"), "{err}");
}

#[test]
fn typed_answers_are_parsed_and_checked() {
    let f = form(json!({"type": "object", "properties": {
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "ratio": {"type": "number"},
        "ok": {"type": "boolean"},
        "color": {"type": "string", "oneOf": [
            {"const": "r", "title": "Red"}, {"const": "g", "title": "Green"}]},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]}, "maxItems": 2},
        "mail": {"type": "string", "format": "email"},
        "code": {"type": "string", "minLength": 3}
    }}));
    let field = |n: &str| f.fields.iter().find(|x| x.name == n).unwrap();
    assert_eq!(field("age").parse(" 42 "), Ok(json!(42)));
    assert_eq!(
        field("age").parse("abc"),
        Err("`abc` is not a whole number (e.g. 42)".into())
    );
    assert_eq!(
        field("age").parse("4.5"),
        Err("`4.5` is not a whole number (e.g. 42)".into())
    );
    assert_eq!(
        field("age").parse("200"),
        Err("200 is above the maximum 150".into())
    );
    assert_eq!(field("ratio").parse("0.25"), Ok(json!(0.25)));
    assert_eq!(field("ratio").parse("9"), Ok(json!(9)), "not 9.0");
    assert!(field("ratio").parse("NaN").is_err());
    assert_eq!(field("ok").parse("Yes"), Ok(json!(true)));
    assert_eq!(field("ok").parse("n"), Ok(json!(false)));
    assert_eq!(
        field("ok").parse("maybe"),
        Err("`maybe` is not yes or no".into())
    );
    assert_eq!(field("color").parse("2"), Ok(json!("g")));
    assert_eq!(field("color").parse("red"), Ok(json!("r")));
    assert_eq!(
        field("color").parse("blue"),
        Err("`blue` is not one of: r, g".into())
    );
    assert_eq!(field("tags").parse("a, 3, a"), Ok(json!(["a", "c"])));
    assert_eq!(
        field("tags").parse("a,b,c"),
        Err("3 picked, at most 2 allowed".into())
    );
    assert!(field("mail").parse("ops@example.com").is_ok());
    assert!(
        field("mail")
            .parse("ops")
            .unwrap_err()
            .contains("email address")
    );
    assert_eq!(
        field("code").parse("ab"),
        Err("2 characters, at least 3 needed".into())
    );
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
