//! The token path against a hostile authorization server: one that rotates refresh tokens and
//! treats reuse as theft (revoking the whole grant), and that answers oddly, slowly, or while
//! the database is locked. Each test is a way the grant used to be lost.

#[path = "support/cli.rs"]
mod cli;
mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::hostile::{Hostile, Reply, Request};
use support::{ACTOR, http, key, open_store};
use switchboard::auth::{AuthSpec, Broker};
use switchboard::domain::now_ms;
use switchboard::store::{LeaseOutcome, NewToken, Store};
use tokio::sync::Semaphore;

/// What the rotating server remembers: the one live refresh token, every refresh token it ever
/// saw presented, and whether it revoked the grant for a reuse.
#[derive(Default)]
struct Grant {
    live: String,
    presented: Vec<String>,
    revoked: bool,
}

/// A rotating authorization server: each refresh with the live refresh token issues `rt-N`;
/// a spent one revokes the grant. `answer(n, new_rt)` shapes the 2xx body of refresh `n`.
async fn rotating(
    answer: impl Fn(u32, &str) -> Reply + Send + Sync + 'static,
) -> (Hostile, Arc<Mutex<Grant>>) {
    let grant = Arc::new(Mutex::new(Grant {
        live: "rt-0".into(),
        ..Grant::default()
    }));
    let n = AtomicU32::new(0);
    let g = grant.clone();
    let peer = Hostile::start(move |req: &Request| {
        let presented = req.form("refresh_token").unwrap_or_default();
        let mut g = g.lock().unwrap();
        g.presented.push(presented.clone());
        if g.revoked || presented != g.live {
            g.revoked = true;
            return Reply::json(
                400,
                serde_json::json!({"error": "invalid_grant", "error_description": "reused"}),
            );
        }
        let n = n.fetch_add(1, Ordering::SeqCst) + 1;
        g.live = format!("rt-{n}");
        answer(n, &g.live)
    })
    .await;
    (peer, grant)
}

fn spec(token_url: String) -> AuthSpec {
    AuthSpec::OAuth(support::explicit_oauth(token_url))
}

fn first_grant() -> NewToken {
    support::grant("at-0", Some("rt-0"), 600_000)
}

async fn installed(b: &Broker, spec: &AuthSpec) {
    b.register(key("hostile"), spec.clone(), false)
        .await
        .expect("register");
    b.install(&key("hostile"), first_grant(), ACTOR)
        .await
        .expect("install");
}

#[tokio::test]
async fn a_rotated_refresh_token_in_an_odd_answer_is_kept() {
    let odd = [
        r#"{"access_token":"at","refresh_token":"RT","expires_in":"3600"}"#,
        r#"{"access_token":"at","refresh_token":"RT","expires_in":-1}"#,
        r#"{"access_token":"at","refresh_token":"RT","token_type":"bearer","scope":["read"]}"#,
        r#"{"access_token":"at","refresh_token":"RT","token_type":"bearer","expires_in":18446744073709551615}"#,
    ];
    let (peer, grant) = rotating(move |n, rt| {
        let body = odd[(n as usize - 1) % odd.len()].replace("RT", rt);
        Reply::text(200, "application/json", body)
    })
    .await;
    let (_tmp, dir) = support::data_dir();
    let store = open_store(&dir);
    let b = Broker::new(store.clone(), http());
    let spec = spec(peer.url("/token"));
    installed(&b, &spec).await;
    for round in 1..=odd.len() + 1 {
        let meta = b
            .refresh_now(&key("hostile"), ACTOR)
            .await
            .unwrap_or_else(|f| panic!("refresh {round} failed: {f}"));
        let exp = meta.expires_at.unwrap_or(now_ms());
        assert!(
            exp >= meta.issued_at.unwrap_or(0) && exp < now_ms() + 11 * 365 * 86_400_000,
            "refresh {round}: expiry {exp} is not a believable time"
        );
    }
    let (revoked, presented, live) = {
        let g = grant.lock().unwrap();
        (g.revoked, g.presented.clone(), g.live.clone())
    };
    assert!(!revoked, "a refresh token was spent twice: {presented:?}");
    let stored = store.load_token(&key("hostile")).await.unwrap().unwrap();
    assert_eq!(
        stored.refresh.map(|r| r.expose().to_string()),
        Some(live),
        "the store holds the live refresh token"
    );
}

