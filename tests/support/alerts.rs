//! Alert receivers for the tests that drive the real binary: a webhook receiver written the way
//! the README tells one to write it (verify the signature over `t` and the body, refuse a stale
//! `t`, act on each dedup key once), plus the outbox as the store holds it.

// Shared by several test binaries; each uses a subset, so unused items are expected.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::hmac;
use serde_json::Value;

use super::support::hostile::{Hostile, Reply, Request};

/// How far a receiver lets `t` stray from its clock.
pub const TOLERANCE_SECS: i64 = 300;

/// What a webhook receiver took, refused, and dropped as already seen.
#[derive(Default)]
pub struct Received {
    pub processed: Vec<Value>,
    pub seen: HashSet<String>,
    pub duplicates: usize,
    pub refused: Vec<String>,
}

pub type Shared = Arc<Mutex<Received>>;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The receiver's check, written from the documented scheme (not switchboard's code):
/// `Switchboard-Signature: t=<secs>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn verify(header: &str, secret: &str, body: &[u8]) -> Result<(), String> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = Some(v.to_owned()),
            _ => {}
        }
    }
    let (t, v1) = t.zip(v1).ok_or("malformed signature header")?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    if hex(hmac::sign(&key, &signed).as_ref()) != v1 {
        return Err("bad signature".into());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if (now - t).abs() > TOLERANCE_SECS {
        return Err("stale timestamp".into());
    }
    Ok(())
}

/// A webhook receiver's script: 401 for a bad or stale signature, 200 for a new dedup key
/// (processed) and 200 `{"duplicate": true}` for one already seen (a retry or a replay).
pub fn webhook(secret: &'static str, state: Shared) -> impl Fn(&Request) -> Reply + Send + Sync {
    move |req| {
        let checked = req
            .header("switchboard-signature")
            .ok_or_else(|| "no signature".to_string())
            .and_then(|h| verify(h, secret, &req.body));
        let Ok(mut s) = state.lock() else {
            return Reply::text(500, "text/plain", "poisoned");
        };
        if let Err(why) = checked {
            s.refused.push(why.clone());
            return Reply::text(401, "text/plain", why);
        }
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let key = body["dedup_key"].as_str().unwrap_or_default().to_owned();
        if req.header("switchboard-dedup-key") != Some(key.as_str()) {
            s.refused
                .push(format!("dedup header differs from body: {key}"));
            return Reply::text(400, "text/plain", "dedup key mismatch");
        }
        if s.seen.insert(key) {
            s.processed.push(body);
            Reply::json(200, serde_json::json!({"ok": true}))
        } else {
            s.duplicates += 1;
            Reply::json(200, serde_json::json!({"duplicate": true}))
        }
    }
}

/// The outbox rows: (dedup_key, state, attempts), oldest first.
pub fn outbox(data: &Path) -> Vec<(String, String, i64)> {
    let Ok(db) = rusqlite::Connection::open(data.join("switchboard.db")) else {
        return Vec::new();
    };
    let Ok(mut st) = db.prepare("SELECT dedup_key, state, attempts FROM alert_outbox ORDER BY id")
    else {
        return Vec::new();
    };
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

/// Polls `check` every 100 ms; panics with `what` after `guard` (a hang guard, not a speed
/// assertion).
pub async fn until(what: &str, guard: Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + guard;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Like `until`, and on a timeout says what the daemon's data directory shows: the outbox and
/// the end of its log.
pub async fn until_in(data: &Path, what: &str, guard: Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + guard;
    while !check() {
        if tokio::time::Instant::now() >= deadline {
            let log = std::fs::read_to_string(data.join("switchboard.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            // The commands' stderr files sit beside the data directory (cli::Session).
            let mut stderr = String::new();
            if let Some(dir) = data.parent()
                && let Ok(entries) = std::fs::read_dir(dir)
            {
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.ends_with(".err") {
                        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                        let last: Vec<&str> = text.lines().rev().take(5).collect();
                        stderr.push_str(&format!("--- {name}\n{}\n", last.join("\n")));
                    }
                }
            }
            panic!(
                "timed out waiting: {what}\noutbox: {:?}\nstderr:\n{stderr}\nlog (newest first):\n{}",
                outbox(data),
                tail.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A loopback port with nothing listening on it (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub fn events(state: &Shared, event: &str) -> Vec<Value> {
    state
        .lock()
        .map(|s| {
            s.processed
                .iter()
                .filter(|b| b["event"] == event)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Sends a captured webhook request again, with `sig` as its signature: what an attacker who
/// saw one could do.
pub async fn replay(hook: &Hostile, first: &Request, sig: String) -> (u16, String) {
    let mut req = super::support::http()
        .post(hook.url("/in"))
        .body(first.body.clone());
    for name in ["content-type", "switchboard-dedup-key", "switchboard-event"] {
        if let Some(v) = first.header(name) {
            req = req.header(name, v);
        }
    }
    let resp = req
        .header("switchboard-signature", sig)
        .send()
        .await
        .expect("replay");
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
    )
}
