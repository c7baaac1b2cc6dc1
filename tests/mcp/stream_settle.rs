//! A new streamable HTTP session waits for its standalone GET stream before the first request:
//! servers put requests that belong to no client request (elicitation or sampling from inside a
//! tool, list changes) on that stream and drop them while it is not open, so a tool call that
//! raced ahead of it could wait for an answer to a question the client never saw. Here the
//! server is slow to answer the GET, and the first request must still come after it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use switchboard::mcp::Target;
use switchboard::mcp::adhoc::{self, AdHoc};

type Log = Arc<Mutex<Vec<String>>>;

async fn post_mcp(State(log): State<Log>, body: String) -> Response {
    let msg: Value = serde_json::from_str(&body).unwrap_or_default();
    let method = msg["method"].as_str().unwrap_or_default().to_string();
    log.lock().unwrap().push(method.clone());
    let answer = |result: Value| {
        let mut headers = HeaderMap::new();
        headers.insert("mcp-session-id", "s1".parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        let body = json!({"jsonrpc": "2.0", "id": msg["id"], "result": result});
        (StatusCode::OK, headers, body.to_string()).into_response()
    };
    match method.as_str() {
        "initialize" => answer(json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "slow-get", "version": "0"}
        })),
        "tools/list" => answer(json!({"tools": []})),
        _ => StatusCode::ACCEPTED.into_response(),
    }
}

/// Answers the standalone stream late, and then only to say it has none (405).
async fn get_mcp(State(log): State<Log>) -> Response {
    tokio::time::sleep(Duration::from_millis(400)).await;
    log.lock().unwrap().push("GET".into());
    StatusCode::METHOD_NOT_ALLOWED.into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_request_waits_for_the_standalone_stream() {
    let log: Log = Arc::default();
    let app = Router::new()
        .route("/mcp", post(post_mcp).get(get_mcp))
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let target = AdHoc {
        target: Target::StreamableHttp { url },
        headers: Vec::new(),
        bearer: None,
        auth: None,
        elicit: Default::default(),
        protocol: None,
    };
    let session = adhoc::connect(&target, Duration::from_secs(10))
        .await
        .expect("connect");
    session.peer().list_tools(None).await.expect("tools/list");
    let _ = session.cancel().await;

    let log = log.lock().unwrap().clone();
    let get = log.iter().position(|m| m == "GET");
    let list = log.iter().position(|m| m == "tools/list");
    assert!(
        matches!((get, list), (Some(g), Some(l)) if g < l),
        "tools/list went out before the standalone stream was answered: {log:?}"
    );
}
