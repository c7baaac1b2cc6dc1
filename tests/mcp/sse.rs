//! The legacy HTTP+SSE transport (MCP 2024-11-05) through `McpPool` against the lab's SSE
//! server: probes, tools, a stream the server closes, a malformed event, auth failures, and
//! the lab server's own refusals. Tokens come from the broker as in production.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use serde_json::json;
use switchboard::domain::{ConnectionKey, ErrorClass};
use switchboard::lab::{Lab, PUBLIC_CLIENT};
use switchboard::mcp::{McpPool, Target};
use switchboard::store::Store;

use crate::support::*;

const PING: Duration = Duration::from_secs(5);

struct Rig {
    lab: Lab,
    _tmp: tempfile::TempDir,
    pool: McpPool,
    key: ConnectionKey,
    target: Target,
    _store: Store,
}

/// A lab, a broker with an authorized SSE connection, and a pool.
async fn rig(ttl_secs: u64) -> Rig {
    let lab = lab(ttl_secs).await;
    let (tmp, data) = data_dir();
    let store = open_store(&data);
    let http = http();
    let key = key("lab-sse");
    let spec = code_spec(&lab, PUBLIC_CLIENT);
    let b = broker(&store, &http, &key, &spec).await;
    authorized(&b, &http, &key, &spec).await;
    let pool = McpPool::new(b, store.clone(), http);
    let target = Target::Sse {
        url: lab.sse_url.clone(),
    };
    Rig {
        lab,
        _tmp: tmp,
        pool,
        key,
        target,
        _store: store,
    }
}

fn args(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().unwrap_or_default()
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "waited 10 s for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_tools_work_over_legacy_sse() {
    let r = rig(30).await;
    r.pool
        .ping(&r.key, &r.target, PING)
        .await
        .expect("ping over SSE");
    assert_eq!(r.lab.sse_sessions(), 1);

    let session = r.pool.session(&r.key, &r.target).await.expect("session");
    let tools = session.peer().list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for expected in ["echo", "add", "count_slowly", "whoami"] {
        assert!(names.contains(&expected), "{names:?}");
    }
    let echoed = session
        .peer()
        .call_tool(
            CallToolRequestParams::new("echo").with_arguments(args(json!({"message": "über ✓"}))),
        )
        .await
        .expect("echo");
    let text = serde_json::to_string(&echoed.content).unwrap_or_default();
    assert!(text.contains("über ✓"), "{text}");

    // The session is reused: a second probe opens no second stream.
    r.pool
        .ping(&r.key, &r.target, PING)
        .await
        .expect("second ping");
    assert_eq!(r.lab.sse_sessions(), 1);
}

