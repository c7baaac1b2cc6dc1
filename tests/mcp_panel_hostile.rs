//! The MCP panel's engine side against a hostile streamable HTTP server (`support::hostile`):
//! huge results, secrets in bodies, a server error on `resources/read`, and a prompt whose
//! answer is not JSON-RPC at all. The transcript stays capped per message and per connection,
//! redacts what it keeps, and every failure reaches the panel as a failed event, never a hang.

mod support;
#[path = "support/waits.rs"]
mod waits;

use std::time::Duration;
use waits::next_matching;

use serde_json::{Value, json};
use support::hostile::{Hostile, Reply};
use switchboard::domain::{Actor, ConnectionKey};
use switchboard::engine::{self, Command, EngineOptions, Event};
use switchboard::store::Store;
use switchboard::toolkit::transcript::{BODY_CAP, RING_BYTES};
use tokio_util::sync::CancellationToken;

const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJlLWJ5dGVz";

fn result(id: &Value, result: Value) -> Reply {
    Reply::json(200, json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

async fn server() -> Hostile {
    Hostile::start(|req| {
        if req.method != "POST" {
            return Reply::text(405, "text/plain", "no stream");
        }
        let msg: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let id = &msg["id"];
        match msg["method"].as_str().unwrap_or_default() {
            "initialize" => result(
                id,
                json!({"protocolVersion": "2025-06-18",
                       "capabilities": {"tools": {}, "resources": {}, "prompts": {}},
                       "serverInfo": {"name": "hostile", "version": "0"}}),
            ),
            "tools/list" => result(
                id,
                json!({"tools": [{"name": "leak", "inputSchema": {"type": "object"}}]}),
            ),
            "tools/call" => result(
                id,
                json!({"content": [{"type": "text", "text": format!("token {JWT}")}],
                       "structuredContent": {"access_token": "at-secret-1", "password": "pw-2"}}),
            ),
            "resources/list" => result(
                id,
                json!({"resources": [{"uri": "big://1", "name": "big"}]}),
            ),
            "resources/templates/list" => result(id, json!({"resourceTemplates": []})),
            "prompts/list" => result(id, json!({"prompts": [{"name": "broken"}]})),
            // 600 kB of text: more than a message's and a connection's transcript share.
            "resources/read" if msg["params"]["uri"] == "big://1" => result(
                id,
                json!({"contents": [{"uri": "big://1", "text": "x".repeat(600_000)}]}),
            ),
            "resources/read" => Reply::text(503, "text/plain", "upstream down"),
            "prompts/get" => Reply::text(200, "application/json", "{not json at all"),
            _ if id.is_null() => Reply::text(202, "text/plain", ""),
            _ => Reply::json(
                200,
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no"}}),
            ),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_transcript_stays_capped_and_redacted_and_failures_come_back_as_events() {
    let peer = server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "[[connectors]]\nid = \"hostile\"\nkind = \"mcp\"\n[connectors.mcp]\ntransport = \"streamable-http\"\nurl = \"{}\"\n",
        peer.url("/mcp")
    );
    let config = switchboard::config::parse_str(&text, None, &|_| None).expect("config");
    let store = Store::open(&dir.path().join("data")).expect("store");
    let running = engine::start(
        store,
        engine::fleet::from_config(&config),
        EngineOptions {
            scheduler: false,
            ..EngineOptions::default()
        },
    )
    .await
    .expect("engine");
    let handle = running.handle.clone();
    let mut events = handle.subscribe();
    let key = ConnectionKey::new("hostile", "default");
    let send = |c| assert!(handle.send(c), "the engine refused");

    send(Command::ListTools {
        key: key.clone(),
        refresh: false,
    });
    next_matching(&mut events, |e| {
        matches!(e, Event::ToolsListed { .. }).then_some(())
    })
    .await;
    send(Command::Transcript {
        key: key.clone(),
        follow: true,
    });
    next_matching(&mut events, |e| {
        matches!(e, Event::Transcript { .. }).then_some(())
    })
    .await;

    send(Command::CallTool {
        key: key.clone(),
        tool: "leak".into(),
        arguments: None,
        timeout: Duration::from_secs(30),
        actor: Actor::Console,
        cancel: CancellationToken::new(),
        reply: None,
    });
    let answer = next_matching(&mut events, |e| match e {
        Event::Protocol { entry, .. } if entry.kind == "response" => Some(entry),
        _ => None,
    })
    .await;
    for secret in [JWT, "at-secret-1", "pw-2"] {
        assert!(
            !answer.body.contains(secret),
            "{secret} kept:\n{}",
            answer.body
        );
    }

    // Twice the huge resource: each message capped, the connection's ring within its bytes.
    for _ in 0..2 {
        send(Command::ReadResource {
            key: key.clone(),
            uri: "big://1".into(),
            reply: None,
        });
        let read = next_matching(&mut events, |e| match e {
            Event::ResourceRead { result, .. } => Some(result),
            _ => None,
        })
        .await;
        assert!(read.is_ok(), "{read:?}");
    }
    send(Command::ReadResource {
        key: key.clone(),
        uri: "down://1".into(),
        reply: None,
    });
    let down = next_matching(&mut events, |e| match e {
        Event::ResourceRead { result, uri, .. } if uri == "down://1" => Some(result),
        _ => None,
    })
    .await;
    let failure = down.expect_err("a 503 is a failure");
    assert!(failure.to_string().contains("503"), "{failure}");

    send(Command::GetPrompt {
        key: key.clone(),
        name: "broken".into(),
        arguments: None,
        reply: None,
    });
    let broken = next_matching(&mut events, |e| match e {
        Event::PromptGot { result, .. } => Some(result),
        _ => None,
    })
    .await;
    assert!(broken.is_err(), "{broken:?}");

    send(Command::Transcript {
        key: key.clone(),
        follow: false,
    });
    let kept = next_matching(&mut events, |e| match e {
        Event::Transcript { entries, .. } => Some(entries),
        _ => None,
    })
    .await;
    let total: usize = kept.iter().map(|e| e.body.len()).sum();
    assert!(total <= RING_BYTES, "{total} bytes kept");
    let big = kept
        .iter()
        .find(|e| e.body.contains("more bytes not kept"))
        .expect("the huge body, cut");
    assert!(big.body.len() < BODY_CAP + 100, "{}", big.body.len());
}
