//! switchboard against a real, certified OpenID Connect / OAuth 2 authorization server:
//! `oidc-provider` (npm, tests/peers/oidc/server.mjs) on loopback, with 4-6 s access tokens and
//! refresh token rotation whose reuse detection revokes the whole grant, with no grace window.
//! The real binary authorizes through a scripted browser (tests/peers/oidc/browser.mjs as
//! `$BROWSER`); the library `Broker` is driven directly where a test needs many callers.
//!
//! The provider counts every token request and its outcome (`GET /__stats`), which is what these
//! tests assert on: how many token requests, whether any refresh failed, whether a used refresh
//! token was ever presented again.
//!
//! Nothing is skipped: without Node.js or the npm packages, every test fails and says to run
//! tests/run.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/oidc.rs"]
mod oidc;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use oidc::{
    Kill, OidcProvider, Session, Stats, assert_no_failed_refresh, authorize, code_spec, config_for,
    files_under, parse_json,
};
use switchboard::auth::broker::{EXPIRY_SKEW_MS, effective_margin};
use switchboard::auth::{AuthSpec, Broker, Credential};
use switchboard::domain::{Actor, ConnectionKey, now_ms};
use switchboard::store::{KeySource, Store, Vault};

const ACTOR: Actor = Actor::Cli;
/// Every store in a test uses this key, so two stores on one directory are two "processes".
const VAULT_KEY: [u8; 32] = [0x6b; 32];
/// Exit codes (README): ok, failed, a human is needed.
const EXIT_OK: i32 = 0;
const EXIT_FAILED: i32 = 1;
const EXIT_HUMAN: i32 = 3;

// ---------------------------------------------------------------------------------------------
// helpers for the library tests

fn key() -> ConnectionKey {
    ConnectionKey::new("oidc", "default")
}

fn open_store(dir: &Path) -> Store {
    Store::open_with_vault(dir, Vault::from_key(&VAULT_KEY, KeySource::Env)).expect("store opens")
}

async fn broker(store: &Store, spec: &AuthSpec) -> Arc<Broker> {
    let b = Broker::new(store.clone(), oidc::http());
    b.register(key(), spec.clone(), false)
        .await
        .expect("register");
    b
}

fn bearer(c: Credential) -> String {
    match c {
        Credential::Bearer(s) => s.expose().to_string(),
        Credential::None => panic!("expected a bearer token, got none"),
    }
}

async fn access_token(b: &Broker) -> String {
    bearer(b.access_token(&key(), ACTOR).await.expect("access_token"))
}

/// Sleeps until the cached token is inside the broker's refresh window (still valid).
async fn wait_until_refresh_due(b: &Broker) {
    let (meta, _) = b.meta(&key()).expect("a cached token");
    let exp = meta.expires_at.expect("oidc-provider's tokens expire");
    let due = exp - effective_margin(&meta, EXPIRY_SKEW_MS);
    let ms = due + 200 - now_ms();
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms as u64)).await;
    }
    assert!(
        exp - now_ms() > 300,
        "the token must still be valid after waiting for its refresh window"
    );
}