/// A 10 s `count_slowly` call, started and given time to be in flight.
async fn slow_call_in_flight(
    session: &Arc<switchboard::mcp::Session>,
) -> tokio::task::JoinHandle<Result<rmcp::model::CallToolResult, rmcp::service::ServiceError>> {
    let session = Arc::clone(session);
    let call = tokio::spawn(async move {
        session
            .peer()
            .call_tool(
                CallToolRequestParams::new("count_slowly")
                    .with_arguments(args(json!({"to": 50, "delay_ms": 200}))),
            )
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    call
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stream_fails_the_call_in_flight_and_the_next_probe_reconnects() {
    let r = rig(30).await;
    let session = r.pool.session(&r.key, &r.target).await.expect("session");
    let call = slow_call_in_flight(&session).await;
    assert_eq!(r.lab.close_sse_sessions(), 1);
    let err = call
        .await
        .expect("join")
        .expect_err("the call cannot finish on a closed stream");
    let failure = r.pool.failure(&r.key, &err);
    assert_eq!(failure.class, ErrorClass::Connection, "{failure:?}");
    assert!(
        failure.message.contains("closed the SSE stream"),
        "{failure:?}"
    );
    drop(session);

    r.pool
        .ping(&r.key, &r.target, PING)
        .await
        .expect("the next probe opens a new stream");
    wait_for("a new SSE session", || r.lab.sse_sessions() == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_message_is_a_protocol_error() {
    let r = rig(30).await;
    let session = r.pool.session(&r.key, &r.target).await.expect("session");
    let call = slow_call_in_flight(&session).await;
    assert_eq!(r.lab.garble_sse_sessions(), 1);
    let err = call
        .await
        .expect("join")
        .expect_err("garbage ends the call");
    let failure = r.pool.failure(&r.key, &err);
    assert_eq!(failure.class, ErrorClass::Protocol, "{failure:?}");
    assert!(failure.message.contains("malformed"), "{failure:?}");
    drop(session);
    r.pool
        .ping(&r.key, &r.target, PING)
        .await
        .expect("a clean session after the garbage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_is_an_auth_failure_that_says_so() {
    let r = rig(30).await;
    r.lab.revoke_client_grants(PUBLIC_CLIENT);
    let failure = r
        .pool
        .ping(&r.key, &r.target, PING)
        .await
        .expect_err("a revoked grant cannot open the stream");
    assert_eq!(failure.class, ErrorClass::Auth, "{failure:?}");
    assert!(
        !failure.message.contains("lab_at_"),
        "a token leaked: {failure:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_use_the_brokers_current_token_without_reconnecting() {
    let r = rig(2).await;
    r.pool.ping(&r.key, &r.target, PING).await.expect("ping");
    let before = r.pool.session(&r.key, &r.target).await.expect("session");
    let refreshes = r.lab.stats().refresh_ok;
    // Past the first token's lifetime: the lab rejects it, so the POST must carry a new one.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    r.pool
        .ping(&r.key, &r.target, PING)
        .await
        .expect("ping with a refreshed token");
    let after = r.pool.session(&r.key, &r.target).await.expect("session");
    assert!(Arc::ptr_eq(&before, &after), "the session was reopened");
    assert_eq!(r.lab.sse_sessions(), 1);
    assert!(r.lab.stats().refresh_ok > refreshes, "no refresh happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_revoked_mid_session_fails_the_next_post_as_auth() {
    let r = rig(30).await;
    r.pool.ping(&r.key, &r.target, PING).await.expect("ping");
    r.lab.revoke_client_grants(PUBLIC_CLIENT);
    let failure = r
        .pool
        .ping(&r.key, &r.target, PING)
        .await
        .expect_err("the lab refuses the revoked token on POST");
    // The 401 asked the broker for a newer token once; the refresh was refused too.
    assert_eq!(failure.class, ErrorClass::Auth, "{failure:?}");
    assert!(
        !failure.message.contains("lab_at_"),
        "a token leaked: {failure:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wrong_transport_is_named_in_the_error() {
    let r = rig(30).await;
    // A streamable HTTP endpoint is not an SSE stream; the operator is told what to change.
    let target = Target::Sse {
        url: r.lab.mcp_url.clone(),
    };
    let failure = r
        .pool
        .ping(&r.key, &target, PING)
        .await
        .expect_err("/mcp is not a legacy SSE endpoint");
    assert!(failure.message.contains("streamable-http"), "{failure:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lab_sse_server_requires_a_bearer_and_its_own_session() {
    let r = rig(30).await;
    let http = http();
    let resp = http.get(&r.lab.sse_url).send().await.expect("GET /sse");
    assert_eq!(resp.status(), 401);

    // A stream opened by the authorized client; its endpoint event names the session.
    let (_tmp, data) = data_dir();
    let store = open_store(&data);
    let owner_key = key("owner");
    let owner_spec = code_spec(&r.lab, PUBLIC_CLIENT);
    let owner = broker(&store, &http, &owner_key, &owner_spec).await;
    authorized(&owner, &http, &owner_key, &owner_spec).await;
    let owner_token = token(&owner, &owner_key).await;
    let mut stream = http
        .get(&r.lab.sse_url)
        .bearer_auth(&owner_token)
        .send()
        .await
        .expect("GET /sse");
    assert_eq!(stream.status(), 200);
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = stream
            .chunk()
            .await
            .expect("read")
            .expect("the endpoint event");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("endpoint data");
    assert!(text.starts_with("event: endpoint"), "{text}");
    let endpoint = format!("{}{path}", r.lab.issuer);
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});

    // Another client's valid token cannot post into it; ids are not capabilities.
    let service_key = key("service");
    let service = broker(&store, &http, &service_key, &service_spec(&r.lab)).await;
    let service_token = token(&service, &service_key).await;
    let post = |t: String| http.post(&endpoint).bearer_auth(t).json(&ping).send();
    assert_eq!(post(service_token).await.expect("POST").status(), 404);
    assert_eq!(post(owner_token.clone()).await.expect("POST").status(), 202);
    assert_eq!(
        post("lab_at_forged".into()).await.expect("POST").status(),
        401
    );
}
