//! A stale save through the real daemon (issue 14): a daemon stopped past its refresh lease
//! with a token answer in its socket, another process refreshing meanwhile, the daemon resumed
//! and its save refused by its fence; against a token server written here, one PostgreSQL.

#[path = "support/cli.rs"]
mod cli;
#[allow(dead_code)]
#[path = "support/daemons.rs"]
mod daemons;
// Only its gated reply and request log are used here.
#[allow(dead_code)]
#[path = "support/hostile.rs"]
mod hostile;
#[path = "support/oidc.rs"]
mod oidc;
#[path = "support/postgres.rs"]
mod postgres;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use daemons::{Daemon, command, vault, wait_for};
use hostile::{Hostile, Reply, Request};
use oidc::files_under;
use postgres::Postgres;
use switchboard::domain::ConnectionKey;
use switchboard::store::pg::PgStore;
use tokio::sync::Semaphore;

// ---------------------------------------------------------------------------------------------
// a stale save, through the daemon

/// The token server's answers: request `n` (from 1) gets these.
fn access(n: usize) -> String {
    format!("fence-at-{n}")
}

fn refresh_token(n: usize) -> String {
    format!("fence-rt-{n}")
}

/// Short enough that a stop past it ends well inside the token request's 20 s timeout.
const STALE_LEASE_SECS: u64 = 6;

fn stale_save_config(base: &str) -> String {
    format!(
        r#"[store]
refresh_lease = "{STALE_LEASE_SECS}s"

[[connectors]]
id = "fenced"
kind = "rest"
[connectors.rest]
base_url = "{base}"
health_path = "/me"
[connectors.auth]
type = "oauth2"
authorize_url = "{base}/authorize"
token_url = "{base}/token"
client_id = "fence-test"
scopes = ["read"]
[connectors.schedule]
probe = "1s"
"#
    )
}

/// Every thread of `pid` is stopped: a signal is delivered after `kill` returns, and until then
/// the process could still read its socket.
fn wait_stopped(pid: i32) {
    wait_for("the daemon to stop", Duration::from_secs(10), || {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return false;
        };
        tasks.flatten().all(|t| {
            std::fs::read_to_string(t.path().join("stat"))
                .ok()
                .and_then(|s| {
                    let (_, after) = s.rsplit_once(')')?;
                    after.trim_start().chars().next()
                })
                .is_some_and(|state| state == 'T')
        })
    });
}

/// The bearer tokens on the probe requests, oldest first.
fn probe_bearers(peer: &Hostile) -> Vec<String> {
    peer.requests_to("/me")
        .iter()
        .map(|r| {
            r.header("authorization")
                .unwrap_or_default()
                .trim_start_matches("Bearer ")
                .to_string()
        })
        .collect()
}

