//! Streamable HTTP sessions the server forgets (a restart, an idle timeout): the next request
//! gets 404 and the pool's session re-initializes in place instead of failing a probe.

use std::sync::Arc;
use std::time::Duration;

use switchboard::lab::PUBLIC_CLIENT;
use switchboard::mcp::{McpPool, Target};

use crate::support::*;

/// A pool over an authorized connection to the lab's MCP server, and its target.
async fn pool_at(
    lab: &switchboard::lab::Lab,
    data: &std::path::Path,
) -> (McpPool, switchboard::domain::ConnectionKey, Target) {
    let store = open_store(data);
    let http = http();
    let key = key("lab-mcp");
    let spec = code_spec(lab, PUBLIC_CLIENT);
    let b = broker(&store, &http, &key, &spec).await;
    authorized(&b, &http, &key, &spec).await;
    let target = Target::StreamableHttp {
        url: lab.mcp_url.clone(),
    };
    (McpPool::new(b, store, http), key, target)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_reinitializes_without_failing_the_probe() {
    let lab = lab(30).await;
    let (_tmp, data) = data_dir();
    let (pool, key, target) = pool_at(&lab, &data).await;
    let timeout = Duration::from_secs(5);

    pool.ping(&key, &target, timeout).await.expect("first ping");
    let before = pool.session(&key, &target).await.expect("session");
    assert_eq!(lab.expire_mcp_sessions().await, 1);

    pool.ping(&key, &target, timeout)
        .await
        .expect("the ping after expiry re-initializes and succeeds");
    let after = pool.session(&key, &target).await.expect("session");
    // The same pool session: rmcp re-initialized under it, the pool did not reconnect.
    assert!(Arc::ptr_eq(&before, &after));
    assert_eq!(lab.expire_mcp_sessions().await, 1, "one new server session");
}

/// A probe and a tool call (or a catalogue fetch) that find no session at the same moment share
/// one `initialize`, counted at the lab, instead of each opening a session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_uses_open_one_session() {
    let lab = lab(30).await;
    let (_tmp, data) = data_dir();
    let (pool, key, target) = pool_at(&lab, &data).await;
    let pool = Arc::new(pool);
    let uses: Vec<_> = (0..8)
        .map(|_| {
            let (pool, key, target) = (pool.clone(), key.clone(), target.clone());
            tokio::spawn(async move { pool.session(&key, &target).await })
        })
        .collect();
    let mut sessions = Vec::new();
    for u in uses {
        sessions.push(u.await.expect("task").expect("session"));
    }
    assert!(sessions.iter().all(|s| Arc::ptr_eq(s, &sessions[0])));
    assert_eq!(
        lab.stats().mcp_initialize,
        1,
        "one initialize for eight first uses"
    );
    pool.ping(&key, &target, Duration::from_secs(5))
        .await
        .expect("ping on the shared session");
    assert_eq!(lab.stats().mcp_initialize, 1, "the probe reused it");
}
