//! What the console's MCP panel asks of the engine, against a real MCP peer (server-everything
//! over stdio): the protocol transcript (what was kept, then live messages of a followed
//! connection, secrets redacted), resource templates and reading a resource, getting a prompt
//! with arguments, the server's log messages and `logging/setLevel`, all through Commands and
//! Events.

#[path = "support/everything.rs"]
mod everything;
#[path = "support/waits.rs"]
mod waits;

use std::time::Duration;
use waits::next_matching;

use serde_json::json;
use switchboard::domain::{Actor, ConnectionKey};
use switchboard::engine::{self, Command, EngineOptions, Event};
use switchboard::store::Store;
use switchboard::toolkit::transcript::Direction;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

struct Fixture {
    _dir: tempfile::TempDir,
    running: engine::Running,
    events: broadcast::Receiver<Event>,
    key: ConnectionKey,
}

async fn start() -> Fixture {
    start_with("").await
}

/// An engine over server-everything, `extra` appended to its `[connectors.mcp]`.
async fn start_with(extra: &str) -> Fixture {
    start_opts(extra, EngineOptions::default()).await
}

async fn start_opts(extra: &str, options: EngineOptions) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = everything::stdio_config() + extra;
    let config = switchboard::config::parse_str(&text, None, &|_| None).expect("config");
    let store = Store::open(&dir.path().join("data")).expect("store");
    let running = engine::start(
        store,
        engine::fleet::from_config(&config),
        EngineOptions {
            scheduler: false,
            ..options
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
    fn send(&self, command: Command) {
        assert!(self.running.handle.send(command), "the engine refused");
    }

    async fn list(&mut self) -> std::sync::Arc<switchboard::toolkit::Catalogue> {
        self.send(Command::ListTools {
            key: self.key.clone(),
            refresh: false,
        });
        next_matching(&mut self.events, |e| match e {
            Event::ToolsListed { result, .. } => Some(result),
            _ => None,
        })
        .await
        .expect("tools listed")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_transcript_keeps_the_session_and_follows_it_live_with_secrets_redacted() {
    let mut f = start().await;
    f.list().await;
    f.send(Command::Transcript {
        key: f.key.clone(),
        follow: true,
    });
    let kept = next_matching(&mut f.events, |e| match e {
        Event::Transcript { entries, .. } => Some(entries),
        _ => None,
    })
    .await;
    let headlines: Vec<String> = kept.iter().map(|e| e.headline()).collect();
    assert!(
        headlines[0].starts_with("→ request initialize #"),
        "{headlines:#?}"
    );
    assert!(
        kept[0].body.contains("\"protocolVersion\""),
        "{}",
        kept[0].body
    );
    assert!(
        kept.iter()
            .any(|e| e.direction == Direction::Received && e.kind == "response"),
        "{headlines:#?}"
    );
    assert!(
        headlines
            .iter()
            .any(|h| h == "→ notification notifications/initialized"),
        "{headlines:#?}"
    );
    assert!(
        headlines
            .iter()
            .any(|h| h.starts_with("→ request tools/list")),
        "{headlines:#?}"
    );

    // Followed: the next call's messages arrive as they happen, secrets redacted both ways.
    let secret = "Bearer s3cr3t-token-value";
    f.send(Command::CallTool {
        key: f.key.clone(),
        tool: "echo".into(),
        arguments: json!({"message": secret}).as_object().cloned(),
        timeout: Duration::from_secs(30),
        actor: Actor::Console,
        cancel: CancellationToken::new(),
        reply: None,
    });
    let mut seen = Vec::new();
    next_matching(&mut f.events, |e| match e {
        Event::Protocol { entry, .. } => {
            let done = entry.direction == Direction::Received && entry.kind == "response";
            seen.push(entry);
            done.then_some(())
        }
        _ => None,
    })
    .await;
    assert_eq!(
        seen[0].headline().split('#').next(),
        Some("→ request tools/call ")
    );
    assert!(seen.windows(2).all(|w| w[1].seq > w[0].seq), "{seen:#?}");
    for entry in &seen {
        assert!(!entry.body.contains("s3cr3t"), "leaked:\n{}", entry.body);
    }
    assert!(
        seen[0].body.contains("Bearer ‹redacted›"),
        "{}",
        seen[0].body
    );

    // Unfollowed: no more live messages (the transcript still keeps them).
    f.send(Command::Transcript {
        key: f.key.clone(),
        follow: false,
    });
    next_matching(&mut f.events, |e| {
        matches!(e, Event::Transcript { .. }).then_some(())
    })
    .await;
    f.list().await;
    f.send(Command::Probe {
        key: f.key.clone(),
        actor: Actor::Console,
        reply: None,
    });
    let mut live = 0;
    next_matching(&mut f.events, |e| match e {
        Event::Protocol { .. } => {
            live += 1;
            None
        }
        Event::Probed { .. } => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(
        live, 0,
        "an unfollowed connection's messages went out as events"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resources_templates_and_prompts_through_commands_and_events() {
    let mut f = start().await;
    let catalogue = f.list().await;
    let templates: Vec<&str> = catalogue
        .resource_templates
        .iter()
        .map(|t| t.uri_template.as_str())
        .collect();
    assert!(
        templates.contains(&"demo://resource/dynamic/text/{resourceId}"),
        "{templates:?}"
    );
    assert!(!catalogue.resources.is_empty());

    f.send(Command::ReadResource {
        key: f.key.clone(),
        uri: "demo://resource/dynamic/text/7".into(),
        reply: None,
    });
    let (uri, read) = next_matching(&mut f.events, |e| match e {
        Event::ResourceRead { uri, result, .. } => Some((uri, result)),
        _ => None,
    })
    .await;
    assert_eq!(uri, "demo://resource/dynamic/text/7");
    let text = serde_json::to_string(&*read.expect("read")).expect("json");
    assert!(text.contains("demo://resource/dynamic/text/7"), "{text}");

    f.send(Command::GetPrompt {
        key: f.key.clone(),
        name: "args-prompt".into(),
        arguments: json!({"city": "Paris"}).as_object().cloned(),
        reply: None,
    });
    let got = next_matching(&mut f.events, |e| match e {
        Event::PromptGot { result, .. } => Some(result),
        _ => None,
    })
    .await
    .expect("prompt");
    let text = serde_json::to_string(&*got).expect("json");
    assert!(text.contains("What's weather in Paris?"), "{text}");

    // A prompt the server does not have is a failure in the event, not a hang.
    f.send(Command::GetPrompt {
        key: f.key.clone(),
        name: "no-such-prompt".into(),
        arguments: None,
        reply: None,
    });
    let failed = next_matching(&mut f.events, |e| match e {
        Event::PromptGot { result, .. } => Some(result),
        _ => None,
    })
    .await;
    assert!(failed.is_err(), "{failed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_servers_log_messages_arrive_and_set_level_filters_them() {
    let mut f = start().await;
    f.list().await;
    f.send(Command::Transcript {
        key: f.key.clone(),
        follow: true,
    });
    next_matching(&mut f.events, |e| {
        matches!(e, Event::Transcript { .. }).then_some(())
    })
    .await;
    // The server logs once at once, then every 5 s, at random levels.
    f.send(Command::CallTool {
        key: f.key.clone(),
        tool: "toggle-simulated-logging".into(),
        arguments: None,
        timeout: Duration::from_secs(30),
        actor: Actor::Console,
        cancel: CancellationToken::new(),
        reply: None,
    });
    let first = next_matching(&mut f.events, |e| match e {
        Event::Protocol { entry, .. } => entry.log_line(),
        _ => None,
    })
    .await;
    // The server's texts are "Info-level message" and so on, but its alert is spelled
    // "Alert level-message": match the words, not the hyphen.
    assert!(
        first.text.contains("level") && first.text.ends_with("message"),
        "{first:?}"
    );
    assert!(
        first.text.to_lowercase().starts_with(&first.level),
        "the text names its own level: {first:?}"
    );

    f.send(Command::SetLogLevel {
        key: f.key.clone(),
        level: "emergency".into(),
    });
    let notice = next_matching(&mut f.events, |e| match e {
        Event::Notice { text, .. } if text.contains("emergency") => Some(text),
        _ => None,
    })
    .await;
    assert!(
        notice.contains("the server now logs from emergency up"),
        "{notice}"
    );
    // From now on only emergencies: two more intervals' worth of messages, none below.
    let until = tokio::time::Instant::now() + Duration::from_secs(11);
    while let Ok(Ok(e)) = tokio::time::timeout_at(until, f.events.recv()).await {
        if let Event::Protocol { entry, .. } = e
            && let Some(line) = entry.log_line()
        {
            assert_eq!(line.level, "emergency", "{line:?}");
        }
    }
    // The request itself is in the transcript.
    f.send(Command::Transcript {
        key: f.key.clone(),
        follow: false,
    });
    let entries = next_matching(&mut f.events, |e| match e {
        Event::Transcript { entries, .. } => Some(entries),
        _ => None,
    })
    .await;
    let set = entries
        .iter()
        .find(|e| e.method.as_deref() == Some("logging/setLevel"))
        .expect("logging/setLevel in the transcript");
    assert!(
        set.body.contains("\"level\": \"emergency\""),
        "{}",
        set.body
    );

    // A level the spec does not have is refused before anything is sent.
    f.send(Command::SetLogLevel {
        key: f.key.clone(),
        level: "loud".into(),
    });
    let refused = next_matching(&mut f.events, |e| match e {
        Event::Notice { text, .. } if text.contains("loud") => Some(text),
        _ => None,
    })
    .await;
    assert!(
        refused.contains("is not a log level; use one of debug"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_roots_are_offered_to_a_server_that_asks() {
    let mut f = start_with("roots = [\"file:///tmp/project-a\", \"file:///srv/data/\"]\n").await;
    let catalogue = f.list().await;
    // server-everything offers the tool only to clients that announce roots.
    assert!(catalogue.tool("get-roots-list").is_some());
    f.send(Command::CallTool {
        key: f.key.clone(),
        tool: "get-roots-list".into(),
        arguments: None,
        timeout: Duration::from_secs(30),
        actor: Actor::Console,
        cancel: CancellationToken::new(),
        reply: None,
    });
    let result = next_matching(&mut f.events, |e| match e {
        Event::ToolResult { result, .. } => Some(result),
        _ => None,
    })
    .await
    .expect("get-roots-list");
    let text = serde_json::to_string(&result.result).expect("json");
    assert!(text.contains("Current MCP Roots (2 total)"), "{text}");
    assert!(
        text.contains("1. project-a\\n   URI: file:///tmp/project-a"),
        "{text}"
    );
    assert!(
        text.contains("2. data\\n   URI: file:///srv/data/"),
        "{text}"
    );

    // Without roots configured the capability is not announced, and the tool not offered.
    let mut plain = start().await;
    assert!(plain.list().await.tool("get-roots-list").is_none());
}

/// An engine whose sessions ask its front-ends, as the console's does.
async fn asking() -> Fixture {
    let options = EngineOptions {
        elicit: switchboard::mcp::elicit::Elicitor::for_front_ends(),
        ..EngineOptions::default()
    };
    start_opts("", options).await
}

impl Fixture {
    fn sample(&self) {
        self.send(Command::CallTool {
            key: self.key.clone(),
            tool: "trigger-sampling-request".into(),
            arguments: json!({"prompt": "What is six times seven?", "maxTokens": 50})
                .as_object()
                .cloned(),
            timeout: Duration::from_secs(60),
            actor: Actor::Console,
            cancel: CancellationToken::new(),
            reply: None,
        });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sampling_request_is_shown_to_the_operator_who_replies_or_declines() {
    use switchboard::toolkit::elicit::prompt::Answer;
    let mut f = asking().await;
    let catalogue = f.list().await;
    // Offered only to clients that announce sampling: the console's engine does.
    assert!(catalogue.tool("trigger-sampling-request").is_some());
    f.sample();
    let (id, request) = next_matching(&mut f.events, |e| match e {
        Event::ElicitationRequested { id, request, .. } => Some((id, request)),
        _ => None,
    })
    .await;
    assert!(
        request
            .message
            .starts_with("sampling/createMessage (up to 50 tokens)"),
        "{}",
        request.message
    );
    assert!(
        request.message.contains("What is six times seven?"),
        "{}",
        request.message
    );
    f.send(Command::AnswerElicitation {
        id,
        answer: Answer::Accept(
            json!({"reply": "forty-two"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        ),
    });
    let result = next_matching(&mut f.events, |e| match e {
        Event::ToolResult { result, .. } => Some(result),
        _ => None,
    })
    .await
    .expect("the call");
    let text = serde_json::to_string(&result.result).expect("json");
    assert!(text.contains("forty-two"), "{text}");
    assert!(text.contains("switchboard-operator"), "{text}");

    // Declined: the server hears a refusal, and the call ends rather than hanging.
    f.sample();
    let id = next_matching(&mut f.events, |e| match e {
        Event::ElicitationRequested { id, .. } => Some(id),
        _ => None,
    })
    .await;
    f.send(Command::AnswerElicitation {
        id,
        answer: Answer::Decline,
    });
    let declined = next_matching(&mut f.events, |e| match e {
        Event::ToolResult { result, .. } => Some(result),
        _ => None,
    })
    .await;
    let shown = match &declined {
        Ok(o) => serde_json::to_string(&o.result).unwrap_or_default(),
        Err(e) => e.to_string(),
    };
    assert!(shown.contains("declined"), "{shown}");

    // An engine nobody answers for does not announce sampling.
    let mut plain = start().await;
    assert!(
        plain
            .list()
            .await
            .tool("trigger-sampling-request")
            .is_none()
    );
}