/// No token the provider issued appears in clear in the data directory (the vault key aside),
/// the log, or any command's output.
fn assert_no_token_leaked(s: &Session, stats: &Stats) {
    let tokens = stats.issued_tokens();
    assert!(tokens.len() >= 2, "too few tokens to look for: {tokens:?}");
    let log = cli::log_text(&s.data_dir);
    assert!(
        log.lines().count() > 10,
        "the debug log is nearly empty, which would make this check vacuous: {log}"
    );
    let files = files_under(&s.data_dir);
    assert!(
        files
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "db")),
        "{files:?}"
    );
    for path in files {
        if path.file_name().is_some_and(|n| n == "vault.key") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read data file");
        for t in &tokens {
            assert!(
                !bytes.windows(t.len()).any(|w| w == t.as_bytes()),
                "{} contains a token the provider issued",
                path.display()
            );
        }
    }
    for run in &s.transcript {
        for t in &tokens {
            assert!(
                !run.stdout.contains(t.as_str()) && !run.stderr.contains(t.as_str()),
                "output leaks a token: {run}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the real binary

#[tokio::test]
async fn authorization_code_with_pkce_then_rotation_through_the_binary() {
    let p = OidcProvider::start(6);
    let mut s = oidc::session(&config_for(&p));
    s.expect(&["config", "check"], EXIT_OK);

    // Discovery, loopback redirect on an ephemeral port, login and consent in the scripted
    // browser, code exchange with the PKCE verifier.
    let run = s.expect(&["auth", "oidc"], EXIT_OK);
    assert!(
        run.stdout.starts_with("authorized oidc: token expires in "),
        "{run}"
    );
    assert!(run.stdout.contains("with a refresh token"), "{run}");
    let stats = p.stats().await;
    assert_eq!(stats.ok("authorization_code"), 1, "{:?}", stats.0);

    // The access token works at the provider's userinfo endpoint.
    let run = s.expect(&["probe", "oidc"], EXIT_OK);
    assert!(run.stdout.starts_with("oidc: up via "), "{run}");

    // Six forced rotations: each presents the newest refresh token exactly once.
    let before = p.stats().await;
    for _ in 0..6 {
        let run = s.expect(&["refresh", "oidc"], EXIT_OK);
        assert!(
            run.stdout.starts_with("refreshed oidc: expires in "),
            "{run}"
        );
    }
    let after = p.stats().await;
    assert_eq!(
        after.ok("refresh_token") - before.ok("refresh_token"),
        6,
        "one token request per forced refresh"
    );
    assert_eq!(after.token_requests() - before.token_requests(), 6);
    assert_no_failed_refresh(&after);
    s.expect(&["probe", "oidc"], EXIT_OK);

    let run = s.expect(&["status", "--json"], EXIT_OK);
    let rows = parse_json(&run.stdout);
    let row = rows
        .as_array()
        .and_then(|r| r.iter().find(|r| r["connection"] == "oidc"))
        .unwrap_or_else(|| panic!("no oidc row: {rows}"))
        .clone();
    assert_eq!(row["health"], "up", "{row}");
    assert!(row["expires_at"].is_string(), "{row}");

    assert_no_token_leaked(&s, &p.stats().await);
}

#[tokio::test]
async fn client_credentials_through_the_binary() {
    let p = OidcProvider::start(6);
    let mut s = oidc::session(&config_for(&p));
    let run = s.expect(&["auth", "service"], EXIT_OK);
    assert!(run.stdout.starts_with("authorized service: "), "{run}");
    assert!(run.stdout.contains("without a refresh token"), "{run}");
    let run = s.expect(&["refresh", "service"], EXIT_OK);
    assert!(run.stdout.starts_with("refreshed service: "), "{run}");
    // A protected resource beside the provider accepts the client-credentials token.
    let run = s.expect(&["probe", "service"], EXIT_OK);
    assert!(run.stdout.starts_with("service: up via "), "{run}");
    let stats = p.stats().await;
    assert_eq!(stats.ok("client_credentials"), 2, "{:?}", stats.0);
    assert_no_failed_refresh(&stats);
    assert_no_token_leaked(&s, &stats);
}

#[tokio::test]
async fn device_code_through_the_binary() {
    // `switchboard auth oidc --device` prints the verification URL and the user code on stderr
    // and polls; the scripted browser confirms the code like a person on another device.
    let p = OidcProvider::start(6);
    let mut s = oidc::session(&config_for(&p));
    let (mut cmd, _out, err) = s.command(&["auth", "oidc", "--device"]);
    let child = cmd.spawn().expect("spawn auth --device");
    let mut child = oidc::KillOnDrop(child);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let code = loop {
        let text = std::fs::read_to_string(&err).unwrap_or_default();
        if let Some(code) = text.split_whitespace().find(|w| is_user_code(w)) {
            break code.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no user code printed: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let browser = oidc::scrubbed("node")
        .arg(oidc::peer_dir().join("browser.mjs"))
        .args(["--device", &format!("{}/device", p.issuer), &code])
        .status()
        .expect("run the scripted browser");
    assert!(browser.success(), "the browser could not confirm {code}");
    let status = loop {
        if let Some(s) = child.0.try_wait().expect("wait") {
            break s;
        }
        assert!(std::time::Instant::now() < deadline + Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(EXIT_OK));
    s.expect(&["refresh", "oidc"], EXIT_OK);
    let stats = p.stats().await;
    assert_eq!(
        stats.ok("urn:ietf:params:oauth:grant-type:device_code"),
        1,
        "{:?}",
        stats.0
    );
}

/// oidc-provider's user codes: `XXXX-XXXX` from a base-20 alphabet of consonants.
fn is_user_code(w: &str) -> bool {
    let w = w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-');
    w.len() == 9
        && w.char_indices().all(|(i, c)| {
            if i == 4 {
                c == '-'
            } else {
                c.is_ascii_uppercase()
            }
        })
}

#[tokio::test]
async fn a_revoked_grant_needs_reauth_after_exactly_one_token_request() {
    let p = OidcProvider::start(6);
    let mut s = oidc::session(&config_for(&p));
    s.expect(&["auth", "oidc"], EXIT_OK);
    s.expect(&["refresh", "oidc"], EXIT_OK);

    // The operator (or the user, or a security team) revokes the grant at the provider.
    let newest = p.stats().await.last_refresh_token();
    p.revoke_refresh_token(&newest).await;
    let before = p.stats().await;
    assert_eq!(before.grants_revoked(), 1, "{:?}", before.0);

    let run = s.expect(&["refresh", "oidc"], EXIT_HUMAN);
    assert!(run.stderr.contains("needs re-auth"), "{run}");
    assert!(run.stderr.contains("switchboard auth oidc"), "{run}");
    let after_first = p.stats().await;
    assert_eq!(
        after_first.token_requests() - before.token_requests(),
        1,
        "exactly one token request finds the grant gone"
    );
    assert_eq!(
        after_first.failed("refresh_token"),
        1,
        "{:?}",
        after_first.0
    );

    // From now on nothing reaches the provider until a human re-authorizes.
    for args in [
        &["refresh", "oidc"][..],
        &["probe", "oidc"],
        &["refresh", "oidc"],
    ] {
        let run = s.expect(args, EXIT_HUMAN);
        assert!(run.stderr.contains("needs re-auth"), "{run}");
    }
    let rows = parse_json(&s.expect(&["status", "--json"], EXIT_OK).stdout);
    assert!(
        rows.as_array().is_some_and(|r| r
            .iter()
            .any(|r| r["connection"] == "oidc" && r["health"] == "needs_reauth")),
        "{rows}"
    );
    assert_eq!(
        p.stats().await.token_requests(),
        after_first.token_requests(),
        "a connection that needs re-auth made token requests"
    );

    // A fresh authorization clears it.
    s.expect(&["auth", "oidc"], EXIT_OK);
    s.expect(&["refresh", "oidc"], EXIT_OK);
    s.expect(&["probe", "oidc"], EXIT_OK);
}

/// SIGKILL `switchboard refresh` at a random moment, 20 times, and after each kill check that
/// the connection still refreshes. With rotation and no grace window there is a window that no
/// client can close: the provider has consumed the old refresh token and sent the new one, and
/// the process dies before it has committed the new one. The next refresh then presents a used
/// token and the provider revokes the grant. This test measures how often a kill lands there
/// (printed; run with --nocapture) and asserts that nothing else ever goes wrong: every loss is
/// exactly that window (the provider rotated for the killed process, then detected the reuse),
/// the store never ends up unreadable or stuck, and `auth` always recovers.
///
/// Measured (RELIABILITY.md, "The kill -9 window"): 17 of 500 kills (3.4%) lost the grant, against
/// 21 of 500 (4.2%) for the code before the hardening work, side by side: within noise. The
/// window is the provider's (it consumes the refresh token when the request arrives and answers
/// 5-70 ms later); switchboard's share, answer to committed save, is 0.45 ms at the median
/// (`benches/kill_window.sh`). A killed holder's lease is taken over at once (same host, boot and
/// PID namespace), so a kill no longer stalls the next refresh.
#[tokio::test]
async fn kill_9_at_random_moments_during_refreshes() {
    // OIDC_KILL_RUNS=200 for a bigger sample when measuring; 20 in the suite.
    let kills: usize = std::env::var("OIDC_KILL_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let p = OidcProvider::start(6);
    let mut s = oidc::session(&config_for(&p));
    s.expect(&["auth", "oidc"], EXIT_OK);

    let mut lost = Vec::new();
    let mut rotated_by_killed = 0;
    let mut finished_before_kill = 0;
    let mut check_ms = Vec::new();
    for i in 0..kills {
        let delay = rand::random_range(0..=300u64);
        let before = p.stats().await;
        let spawned_at = now_ms();
        let code = s.run_killed_after(&["refresh", "oidc"], Duration::from_millis(delay));
        if let Some(code) = code {
            finished_before_kill += 1;
            assert_eq!(code, EXIT_OK, "{}", s.transcript.last().expect("a run"));
        }
        // A request already sent is answered even though its sender is gone.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let mid = p.stats().await;
        let rotated = mid.ok("refresh_token") - before.ok("refresh_token");
        assert!(rotated <= 1, "one process made {rotated} refreshes");
        if code.is_none() {
            rotated_by_killed += rotated;
        }

        // When the provider answered the killed process's refresh, in ms after its spawn.
        let answered_after = mid.0["outcomes"]
            .as_array()
            .and_then(|o| o.last())
            .filter(|_| rotated == 1)
            .and_then(|o| o["at"].as_i64())
            .map(|at| at - spawned_at);
        let check_started = std::time::Instant::now();
        let check = s.run(&["refresh", "oidc"]);
        check_ms.push(check_started.elapsed().as_millis() as u64);
        match check.code {
            EXIT_OK => {}
            EXIT_HUMAN => {
                assert!(check.stderr.contains("needs re-auth"), "{check}");
                let after = p.stats().await;
                // The only way to lose the grant: the killed process's rotation happened at the
                // provider, but its result never reached the store, so the check presented the
                // consumed token and oidc-provider revoked the grant for reuse.
                assert!(code.is_none(), "a finished refresh lost the grant: {check}");
                assert_eq!(
                    rotated, 1,
                    "lost without a rotation at the provider: {check}"
                );
                assert_eq!(
                    after.reuse_detected() - mid.reuse_detected(),
                    1,
                    "lost for another reason than reuse: {:?}",
                    after.failures()
                );
                lost.push((i, delay, answered_after));
                s.expect(&["auth", "oidc"], EXIT_OK);
            }
            _ => panic!("kill {i} after {delay} ms left the connection broken: {check}"),
        }
    }
    s.expect(&["refresh", "oidc"], EXIT_OK);
    s.expect(&["probe", "oidc"], EXIT_OK);
    let stats = p.stats().await;
    eprintln!(
        "kill -9 during refreshes: {kills} kills at 0-300 ms; {finished_before_kill} finished before the kill; \
         the provider rotated for {rotated_by_killed} killed processes; the grant was lost (rotated at the \
         provider, not committed, reuse detected) {} times: {lost:?} (kill index, kill delay ms, provider \
         answered at ms after spawn); provider: {} refreshes ok, {} failed, {} reuse detections; \
         the checking refreshes took {check_ms:?} ms",
        lost.len(),
        stats.ok("refresh_token"),
        stats.failed("refresh_token"),
        stats.reuse_detected()
    );
    // Every reuse the provider saw is one of the losses above, nothing more.
    assert_eq!(
        stats.reuse_detected(),
        lost.len() as u64,
        "{:?}",
        stats.failures()
    );
}

// ---------------------------------------------------------------------------------------------
// the library broker

/// A library broker over its own store (in the returned directory), authorized against `p`
/// through the scripted browser.
async fn authorized_broker(p: &OidcProvider) -> (tempfile::TempDir, Arc<Broker>) {
    let spec = code_spec(p);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_store(&dir.path().join("data"));
    let b = broker(&store, &spec).await;
    let token = authorize(&spec, &dir.path().join("browser.log")).await;
    b.install(&key(), token, ACTOR).await.expect("install");
    (dir, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callers_on_an_expiring_token_make_one_token_request() {
    let p = OidcProvider::start(6);
    let (_dir, b) = authorized_broker(&p).await;
    let first = access_token(&b).await;
    assert_eq!(p.userinfo_status(&first).await, 200);

    wait_until_refresh_due(&b).await;
    let before = p.stats().await;
    let calls = (0..200).map(|_| {
        let b = b.clone();
        tokio::spawn(async move { access_token(&b).await })
    });
    let tokens: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let after = p.stats().await;
    assert_eq!(
        after.token_requests() - before.token_requests(),
        1,
        "200 concurrent callers must share one refresh"
    );
    assert_eq!(after.ok("refresh_token") - before.ok("refresh_token"), 1);
    assert_no_failed_refresh(&after);
    let newest = tokens.last().expect("tokens").clone();
    assert!(
        tokens.iter().all(|t| *t == newest),
        "callers got different tokens"
    );
    assert_ne!(newest, first, "the token was not refreshed");
    assert_eq!(p.userinfo_status(&newest).await, 200);
}

/// Two brokers over two stores on one data directory: two switchboard processes. They refresh
/// concurrently, forced and on expiry, for several cycles; the lease and the generation check
/// must make every rotation happen once, so oidc-provider never sees a used refresh token.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_on_one_data_dir_never_present_a_used_refresh_token() {
    const FORCED_CYCLES: u64 = 6;
    const EXPIRY_CYCLES: u64 = 2;
    let p = OidcProvider::start(4);
    let spec = code_spec(&p);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (store_a, store_b) = (open_store(&data), open_store(&data));
    let a = broker(&store_a, &spec).await;
    let b = broker(&store_b, &spec).await;
    let token = authorize(&spec, &dir.path().join("browser.log")).await;
    a.install(&key(), token, ACTOR).await.expect("install");
    assert!(
        b.sync_from_store(&key()).await.expect("sync"),
        "b adopts a's token"
    );
    let start = p.stats().await;

    let k = key();
    for cycle in 0..FORCED_CYCLES {
        // Both "processes" force a refresh at once, plus hot-path callers on each.
        let (ra, rb, ta, tb) = tokio::join!(
            a.refresh_now(&k, ACTOR),
            b.refresh_now(&k, ACTOR),
            access_token(&a),
            access_token(&b),
        );
        ra.unwrap_or_else(|f| panic!("cycle {cycle}, a: {f}"));
        rb.unwrap_or_else(|f| panic!("cycle {cycle}, b: {f}"));
        assert!(!ta.is_empty() && !tb.is_empty());
    }
    let forced = p.stats().await;
    assert_eq!(
        forced.ok("refresh_token") - start.ok("refresh_token"),
        FORCED_CYCLES,
        "one rotation per cycle, whichever process made it"
    );
    assert_no_failed_refresh(&forced);

    for _ in 0..EXPIRY_CYCLES {
        a.sync_from_store(&key()).await.expect("sync a");
        b.sync_from_store(&key()).await.expect("sync b");
        wait_until_refresh_due(&a).await;
        let calls = (0..40).map(|i| {
            let x = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { access_token(&x).await })
        });
        for t in futures::future::join_all(calls).await {
            assert_eq!(p.userinfo_status(&t.expect("task")).await, 200);
        }
    }
    let end = p.stats().await;
    assert_eq!(
        end.ok("refresh_token") - forced.ok("refresh_token"),
        EXPIRY_CYCLES,
        "one rotation per expiry, across both processes"
    );
    assert_no_failed_refresh(&end);
    assert!(!a.needs_reauth(&key()) && !b.needs_reauth(&key()));
}

/// The provider's token endpoint answers 503 for a while: the broker backs off, keeps handing
/// out the still-valid token, keeps the refresh token, and recovers once the provider is back.
/// The binary reports the outage as a plain failure (exit 1), not as needs re-auth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_outage_backs_off_keeps_the_token_and_recovers() {
    let p = OidcProvider::start(10);
    let (_dir, b) = authorized_broker(&p).await;
    let first = access_token(&b).await;
    let (_, generation) = b.meta(&key()).expect("meta");

    p.pause(true).await;
    wait_until_refresh_due(&b).await;
    // Inside the refresh window the refresh fails (503); callers still get the valid token.
    assert_eq!(access_token(&b).await, first);
    let retry_at = b.retry_at(&key()).expect("a backoff after the 503");
    assert!(retry_at > now_ms(), "backoff in the future");
    let paused = p.stats().await;
    assert_eq!(paused.paused_rejections(), 1, "{:?}", paused.0);
    // While backing off, callers get the old token without asking the provider again.
    for _ in 0..20 {
        if now_ms() >= retry_at - 100 {
            break;
        }
        assert_eq!(access_token(&b).await, first);
    }
    let forced = b.refresh_now(&key(), ACTOR).await;
    assert!(forced.is_err(), "a forced refresh during the outage fails");
    assert!(!b.needs_reauth(&key()), "an outage is not a dead grant");
    assert_eq!(b.meta(&key()).expect("meta").1, generation, "token kept");

    p.pause(false).await;
    // Once the backoff is over the next caller refreshes with the refresh token it kept.
    let deadline = now_ms() + 15_000;
    let fresh = loop {
        // Past the token's expiry and still backing off, a caller gets the outage's error.
        if let Ok(c) = b.access_token(&key(), ACTOR).await
            && bearer(c.clone()) != first
        {
            break bearer(c);
        }
        assert!(
            now_ms() < deadline,
            "no recovery within 15 s of the provider's return"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(p.userinfo_status(&fresh).await, 200);
    let stats = p.stats().await;
    assert_eq!(stats.ok("refresh_token"), 1, "{:?}", stats.0);
    assert_no_failed_refresh(&stats);

    // The same through the binary: exit 1 during the outage, the grant intact afterwards.
    let mut s = oidc::session(&config_for(&p));
    s.expect(&["auth", "oidc"], EXIT_OK);
    p.pause(true).await;
    let run = s.expect(&["refresh", "oidc"], EXIT_FAILED);
    assert!(run.stderr.contains("503"), "{run}");
    assert!(!run.stderr.contains("needs re-auth"), "{run}");
    p.pause(false).await;
    s.expect(&["refresh", "oidc"], EXIT_OK);
    s.expect(&["probe", "oidc"], EXIT_OK);
    assert_no_failed_refresh(&p.stats().await);
}
