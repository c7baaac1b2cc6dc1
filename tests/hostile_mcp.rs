//! A hostile streamable HTTP MCP server on loopback (`support::hostile`) against the real
//! binary's `switchboard tools --url`: a `nextCursor` that never ends or repeats, a reply with
//! the wrong JSON-RPC id, a reply that never comes, an endless answer, and control characters
//! in a tool's name and description. Before the bounds, each of the first three hung `tools`
//! (and `call`) forever, and the last reached the operator's terminal as escape sequences.

#[path = "support/cli.rs"]
mod cli;
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use support::hostile::{Hostile, Reply, Request};

/// A hang guard only; the bounded failures end well within it.
const GUARD: Duration = Duration::from_secs(120);

use cli::Ran;

/// `switchboard tools --url URL` with nothing configured, killed at the guard.
async fn tools(url: &str, extra: &[&str]) -> Ran {
    switchboard(&[&["tools", "--url", url], extra].concat()).await
}

async fn switchboard(args: &[&str]) -> Ran {
    cli::unconfigured(args, GUARD).await
}

fn message(req: &Request) -> Value {
    serde_json::from_slice(&req.body).unwrap_or_default()
}

fn result(id: &Value, result: Value) -> Reply {
    Reply::json(200, json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

/// A stateless MCP server whose `tools/list` answers are `list(request)`; everything else is
/// what a well-behaved server would say.
async fn server(list: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> Hostile {
    server_with_get(list, |_| Reply::text(405, "text/plain", "no stream")).await
}

/// [`server`], with `get` answering GET requests (a resumed stream).
async fn server_with_get(
    list: impl Fn(&Value) -> Reply + Send + Sync + 'static,
    get: impl Fn(&Request) -> Reply + Send + Sync + 'static,
) -> Hostile {
    Hostile::start(move |req| {
        if req.method != "POST" {
            return get(req);
        }
        let msg = message(req);
        let id = &msg["id"];
        match msg["method"].as_str().unwrap_or_default() {
            "initialize" => result(
                id,
                json!({
                    "protocolVersion": "2025-06-18",
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "hostile", "version": "0"}
                }),
            ),
            "tools/list" => list(&msg),
            "tools/call" => result(
                id,
                json!({"content": [{"type": "text", "text": "called\u{1b}[2J"}]}),
            ),
            _ if id.is_null() => Reply::text(202, "text/plain", ""),
            _ => Reply::json(
                200,
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no"}}),
            ),
        }
    })
    .await
}

fn tool(name: &str, description: &str) -> Value {
    json!({"name": name, "description": description, "inputSchema": {"type": "object"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_cursor_that_never_ends_stops_at_the_page_cap() {
    let pages = Arc::new(AtomicU64::new(0));
    let count = pages.clone();
    let peer = server(move |msg| {
        let n = count.fetch_add(1, Ordering::SeqCst);
        result(
            &msg["id"],
            json!({"tools": [tool(&format!("t{n}"), "x")], "nextCursor": format!("page-{}", n + 1)}),
        )
    })
    .await;
    let run = tools(&peer.url("/mcp"), &[]).await;
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("tools/list: the server was still sending nextCursor after 100 pages"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("pagination is broken"),
        "{}",
        run.stderr
    );
    assert_eq!(pages.load(Ordering::SeqCst), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_cursor_is_caught_on_its_second_appearance() {
    let peer = server(|msg| {
        result(
            &msg["id"],
            json!({"tools": [tool("again", "x")], "nextCursor": "same"}),
        )
    })
    .await;
    let run = tools(&peer.url("/mcp"), &[]).await;
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("the same nextCursor twice (same)"),
        "{}",
        run.stderr
    );
    // The first page, the one with "same", and the one that repeated it.
    assert_eq!(
        peer.requests()
            .iter()
            .filter(|r| message(r)["method"] == "tools/list")
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_with_the_wrong_id_fails_at_once() {
    let peer = server(|msg| {
        let wrong = msg["id"]
            .as_i64()
            .map_or(json!("nope"), |n| json!(n + 1000));
        result(&wrong, json!({"tools": [tool("ok", "x")]}))
    })
    .await;
    let run = tools(&peer.url("/mcp"), &[]).await;
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("mixing up its JSON-RPC ids"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_that_never_answers_ends_at_the_deadline() {
    let peer = server(|_| Reply::Stall).await;
    let run = tools(&peer.url("/mcp"), &[]).await;
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("did not finish listing its tools within 30 s"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_is_cut_at_the_message_cap() {
    let peer = server(|_| Reply::Endless {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        chunk: br#"{"jsonrpc":"2.0","id":1,"result":{"tools":["#.repeat(512),
    })
    .await;
    let run = tools(&peer.url("/mcp"), &[]).await;
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("larger than 16 MiB; switchboard stopped reading it"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_from_the_server_are_shown_not_obeyed() {
    let peer = server(|msg| {
        result(
            &msg["id"],
            json!({"tools": [tool("evil\u{1b}[2J\u{1b}]0;pwned\u{7}", "red \u{1b}[31malert\u{9b}1m")]}),
        )
    })
    .await;
    let run = tools(&peer.url("/mcp"), &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    for c in ['\u{1b}', '\u{7}', '\u{9b}'] {
        assert!(
            !run.stdout.contains(c),
            "{c:?} reached the terminal: {:?}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("evil␛[2J␛]0;pwned␇"), "{}", run.stdout);
    assert!(
        run.stdout.contains("red ␛[31malert\\u{9b}1m"),
        "{}",
        run.stdout
    );
    // --json is for programs: the exact text, escaped by JSON itself.
    let run = tools(&peer.url("/mcp"), &["--json"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains('\u{1b}'), "{}", run.stdout);
    let v: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(v["tools"][0]["name"], "evil\u{1b}[2J\u{1b}]0;pwned\u{7}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_retry_of_u64_max_is_clamped_and_the_stream_resumes() {
    // The answer to tools/list starts as an SSE stream that only primes a resumption (an id
    // and a retry delay) and closes; the resumed GET carries the answer (SEP-1699). rmcp
    // waited the server's retry as sent before resuming: u64::MAX ms, for ever.
    let id = Arc::new(Mutex::new(Value::Null));
    let seen = id.clone();
    let peer = server_with_get(
        move |msg| {
            *seen.lock().unwrap() = msg["id"].clone();
            Reply::text(
                200,
                "text/event-stream",
                "id: e1\nretry: 18446744073709551615\ndata: \n\n",
            )
        },
        move |req| match req.header("last-event-id") {
            Some("e1") => {
                let answer = json!({"jsonrpc": "2.0", "id": *id.lock().unwrap(),
                    "result": {"tools": [tool("resumed", "x")]}});
                Reply::text(
                    200,
                    "text/event-stream",
                    format!("id: e2\ndata: {answer}\n\n"),
                )
            }
            _ => Reply::text(405, "text/plain", "no stream"),
        },
    )
    .await;
    let run = tools(&peer.url("/mcp"), &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("resumed"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_message_is_shown_not_obeyed() {
    let peer = server(|msg| {
        Reply::json(
            200,
            json!({"jsonrpc": "2.0", "id": msg["id"],
                "error": {"code": -32000, "message": "boom\u{1b}[2J\u{1b}]0;pwned\u{7}"}}),
        )
    })
    .await;
    let run = tools(&peer.url("/mcp"), &[]).await;
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    assert!(run.stderr.contains("boom␛[2J␛]0;pwned␇"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_with_an_absurd_timeout_and_an_escaping_result() {
    let peer = server(|msg| result(&msg["id"], json!({"tools": [tool("go", "x")]}))).await;
    let url = peer.url("/mcp");
    let run = switchboard(&["call", "--url", &url, "go", "--timeout", "500000000000y"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains('\u{1b}'), "{:?}", run.stdout);
    assert!(run.stdout.contains("called␛[2J"), "{}", run.stdout);
}
