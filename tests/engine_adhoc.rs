//! An ad hoc `--url`/`--stdio` target runs on an engine of its own that answers the same
//! `Command`s as a configured connection, through the same `EngineHandle`: against the lab's
//! MCP server over stdio (no credentials) and over HTTP (which wants a bearer token).

mod support;

use std::time::Duration;

use serde_json::json;
use switchboard::domain::{Actor, ErrorClass};
use switchboard::engine::adhoc::{AdHocEngine, AdHocSpec, adhoc_key};
use switchboard::engine::{Elicitor, Event, McpTarget, ToolCall};
use switchboard::toolkit::CallError;
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

fn spec(target: McpTarget) -> AdHocSpec {
    AdHocSpec {
        target,
        headers: Vec::new(),
        bearer: None,
        login: None,
        elicit: Elicitor::default(),
        protocol: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_target_answers_catalogue_and_calls() {
    let engine = AdHocEngine::start(spec(McpTarget::Stdio {
        command: BIN.to_string(),
        args: vec!["lab".into(), "mcp-stdio".into()],
        env: Vec::new(),
    }))
    .expect("starts");
    let handle = engine.handle.clone();
    let key = adhoc_key();
    let catalogue = handle
        .list_catalogue(key.clone(), true)
        .await
        .expect("listed");
    assert_eq!(catalogue.tools.len(), 4);

    let mut events = handle.subscribe();
    let call = |tool: &str, args: serde_json::Value| ToolCall {
        key: key.clone(),
        tool: tool.to_string(),
        arguments: args.as_object().cloned(),
        timeout: Duration::from_secs(20),
        actor: Actor::Cli,
    };
    let outcome = handle
        .call_tool(
            call("count_slowly", json!({"to": 2, "delay_ms": 20})),
            CancellationToken::new(),
        )
        .await
        .expect("answered");
    assert!(format!("{:?}", outcome.result.content).contains("counted to 2"));
    let mut progress = 0;
    while let Ok(e) = events.try_recv() {
        if matches!(e, Event::ToolProgress { .. }) {
            progress += 1;
        }
    }
    assert!(progress >= 1, "no progress events");
    // The schema check happens in this engine too: nothing is sent.
    let invalid = handle
        .call_tool(call("add", json!({"a": "x"})), CancellationToken::new())
        .await;
    assert!(
        matches!(invalid, Err(CallError::InvalidArguments(_))),
        "{invalid:?}"
    );
    // What needs a store is refused, saying why.
    let refused = handle.refresh(key.clone(), Actor::Cli).await.unwrap_err();
    assert!(refused.message.contains("ad hoc"), "{refused}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_target_without_credentials_says_what_to_bring() {
    let lab = support::lab(60).await;
    let engine = AdHocEngine::start(spec(McpTarget::StreamableHttp {
        url: lab.mcp_url.clone(),
    }))
    .expect("starts");
    let refused = engine
        .handle
        .list_catalogue(adhoc_key(), true)
        .await
        .unwrap_err();
    assert_eq!(refused.class, ErrorClass::Auth, "{refused}");
    assert!(refused.message.contains("pass --bearer TOKEN"), "{refused}");
    engine.shutdown().await;

    // A private key that does not parse is refused before anything is sent.
    let mut bad = spec(McpTarget::StreamableHttp {
        url: lab.mcp_url.clone(),
    });
    bad.login = Some(switchboard::engine::adhoc::Login {
        client_id: Some("c".into()),
        client_secret: None,
        client_metadata_url: None,
        machine: true,
        private_key: Some(("not a key".into(), "--private-key k.pem".into())),
        cross_app: None,
        opener: switchboard::engine::Opener::PrintOnly,
    });
    let why = AdHocEngine::start(bad).err().expect("refused");
    assert!(why.contains("--private-key k.pem"), "{why}");
    assert!(!why.contains("not a key"), "{why}");
}
