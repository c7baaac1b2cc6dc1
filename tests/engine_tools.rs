//! The engine's tool API (`Command::ListTools`, `Command::CallTool` and their events), as the
//! console's panel will use it, against the binary's stdio MCP server (`lab mcp-stdio`).

#[path = "support/waits.rs"]
mod waits;
use std::time::Duration;
use waits::next_matching;

use serde_json::json;
use switchboard::domain::{Actor, ConnectionKey};
use switchboard::engine::{self, Command, EngineOptions, Event};
use switchboard::store::Store;
use switchboard::toolkit::CallError;
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

#[tokio::test(flavor = "multi_thread")]
async fn list_and_call_through_engine_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "[[connectors]]\nid = \"stdio\"\nkind = \"mcp\"\n[connectors.mcp]\ntransport = \"stdio\"\ncommand = \"{}\"\nargs = [\"lab\", \"mcp-stdio\"]\n",
        BIN.replace('\\', "\\\\").replace('"', "\\\"")
    );
    let config = switchboard::config::parse_str(&text, None, &|_| None).expect("config");
    let store = Store::open(&dir.path().join("data")).expect("store");
    let running = engine::start(
        store.clone(),
        engine::fleet::from_config(&config),
        EngineOptions {
            scheduler: false,
            ..Default::default()
        },
    )
    .await
    .expect("engine");
    let handle = running.handle.clone();
    let mut events = handle.subscribe();
    let key = ConnectionKey::new("stdio", "default");

    assert!(handle.send(Command::ListTools {
        key: key.clone(),
        refresh: false,
    }));
    let listed = next_matching(&mut events, |e| match e {
        Event::ToolsListed { result, .. } => Some(result),
        _ => None,
    })
    .await
    .expect("tools listed");
    assert_eq!(listed.tools.len(), 4);

    let call = |tool: &str, args: serde_json::Value| Command::CallTool {
        key: key.clone(),
        tool: tool.to_string(),
        arguments: args.as_object().cloned(),
        timeout: Duration::from_secs(20),
        actor: Actor::Console,
        cancel: CancellationToken::new(),
        reply: None,
    };
    assert!(handle.send(call("count_slowly", json!({"to": 3, "delay_ms": 20}))));
    let mut progress = Vec::new();
    let result = next_matching(&mut events, |e| match e {
        Event::ToolProgress { progress: p, .. } => {
            progress.push(p);
            None
        }
        Event::ToolResult { result, .. } => Some(result),
        _ => None,
    })
    .await
    .expect("count_slowly succeeds");
    assert!(!progress.is_empty(), "no progress events");
    assert!(format!("{:?}", result.result.content).contains("counted to 3"));

    // Invalid arguments never leave the engine, and say where they are wrong.
    assert!(handle.send(call("add", json!({"a": "x"}))));
    let result = next_matching(&mut events, |e| match e {
        Event::ToolResult { result, .. } => Some(result),
        _ => None,
    })
    .await;
    match result {
        Err(CallError::InvalidArguments(v)) => {
            let text: Vec<String> = v.iter().map(ToString::to_string).collect();
            assert_eq!(
                text,
                [
                    "/a: expected number, got \"x\"",
                    "/b: missing required property \"b\" (number)"
                ]
            );
        }
        other => panic!("expected invalid arguments, got {other:?}"),
    }

    let calls = store
        .events(Some(&key), Some("tool_call"), 10)
        .await
        .expect("events");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].detail.as_deref(), Some("count_slowly"));
    assert_eq!(calls[0].actor, Actor::Console);
    running.shutdown().await;
}