/// Issue 14's stale save, through the real daemon. Daemon A's refresh request reaches the token
/// server, which holds the answer until A is stopped (SIGSTOP), then writes it into A's
/// socket. A stays stopped past its refresh lease; a one-shot `refresh` from another data
/// directory takes the lapsed lease under a newer tenure, finds the generation A never
/// advanced, spends the same refresh token and saves. A resumes, reads its answer and tries to
/// save it: the fence refuses it, the newer token stands, and A hands out the newer token.
///
/// Deterministic because of the short lease (`[store] refresh_lease`): with the default 30 s, A
/// would have to stay stopped past 30 s, beyond its request's own 20 s timeout (which runs from
/// the send, and on through the stop), and would wake to a timeout instead of an answer. Here
/// the stop is the 6 s lease, 2 s of margin and the one-shot's run, about 8 s: when A resumes,
/// its request's timer has not run out and the answer is already in its socket buffer, so the
/// read completes with the answer. (tokio's timeout also polls the request before its timer,
/// but what this rests on is the margin, not that order.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_daemons_stale_save_is_refused_by_its_fence() {
    let pg = Postgres::start();
    let url = pg.database("stale_save");
    let gate = Arc::new(Semaphore::new(0));
    let refreshes = Arc::new(AtomicUsize::new(0));
    let peer = {
        let (gate, refreshes) = (gate.clone(), refreshes.clone());
        Hostile::start(move |req: &Request| match req.path() {
            "/token" if req.form("grant_type").as_deref() == Some("refresh_token") => {
                let n = refreshes.fetch_add(1, Ordering::SeqCst) + 1;
                let answer = Reply::json(
                    200,
                    serde_json::json!({
                        "access_token": access(n),
                        "token_type": "Bearer",
                        "refresh_token": refresh_token(n),
                        "expires_in": 600,
                    }),
                )
                .with_header("connection", "close");
                if n == 1 {
                    Reply::Gated(gate.clone(), Box::new(answer))
                } else {
                    answer
                }
            }
            "/me" => Reply::json(200, serde_json::json!({"ok": true})),
            _ => Reply::json(400, serde_json::json!({"error": "invalid_request"})),
        })
        .await
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, stale_save_config(&peer.url(""))).expect("config");

    // A grant that has lived most of its life: due for a refresh at once, still valid for a
    // minute, so probes carry it meanwhile.
    let key = ConnectionKey::new("fenced", "default");
    let db = PgStore::connect(&url, vault()).await.expect("the database");
    let now = switchboard::domain::now_ms();
    let seeded = db
        .save_token(
            &key,
            switchboard::store::NewToken {
                access: switchboard::secret::Secret::from(access(0)),
                refresh: Some(switchboard::secret::Secret::from(refresh_token(0))),
                expires_at: Some(now + 60_000),
                issued_at: now - 600_000,
                scopes: vec!["read".into()],
            },
        )
        .await
        .expect("seed");
    assert_eq!(seeded.generation, 1);

    let mut a = Daemon::start(&config, dir.path().join("a"), &url);
    peer.arrived("/token", Duration::from_secs(60)).await;
    a.signal(libc::SIGSTOP);
    wait_stopped(a.pid());
    let stopped = Instant::now();
    gate.add_permits(1);

    // Past A's lease (renewed at most a third of it before the stop), then another process.
    tokio::time::sleep(Duration::from_secs(STALE_LEASE_SECS + 2)).await;
    let run = command(&dir.path().join("b"), &config, &url, &["refresh", "fenced"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.starts_with("refreshed fenced"), "{run}");
    let stored = db.load_token(&key).await.expect("read").expect("a token");
    assert_eq!(
        (stored.access.expose(), stored.generation),
        (access(2).as_str(), 2)
    );
    let stop = stopped.elapsed();
    a.signal(libc::SIGCONT);

    // Its save, refused or (were the fence not checked) landed.
    let refused = format!("the new token of {key} was not saved");
    let saved = format!("{key}: token answer after");
    wait_for(
        "the resumed daemon to act on its answer",
        Duration::from_secs(20),
        || {
            let log = a.log();
            log.contains(&refused) || log.contains(&saved)
        },
    );
    // Time to act on the refusal: a save written over the newer one, a second request, a
    // retry would all land by now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stored = db.load_token(&key).await.expect("read").expect("a token");
    assert_eq!(
        (stored.access.expose(), stored.generation),
        (access(2).as_str(), 2),
        "the newer token stands; daemon log:\n{}",
        a.log()
    );
    assert!(a.log().contains(&refused), "{}", a.log());
    let presented: Vec<String> = peer
        .requests_to("/token")
        .iter()
        .map(|r| r.form("refresh_token").unwrap_or_default())
        .collect();
    // The one-shot spent the refresh token A had spent: A never saved its answer, so nothing
    // newer existed. A made no second request after the refusal.
    assert_eq!(presented, [refresh_token(0), refresh_token(0)]);

    // A hands out the stored token now: its probes carry it, never the one it was refused.
    let since = peer.requests_to("/me").len();
    wait_for("three more probes", Duration::from_secs(20), || {
        peer.requests_to("/me").len() >= since + 3
    });
    let bearers = probe_bearers(&peer);
    assert!(
        bearers[since..].iter().all(|b| *b == access(2)),
        "probes after the refusal: {:?}; daemon log:\n{}",
        &bearers[since..],
        a.log()
    );
    assert!(
        !bearers.contains(&access(1)),
        "the refused token was used: {bearers:?}"
    );

    // The refusal answered the refresh with the grant that stands: not a failure to back off
    // from, and never a reason to ask for re-auth.
    let log = a.log();
    for wrong in ["panicked", "refresh failed", "needs re-auth"] {
        assert!(!log.contains(wrong), "{wrong}:\n{log}");
    }
    a.signal(libc::SIGTERM);
    let exit = a.child.take().expect("running").0.wait().expect("wait");
    assert!(exit.success(), "{exit:?}; daemon log:\n{log}");
    // Nothing the server issued is in clear in either data directory or the database.
    let mut places = vec![("pg_dump".to_string(), postgres::dump(&url))];
    for f in files_under(dir.path()).into_iter().filter(|f| *f != config) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned();
        places.push((f.display().to_string(), text));
    }
    for n in 0..=2 {
        for secret in [access(n), refresh_token(n)] {
            for (place, text) in &places {
                assert!(!text.contains(&secret), "{secret} in clear in {place}");
            }
        }
    }
    eprintln!(
        "stale save: A stopped for {} ms, its save refused, {} probes after",
        stop.as_millis(),
        bearers.len() - since
    );
}
