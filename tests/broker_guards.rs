//! The broker's guards, each against a loopback peer and a real store: every test here fails if
//! its guard is deleted (the audit found each of these removable without a failing test).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use support::hostile::{Hostile, Reply, Request};
use support::{ACTOR, http, key, open_store};
use switchboard::auth::{AuthSpec, Broker, OAuthSpec};
use switchboard::domain::{ErrorClass, now_ms};
use switchboard::store::NewToken;

fn spec(token_url: String) -> AuthSpec {
    AuthSpec::OAuth(support::explicit_oauth(token_url))
}

/// A token issued ten minutes ago that has `lives_ms` left: with 10 s left it is inside its
/// refresh window (the last 30 s) but still valid.
fn grant(access: &str, refresh: Option<&str>, lives_ms: i64) -> NewToken {
    NewToken {
        issued_at: now_ms() - 600_000,
        ..support::grant(access, refresh, lives_ms)
    }
}

fn ok_token(n: u32) -> Reply {
    Reply::json(
        200,
        serde_json::json!({"access_token": format!("at-{n}"), "token_type": "bearer",
                           "refresh_token": format!("rt-{n}"), "expires_in": 600}),
    )
}

async fn ready(store: &switchboard::store::Store, spec: &AuthSpec, token: NewToken) -> Arc<Broker> {
    let b = Broker::new(store.clone(), http());
    b.register(key("g"), spec.clone(), false).await.unwrap();
    b.install(&key("g"), token, ACTOR).await.unwrap();
    b
}

/// `invalid_grant` right after another process rotated: the answer is in the store, not a
/// reason to call the grant dead.
#[tokio::test]
async fn invalid_grant_rereads_the_store_before_declaring_the_grant_dead() {
    let (_tmp, dir) = support::data_dir();
    let peer = Hostile::start(|_: &Request| {
        Reply::After(
            Duration::from_millis(700),
            Box::new(Reply::json(
                400,
                serde_json::json!({"error": "invalid_grant"}),
            )),
        )
    })
    .await;
    let spec = spec(peer.url("/token"));
    let store = open_store(&dir);
    let b = ready(&store, &spec, grant("at-0", Some("rt-0"), 600_000)).await;
    let refresh = {
        let b = b.clone();
        tokio::spawn(async move { b.refresh_now(&key("g"), ACTOR).await })
    };
    peer.arrived("/token", Duration::from_secs(20)).await;
    // Meanwhile another process (an older one that took no lease, or `auth`) stored a new grant.
    open_store(&dir)
        .save_token(&key("g"), grant("at-other", Some("rt-other"), 600_000))
        .await
        .unwrap();
    refresh
        .await
        .unwrap()
        .expect("the newer stored grant is adopted");
    assert!(!b.needs_reauth(&key("g")));
    assert_eq!(support::token(&b, &key("g")).await, "at-other");
}

/// A holder killed mid-refresh must not block everyone until its lease expires.
#[tokio::test]
async fn a_dead_holders_refresh_lease_is_taken_over_at_once() {
    let (_tmp, dir) = support::data_dir();
    let n = Arc::new(AtomicU32::new(0));
    let count = n.clone();
    let peer =
        Hostile::start(move |_: &Request| ok_token(count.fetch_add(1, Ordering::SeqCst) + 1)).await;
    let spec = spec(peer.url("/token"));
    let store = open_store(&dir);
    let b = ready(&store, &spec, grant("at-0", Some("rt-0"), 600_000)).await;
    // A holder id of this host and namespace whose process has exited.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let me = switchboard::store::lease::holder_id();
    let dead = format!("{pid}{}", &me[me.find(':').unwrap()..]);
    assert!(switchboard::store::lease::holder_is_dead(&dead));
    store
        .acquire_lease("refresh:g/default", &dead, 600_000)
        .await
        .unwrap();
    let started = Instant::now();
    b.refresh_now(&key("g"), ACTOR)
        .await
        .expect("refreshes after taking the lease over");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "waited for a dead holder's lease"
    );
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

