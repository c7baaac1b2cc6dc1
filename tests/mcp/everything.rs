//! switchboard's MCP client against a real third-party peer: `@modelcontextprotocol/server-
//! everything` (the MCP reference test server, pinned in tests/peers/everything), over stdio,
//! legacy HTTP+SSE and streamable HTTP. For each transport: probe, list tools, call `get-sum`
//! and `echo`, a long-running tool with progress, then kill the server mid-call (a classified
//! error, not a hang) and restart it (the next probe recovers).
//!
//! `tests/run` installs the peer (`npm ci --prefix tests/peers/everything`); without it these
//! tests fail and say so, they never skip.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, ProgressNotificationParam, RequestMetaObject};
use rmcp::service::NotificationContext;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::json;
use switchboard::auth::AuthSpec;
use switchboard::domain::{ConnectionKey, ErrorClass};
use switchboard::mcp::{McpPool, SseClientTransport, Target};

use crate::support::everything::entry;
use crate::support::{broker, data_dir, http, key, open_store};

const PING: Duration = Duration::from_secs(10);

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// One HTTP server-everything process; killed when dropped.
struct Server {
    child: Option<Child>,
    mode: &'static str,
    port: u16,
}

impl Server {
    fn start(mode: &'static str, port: u16) -> Server {
        let child = Command::new("node")
            .arg(entry())
            .arg(mode)
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start server-everything {mode}: {e}"));
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "server-everything {mode} did not listen on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Server {
            child: Some(child),
            mode,
            port,
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        *self = Server::start(self.mode, self.port);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A pool with one unauthenticated connection, as switchboard runs it.
struct Client {
    _tmp: tempfile::TempDir,
    pool: McpPool,
    key: ConnectionKey,
}

async fn client() -> Client {
    let (tmp, data) = data_dir();
    let store = open_store(&data);
    let http = http();
    let key = key("everything");
    let b = broker(&store, &http, &key, &AuthSpec::None).await;
    Client {
        _tmp: tmp,
        pool: McpPool::new(b, store, http),
        key,
    }
}

fn call(name: &'static str, args: serde_json::Value) -> CallToolRequestParams {
    CallToolRequestParams::new(name).with_arguments(args.as_object().cloned().unwrap_or_default())
}

fn text_of(result: &rmcp::model::CallToolResult) -> String {
    serde_json::to_string(&result.content).unwrap_or_default()
}

/// Probe, tools, calls and a long-running call through the pool's session.
async fn exercise(c: &Client, target: &Target) {
    c.pool.ping(&c.key, target, PING).await.expect("probe");
    let session = c.pool.session(&c.key, target).await.expect("session");
    let tools = session.peer().list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for expected in ["echo", "get-sum", "trigger-long-running-operation"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let sum = session
        .peer()
        .call_tool(call("get-sum", json!({"a": 2, "b": 40})))
        .await
        .expect("get-sum");
    assert!(text_of(&sum).contains("42"), "{}", text_of(&sum));
    let echo = session
        .peer()
        .call_tool(call("echo", json!({"message": "hé ✓"})))
        .await
        .expect("echo");
    assert!(text_of(&echo).contains("hé ✓"), "{}", text_of(&echo));
    // With a progress token the server interleaves notifications with the answer; the session
    // must take them in stride.
    let mut params = call(
        "trigger-long-running-operation",
        json!({"duration": 1, "steps": 3}),
    );
    let mut meta = RequestMetaObject::default();
    meta.set_progress_token(rmcp::model::ProgressToken(
        rmcp::model::NumberOrString::Number(7),
    ));
    params.meta = Some(meta);
    let long = session
        .peer()
        .call_tool(params)
        .await
        .expect("long-running");
    assert!(text_of(&long).contains("completed"), "{}", text_of(&long));
}

/// Starts a long call, runs `kill`, and returns the classified failure of that call.
async fn fail_mid_call(
    c: &Client,
    target: &Target,
    kill: impl FnOnce(),
) -> switchboard::domain::Failure {
    let session = c.pool.session(&c.key, target).await.expect("session");
    let pending = {
        let session = Arc::clone(&session);
        tokio::spawn(async move {
            let params = call(
                "trigger-long-running-operation",
                json!({"duration": 20, "steps": 20}),
            );
            tokio::time::timeout(Duration::from_secs(15), session.peer().call_tool(params)).await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    kill();
    let outcome = pending.await.expect("join");
    let err = match outcome {
        Ok(Err(e)) => e,
        Ok(Ok(r)) => panic!("the call finished on a dead server: {}", text_of(&r)),
        Err(_) => panic!("the call hung for 15 s after its server died"),
    };
    c.pool.failure(&c.key, &err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_over_legacy_sse() {
    let mut server = Server::start("sse", free_port());
    let c = client().await;
    let target = Target::Sse {
        url: format!("http://127.0.0.1:{}/sse", server.port),
    };
    exercise(&c, &target).await;
    let failure = fail_mid_call(&c, &target, || server.kill()).await;
    assert_eq!(failure.class, ErrorClass::Connection, "{failure:?}");
    assert!(failure.message.contains("SSE stream"), "{failure:?}");
    server.restart();
    c.pool
        .ping(&c.key, &target, PING)
        .await
        .expect("the next probe recovers after the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_over_streamable_http() {
    let mut server = Server::start("streamableHttp", free_port());
    let c = client().await;
    let target = Target::StreamableHttp {
        url: format!("http://127.0.0.1:{}/mcp", server.port),
    };
    exercise(&c, &target).await;
    let before = c.pool.session(&c.key, &target).await.expect("session");
    let failure = fail_mid_call(&c, &target, || server.kill()).await;
    assert!(
        matches!(failure.class, ErrorClass::Connection | ErrorClass::Protocol),
        "{failure:?}"
    );
    server.restart();
    c.pool
        .ping(&c.key, &target, PING)
        .await
        .expect("the next probe recovers after the restart");
    // The restarted server refuses the old session (400 and an error without an id, where
    // the spec says 404); the session re-initialized in place rather than timing out.
    let after = c.pool.session(&c.key, &target).await.expect("session");
    assert!(Arc::ptr_eq(&before, &after), "re-initialized in place");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_over_stdio() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pid_file = tmp.path().join("pid");
    // A shell that records its pid and becomes node, so the test can kill the server the pool
    // spawned without hunting for it.
    let script = format!(
        "echo $$ > '{}'; exec node '{}' stdio",
        pid_file.display(),
        entry().display()
    );
    let target = Target::Stdio {
        command: "sh".into(),
        args: vec!["-c".into(), script],
        env: vec![],
    };
    let c = client().await;
    exercise(&c, &target).await;
    let pid = std::fs::read_to_string(&pid_file).expect("the server wrote its pid");
    let failure = fail_mid_call(&c, &target, || {
        let status = Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {pid}");
    })
    .await;
    assert_eq!(failure.class, ErrorClass::Connection, "{failure:?}");
    // "Restart" for stdio is the pool spawning a new child on the next probe.
    c.pool
        .ping(&c.key, &target, PING)
        .await
        .expect("the next probe starts a new server");
}

/// Progress notifications over our own SSE transport reach the client's handler.
#[derive(Clone, Default)]
struct ProgressCounter(Arc<AtomicU32>);

impl ClientHandler for ProgressCounter {
    async fn on_progress(
        &self,
        _params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_notifications_arrive_over_legacy_sse() {
    let server = Server::start("sse", free_port());
    let (_tmp, data) = data_dir();
    let store = open_store(&data);
    let http = http();
    let key = key("everything");
    let b = broker(&store, &http, &key, &AuthSpec::None).await;
    let url = format!("http://127.0.0.1:{}/sse", server.port);
    let acting = switchboard::auth::source::Acting::new(switchboard::domain::Actor::Cli);
    let source = switchboard::auth::source::BrokerSource::shared(b, key, acting);
    let transport = SseClientTransport::connect(http, source, &url)
        .await
        .expect("SSE connect");
    let counter = ProgressCounter::default();
    let client = counter.clone().serve(transport).await.expect("initialize");
    let mut params = call(
        "trigger-long-running-operation",
        json!({"duration": 1, "steps": 4}),
    );
    let mut meta = RequestMetaObject::default();
    meta.set_progress_token(rmcp::model::ProgressToken(
        rmcp::model::NumberOrString::Number(1),
    ));
    params.meta = Some(meta);
    client.peer().call_tool(params).await.expect("long-running");
    assert_eq!(counter.0.load(Ordering::SeqCst), 4);
    let _ = client.cancel().await;
}