#[tokio::test]
async fn a_save_that_fails_keeps_the_grant_and_lands_when_the_database_frees() {
    let (peer, grant) = rotating(|n, rt| {
        let body = serde_json::json!({"access_token": format!("at-{n}"), "token_type": "bearer", "refresh_token": rt, "expires_in": 600});
        Reply::After(Duration::from_millis(500), Box::new(Reply::json(200, body)))
    })
    .await;
    let (_tmp, dir) = support::data_dir();
    let store = open_store(&dir);
    let b = Broker::new(store.clone(), http());
    let spec = spec(peer.url("/token"));
    installed(&b, &spec).await;

    let refresh = {
        let b = b.clone();
        tokio::spawn(async move { b.refresh_now(&key("hostile"), ACTOR).await })
    };
    // While the request is at the server, another process locks the database for longer than
    // the store's 5 s busy timeout.
    peer.arrived("/token", Duration::from_secs(20)).await;
    let db = dir.join("switchboard.db");
    let locker = std::thread::spawn(move || {
        let c = rusqlite::Connection::open(db).unwrap();
        c.execute_batch("BEGIN EXCLUSIVE").unwrap();
        std::thread::sleep(Duration::from_secs(8));
        c.execute_batch("COMMIT").unwrap();
    });
    let meta = refresh
        .await
        .unwrap()
        .expect("the caller gets the new token although the store refused it for now");
    assert!(meta.expires_at.is_some());
    assert_eq!(support::token(&b, &key("hostile")).await, "at-1");
    locker.join().unwrap();

    // Once the database is free the retried save lands, with the rotated refresh token.
    let deadline = now_ms() + 20_000;
    loop {
        let stored = store.load_token(&key("hostile")).await.unwrap().unwrap();
        if stored.refresh.as_ref().map(|r| r.expose()) == Some("rt-1") {
            break;
        }
        assert!(now_ms() < deadline, "the new grant never reached the store");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And the next refresh spends rt-1, not the dead rt-0.
    b.refresh_now(&key("hostile"), ACTOR)
        .await
        .expect("the grant is alive");
    let g = grant.lock().unwrap();
    assert!(!g.revoked, "presented: {:?}", g.presented);
    assert_eq!(g.presented, ["rt-0", "rt-1"]);
}

#[tokio::test]
async fn a_slow_refresh_keeps_its_lease_and_nobody_spends_the_token_twice() {
    let (peer, grant) = rotating(|n, rt| {
        let body = serde_json::json!({"access_token": format!("at-{n}"), "token_type": "bearer", "refresh_token": rt, "expires_in": 600});
        Reply::After(Duration::from_secs(4), Box::new(Reply::json(200, body)))
    })
    .await;
    let (_tmp, dir) = support::data_dir();
    let spec = spec(peer.url("/token"));
    // Two processes on one data directory, with leases much shorter than the request.
    let ttl = Duration::from_millis(1_200);
    let a = Broker::with_lease_ttl(open_store(&dir), http(), ttl);
    let b = Broker::with_lease_ttl(open_store(&dir), http(), ttl);
    installed(&a, &spec).await;
    b.register(key("hostile"), spec.clone(), false)
        .await
        .unwrap();

    let first = {
        let a = a.clone();
        tokio::spawn(async move { a.refresh_now(&key("hostile"), ACTOR).await })
    };
    peer.arrived("/token", Duration::from_secs(20)).await;
    // Well past the lease's first expiry, the other process wants a new token too.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let second = b.refresh_now(&key("hostile"), ACTOR).await;
    first.await.unwrap().expect("the first refresh succeeds");
    second.expect("the second process adopts the first one's token");
    assert_eq!(support::token(&b, &key("hostile")).await, "at-1");
    let g = grant.lock().unwrap();
    assert!(!g.revoked, "presented: {:?}", g.presented);
    assert_eq!(g.presented, ["rt-0"], "one refresh for both processes");
}

/// What another process does while this one is paused with its request out: takes the lapsed
/// refresh lease under a newer tenure and saves a new grant under it.
async fn take_over(store: &Store, access: &str, refresh: &str) {
    let name = "refresh:hostile/default";
    let LeaseOutcome::HeldBy { holder, .. } =
        store.acquire_lease(name, "other", 60_000).await.unwrap()
    else {
        panic!("the paused process holds the lease");
    };
    store.renew_lease(name, &holder, -1).await.unwrap();
    let LeaseOutcome::Acquired { fence } =
        store.acquire_lease(name, "other", 60_000).await.unwrap()
    else {
        panic!("a lapsed lease is free to take");
    };
    store
        .save_token_fenced(
            &key("hostile"),
            support::grant(access, Some(refresh), 600_000),
            fence,
        )
        .await
        .unwrap();
    store.release_lease(name, "other").await.unwrap();
}

/// A process paused with its request out loses its lease, and another saves a newer grant,
/// which this process's follower adopts as soon as it commits (on PostgreSQL, `LISTEN` hears it
/// first when the process resumes) before the request comes back. Whatever the answer then, a
/// token the fence refuses or `invalid_grant` for the refresh token the other spent, the grant
/// that stands is the outcome: the caller gets it, no failure or backoff is recorded, nothing
/// is marked for re-auth. (Only a reload that found the newer grant itself counted before.)
#[tokio::test]
async fn a_superseded_refresh_hands_out_the_grant_that_stands_though_already_adopted() {
    let answers = [
        (
            "a token whose save is refused",
            Reply::json(
                200,
                serde_json::json!({"access_token": "at-late", "token_type": "bearer", "refresh_token": "rt-late", "expires_in": 600}),
            ),
        ),
        (
            "invalid_grant",
            Reply::json(
                400,
                serde_json::json!({"error": "invalid_grant", "error_description": "already used"}),
            ),
        ),
    ];
    for (what, answer) in answers {
        let gate = Arc::new(Semaphore::new(0));
        let peer = {
            let gate = gate.clone();
            Hostile::start(move |_: &Request| Reply::Gated(gate.clone(), Box::new(answer.clone())))
                .await
        };
        let (_tmp, dir) = support::data_dir();
        let store = open_store(&dir);
        // Longer than the test: only the takeover ends this tenure.
        let a = Broker::with_lease_ttl(store.clone(), http(), Duration::from_secs(60));
        installed(&a, &spec(peer.url("/token"))).await;
        let refresh = {
            let a = a.clone();
            tokio::spawn(async move { a.refresh_now(&key("hostile"), ACTOR).await })
        };
        peer.arrived("/token", Duration::from_secs(20)).await;
        take_over(&store, "at-other", "rt-other").await;
        assert!(
            a.sync_from_store(&key("hostile")).await.expect("sync"),
            "{what}: the follower adopts the newer grant"
        );
        gate.add_permits(1);
        refresh
            .await
            .unwrap()
            .unwrap_or_else(|f| panic!("{what}: the refresh failed: {f}"));
        assert_eq!(
            support::token(&a, &key("hostile")).await,
            "at-other",
            "{what}"
        );
        assert!(!a.needs_reauth(&key("hostile")), "{what}");
        assert_eq!(
            (
                a.failures_in_row(&key("hostile")),
                a.retry_at(&key("hostile"))
            ),
            (0, None),
            "{what}: backing off after a refresh that another one's grant answered"
        );
        let stored = store.load_token(&key("hostile")).await.unwrap().unwrap();
        assert_eq!(
            (stored.access.expose(), stored.generation),
            ("at-other", 2),
            "{what}"
        );
        let marked = store.connections().await.unwrap();
        assert!(marked.iter().all(|c| !c.needs_reauth), "{what}: {marked:?}");
    }
}

/// Lifetimes that mean "already expired" made the scheduler refresh in a loop. Through the real
/// daemon: a client-credentials connection per odd lifetime, counted at the server.
#[test]
fn tokens_that_expire_at_once_do_not_make_a_refresh_storm() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let jwt_past = {
        use base64::Engine as _;
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":1}"#);
        format!("e30.{claims}.sig")
    };
    let peer = rt.block_on(Hostile::start(move |req: &Request| {
        let body = match req.path() {
            "/zero" => {
                serde_json::json!({"access_token": "a", "token_type": "bearer", "expires_in": 0})
            }
            "/tiny" => {
                serde_json::json!({"access_token": "a", "token_type": "bearer", "expires_in": 1})
            }
            "/jwt" => serde_json::json!({"access_token": jwt_past, "token_type": "bearer"}),
            _ => return Reply::json(200, serde_json::json!({})),
        };
        Reply::json(200, body)
    }));
    let mut config = String::new();
    for path in ["zero", "tiny", "jwt"] {
        config.push_str(&format!(
            r#"[[connectors]]
id = "{path}"
kind = "rest"
[connectors.rest]
base_url = "{base}"
health_path = "/me"
[connectors.auth]
type = "client-credentials"
token_url = "{base}/{path}"
client_id = "svc"
client_secret = "s3cret"
[connectors.schedule]
probe = "1h"
"#,
            base = peer.url("")
        ));
    }
    let session = cli::Session::new(&config);
    let (mut cmd, _out, err) = session.command(&["daemon"]);
    let mut child = cmd.spawn().expect("daemon starts");
    std::thread::sleep(Duration::from_secs(5));
    let _ = child.kill();
    let _ = child.wait();
    for path in ["/zero", "/tiny", "/jwt"] {
        let n = peer.requests_to(path).len();
        assert!(
            (1..=8).contains(&n),
            "{path}: {n} token requests in 5 s (at most one a second expected); daemon log:\n{}",
            std::fs::read_to_string(&err).unwrap_or_default()
        );
    }
}