/// A live holder that never finishes: the waiter gives up with a clear error instead of hanging,
/// and sends nothing.
#[tokio::test]
async fn waiting_for_a_live_holders_lease_ends_with_an_error() {
    let (_tmp, dir) = support::data_dir();
    let peer = Hostile::start(|_: &Request| ok_token(1)).await;
    let spec = spec(peer.url("/token"));
    let store = open_store(&dir);
    let b = Broker::with_lease_ttl(store.clone(), http(), Duration::from_millis(500));
    b.register(key("g"), spec.clone(), false).await.unwrap();
    b.install(&key("g"), grant("at-0", Some("rt-0"), 600_000), ACTOR)
        .await
        .unwrap();
    store
        .acquire_lease("refresh:g/default", "1:00000000@another-host#x", 600_000)
        .await
        .unwrap();
    let f = tokio::time::timeout(Duration::from_secs(30), b.refresh_now(&key("g"), ACTOR))
        .await
        .expect("the wait for the lease ends")
        .expect_err("no refresh while another process holds the lease");
    assert_eq!(f.class, ErrorClass::Timeout, "{f}");
    assert!(f.message.contains("holds the refresh lease"), "{f}");
    assert!(
        peer.requests().is_empty(),
        "sent a token request without the lease"
    );
}

/// A grant without a refresh token cannot be refreshed: the connection needs a human, and no
/// token request is made for it.
#[tokio::test]
async fn an_expired_token_without_a_refresh_token_needs_reauth() {
    let (_tmp, dir) = support::data_dir();
    let peer = Hostile::start(|_: &Request| ok_token(1)).await;
    let spec = spec(peer.url("/token"));
    let b = ready(&open_store(&dir), &spec, grant("at-0", None, -1_000)).await;
    let f = b
        .access_token(&key("g"), ACTOR)
        .await
        .expect_err("no token to hand out");
    assert!(f.message.contains("switchboard auth g"), "{f}");
    assert!(b.needs_reauth(&key("g")));
    assert!(peer.requests().is_empty());
}

/// Discovery fails (the issuer answers 500): a transient failure that backs off, and callers
/// keep getting the token in hand while it is valid.
#[tokio::test]
async fn discovery_failure_backs_off_and_keeps_the_valid_token() {
    let (_tmp, dir) = support::data_dir();
    let peer = Hostile::start(|_: &Request| Reply::text(500, "text/plain", "down")).await;
    let spec = AuthSpec::OAuth(OAuthSpec {
        endpoints: None,
        issuer: Some(peer.url("")),
        ..support::explicit_oauth("")
    });
    let store = open_store(&dir);
    let b = Broker::new(store.clone(), http());
    b.register(key("g"), spec.clone(), false).await.unwrap();
    // Inside the refresh window (less than the 30 s skew left) but still valid.
    store
        .save_token(&key("g"), grant("at-0", Some("rt-0"), 10_000))
        .await
        .unwrap();
    b.sync_from_store(&key("g")).await.unwrap();
    assert_eq!(support::token(&b, &key("g")).await, "at-0");
    assert!(
        b.retry_at(&key("g")).is_some_and(|t| t > now_ms()),
        "a failed discovery backs off"
    );
    assert!(!b.needs_reauth(&key("g")));
    let asked = peer.requests().len();
    assert_eq!(support::token(&b, &key("g")).await, "at-0");
    assert_eq!(
        peer.requests().len(),
        asked,
        "asked again while backing off"
    );
}

/// 429 with `Retry-After`: no token request before the server's time, however often callers ask.
#[tokio::test]
async fn retry_after_is_honoured() {
    let (_tmp, dir) = support::data_dir();
    let peer = Hostile::start(|_: &Request| {
        Reply::json(429, serde_json::json!({"error": "slow_down"}))
            .with_header("retry-after", "120")
    })
    .await;
    let spec = spec(peer.url("/token"));
    let b = ready(
        &open_store(&dir),
        &spec,
        grant("at-0", Some("rt-0"), 10_000),
    )
    .await;
    for _ in 0..20 {
        assert_eq!(support::token(&b, &key("g")).await, "at-0");
    }
    assert_eq!(peer.requests().len(), 1, "asked again before Retry-After");
    let retry = b.retry_at(&key("g")).expect("backing off");
    assert!(
        retry >= now_ms() + 100_000,
        "retry at {retry}, not 120 s from now"
    );
}

/// Never authorized is not the same as a lost grant: nothing to re-authorize, no re-auth mark,
/// no token request.
#[tokio::test]
async fn a_connection_never_authorized_is_not_marked_needs_reauth() {
    let (_tmp, dir) = support::data_dir();
    let peer = Hostile::start(|_: &Request| ok_token(1)).await;
    let b = Broker::new(open_store(&dir), http());
    b.register(key("g"), spec(peer.url("/token")), false)
        .await
        .unwrap();
    let f = b
        .access_token(&key("g"), ACTOR)
        .await
        .expect_err("no token yet");
    assert!(f.message.contains("not authorized yet"), "{f}");
    assert!(!b.needs_reauth(&key("g")));
    assert!(peer.requests().is_empty());
}
