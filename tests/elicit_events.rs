//! Elicitation through the engine's one door, against a real MCP peer (server-everything over
//! stdio, whose `trigger-elicitation-request` asks for a form mid-call): the request reaches
//! every subscriber as `Event::ElicitationRequested`, a test front-end answers it with
//! `Command::AnswerElicitation`, and the server reports back what it received. A declined
//! request and one nobody answers (declined when the wait runs out) are checked the same way.

#[path = "support/everything.rs"]
mod everything;
#[path = "support/waits.rs"]
mod waits;

use std::time::Duration;
use waits::next_matching;

use serde_json::Value;
use switchboard::domain::{Actor, ConnectionKey};
use switchboard::engine::{self, Command, EngineOptions, Event, Level};
use switchboard::mcp::elicit::Elicitor;
use switchboard::store::Store;
use switchboard::toolkit::elicit::prompt::Answer;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

const TOOL: &str = "trigger-elicitation-request";

struct Fixture {
    _dir: tempfile::TempDir,
    running: engine::Running,
    events: broadcast::Receiver<Event>,
    key: ConnectionKey,
}

/// An engine over server-everything whose sessions ask the engine's front-ends, waiting
/// `wait` for an answer.
async fn start(wait: Duration) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = switchboard::config::parse_str(&everything::stdio_config(), None, &|_| None)
        .expect("config");
    let store = Store::open(&dir.path().join("data")).expect("store");
    let running = engine::start(
        store,
        engine::fleet::from_config(&config),
        EngineOptions {
            scheduler: false,
            elicit: Elicitor::for_front_ends().waiting(wait),
            ..EngineOptions::default()
        },
    )
    .await
    .expect("engine");
    let events = running.handle.subscribe();
    Fixture {
        _dir: dir,
        running,
        events,
        key: ConnectionKey::new("everything", "default"),
    }
}

impl Fixture {
    fn call(&self) {
        let sent = self.running.handle.send(Command::CallTool {
            key: self.key.clone(),
            tool: TOOL.to_string(),
            arguments: None,
            timeout: Duration::from_secs(60),
            actor: Actor::Console,
            cancel: CancellationToken::new(),
            reply: None,
        });
        assert!(sent, "the engine takes the call");
    }

    /// The server's answer to the call, as text.
    async fn result(&mut self) -> String {
        let result = next_matching(&mut self.events, |e| match e {
            Event::ToolResult { tool, result, .. } if tool == TOOL => Some(result),
            _ => None,
        })
        .await;
        let outcome = result.unwrap_or_else(|e| panic!("the call failed: {e}"));
        serde_json::to_string(&outcome.result).expect("a result serializes")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_front_end_answers_through_the_engine() {
    let mut f = start(Duration::from_secs(60)).await;
    // A second subscriber sees the same request: any front-end may answer.
    let mut other = f.running.handle.subscribe();

    f.call();
    let (id, key, request) = next_matching(&mut f.events, |e| match e {
        Event::ElicitationRequested { id, key, request } => Some((id, key, request)),
        _ => None,
    })
    .await;
    assert_eq!(
        key.as_ref(),
        Some(&f.key),
        "the request names its connection"
    );
    assert_eq!(
        request.message,
        "Please provide inputs for the following fields:"
    );
    assert!(
        request
            .form
            .fields
            .iter()
            .any(|field| field.name == "name" && field.required),
        "{:?}",
        request.form
    );
    let seen_by_other = next_matching(&mut other, |e| match e {
        Event::ElicitationRequested { id, .. } => Some(id),
        _ => None,
    })
    .await;
    assert_eq!(seen_by_other, id);

    // The console's way of answering: the form's template, with the blank filled.
    let mut content = request.form.template();
    content.insert("name".into(), Value::String("Ada Lovelace".into()));
    let checked = request
        .form
        .check_answer(&Value::Object(content))
        .expect("a valid answer");
    assert!(f.running.handle.send(Command::AnswerElicitation {
        id,
        answer: Answer::Accept(checked),
    }));

    let text = f.result().await;
    assert!(text.contains("- Name: Ada Lovelace"), "{text}");
    // Defaults from the template reach the server typed, not as strings.
    assert!(text.contains("- Favorite Integer: 42"), "{text}");
    let closed = next_matching(&mut other, |e| match e {
        Event::ElicitationClosed { id } => Some(id),
        _ => None,
    })
    .await;
    assert_eq!(closed, id, "front-ends showing it are told it is over");

    // A second answer to the same request changes nothing (and does not stop the engine).
    assert!(f.running.handle.send(Command::AnswerElicitation {
        id,
        answer: Answer::Decline,
    }));

    // Declined: the server hears it.
    f.call();
    let id = next_matching(&mut f.events, |e| match e {
        Event::ElicitationRequested { id, .. } => Some(id),
        _ => None,
    })
    .await;
    assert!(f.running.handle.send(Command::AnswerElicitation {
        id,
        answer: Answer::Decline,
    }));
    let text = f.result().await;
    assert!(
        text.contains("User declined to provide the requested information"),
        "{text}"
    );
    f.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_nobody_answers_is_declined_when_the_wait_runs_out() {
    let mut f = start(Duration::from_secs(2)).await;
    f.call();
    let id = next_matching(&mut f.events, |e| match e {
        Event::ElicitationRequested { id, .. } => Some(id),
        _ => None,
    })
    .await;
    let notice = next_matching(&mut f.events, |e| match e {
        Event::Notice { level, text } if text.contains("nobody answered") => Some((level, text)),
        _ => None,
    })
    .await;
    assert_eq!(notice.0, Level::Warn, "{notice:?}");
    assert!(notice.1.contains("declined"), "{notice:?}");
    let text = f.result().await;
    assert!(
        text.contains("User declined to provide the requested information"),
        "{text}"
    );
    // Too late: the request is closed, and the answer goes nowhere.
    assert!(f.running.handle.send(Command::AnswerElicitation {
        id,
        answer: Answer::Decline,
    }));
    f.running.shutdown().await;
}
