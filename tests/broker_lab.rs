//! The token broker against the real loopback lab: a real OAuth 2 authorization server with
//! rotation and reuse detection (no grace window), auth code + PKCE, client credentials, and
//! request counters. Each test has its own lab and its own store; tokens live 2-4 s so refresh
//! windows come quickly. Nothing here asserts wall-clock speed.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use switchboard::domain::{ErrorClass, now_ms};
use switchboard::lab::{DOOMED_CLIENT, PUBLIC_CLIENT};
use switchboard::store::{LeaseOutcome, NewToken};
use tokio::task::JoinSet;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_code_with_discovery_installs_a_working_token() {
    let lab = lab(4).await;
    let (_tmp, data) = data_dir();
    let store = open_store(&data);
    let http = http();
    let key = key("lab");
    let spec = code_spec(&lab, PUBLIC_CLIENT);
    let b = broker(&store, &http, &key, &spec).await;

    let installed = authorized(&b, &http, &key, &spec).await;
    assert!(
        installed.refresh.is_some(),
        "offline_access yields a refresh token"
    );
    let stats = lab.stats();
    assert_eq!(grant_count(&stats, "authorization_code"), 1);
    assert_eq!(stats.token_requests, 1);

    // A fresh 4 s token is handed out as is: no refresh just because it is short-lived.
    let t = token(&b, &key).await;
    assert_eq!(t, installed.access.expose());
    assert_eq!(
        lab.stats().token_requests,
        1,
        "access_token made a token request"
    );
    assert_eq!(store.token_generation(&key).await.unwrap(), Some(1));

    let (status, body) = me(&http, &lab, &t).await;
    assert_eq!(status, 200);
    assert_eq!(body["client_id"], PUBLIC_CLIENT);
    assert_eq!(body["scope"], "api:read offline_access");
    // And the lab does reject junk, so the 200 above means something.
    assert_eq!(me(&http, &lab, "lab_at_nope").await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_refreshes_rotate_and_bump_the_generation() {
    let Authorized {
        lab,
        tmp: _tmp,
        store,
        http,
        key,
        broker: b,
        installed,
        ..
    } = authorized_connection(4, "lab", PUBLIC_CLIENT).await;

    let mut seen = HashSet::from([installed.access.expose().to_string()]);
    let mut generation = store.token_generation(&key).await.unwrap().unwrap();
    for i in 1..=5 {
        let meta = b.refresh_now(&key, ACTOR).await.expect("refresh_now");
        assert!(meta.has_refresh_token);
        let t = token(&b, &key).await;
        assert!(
            seen.insert(t.clone()),
            "refresh {i} returned a token seen before"
        );
        let stored = store.token_generation(&key).await.unwrap().unwrap();
        assert_eq!(
            stored,
            generation + 1,
            "refresh {i}: one store write per refresh"
        );
        assert_eq!(b.meta(&key).unwrap().1, stored);
        // What the store holds is what the broker hands out, rotated refresh token included.
        let loaded = store.load_token(&key).await.unwrap().unwrap();
        assert_eq!(loaded.access.expose(), t);
        generation = stored;
    }
    let stats = lab.stats();
    assert_eq!(stats.refresh_ok, 5);
    assert_eq!(stats.refresh_failed, 0);
    assert_eq!(stats.reuse_detected, 0);
    assert_eq!(grant_count(&stats, "refresh_token"), 5);
    let last = token(&b, &key).await;
    assert_eq!(me(&http, &lab, &last).await.0, 200);
    let events = store.events(Some(&key), Some("refresh"), 20).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.outcome == "ok").count(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_refresh() {
    let Authorized {
        lab,
        tmp: _tmp,
        store,
        http,
        key,
        broker: b,
        installed,
        ..
    } = authorized_connection(4, "lab", PUBLIC_CLIENT).await;

    wait_until_refresh_due(&b, &key).await;
    let before = lab.stats();
    let mut set = JoinSet::new();
    for _ in 0..200 {
        let (b, key) = (b.clone(), key.clone());
        set.spawn(async move { b.access_token(&key, ACTOR).await.map(bearer) });
    }
    let tokens: Vec<String> = set
        .join_all()
        .await
        .into_iter()
        .map(|r| r.expect("every caller gets a token"))
        .collect();
    let distinct: HashSet<&String> = tokens.iter().collect();
    assert_eq!(distinct.len(), 1, "all 200 callers get the same token");
    assert_ne!(
        tokens[0],
        installed.access.expose(),
        "the due token was replaced"
    );
    let after = lab.stats();
    assert_eq!(after.token_requests - before.token_requests, 1);
    assert_eq!(grant_count(&after, "refresh_token"), 1);
    assert_eq!(store.token_generation(&key).await.unwrap(), Some(2));
    assert_eq!(me(&http, &lab, &tokens[0]).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_store_never_reuse_a_refresh_token() {
    const TTL: u64 = 3;
    const CYCLES: u64 = 3;
    const CALLERS: usize = 4;
    let lab = lab(TTL).await;
    let (_tmp, data) = data_dir();
    let http = http();
    let key = key("lab");
    let spec = code_spec(&lab, PUBLIC_CLIENT);
    // Two stores on one directory with one key: what two switchboard processes look like.
    let store_a = open_store(&data);
    let store_b = open_store(&data);
    let a = broker(&store_a, &http, &key, &spec).await;
    authorized(&a, &http, &key, &spec).await;
    let b = broker(&store_b, &http, &key, &spec).await;
    assert_eq!(b.meta(&key).unwrap().1, 1, "process B loaded A's token");

    let started = Instant::now();
    let until = started + Duration::from_secs(TTL * CYCLES);
    let mut set = JoinSet::new();
    for broker in [a.clone(), b.clone()] {
        for _ in 0..CALLERS {
            let (broker, key, http) = (broker.clone(), key.clone(), http.clone());
            let rest = lab.rest_base.clone();
            set.spawn(async move {
                let mut calls = 0u32;
                while Instant::now() < until {
                    let t = bearer(
                        broker
                            .access_token(&key, ACTOR)
                            .await
                            .expect("access_token"),
                    );
                    // Whatever the broker hands out must work at the resource server.
                    let status = http
                        .get(format!("{rest}/me"))
                        .bearer_auth(&t)
                        .send()
                        .await
                        .expect("GET /me")
                        .status();
                    assert_eq!(status.as_u16(), 200, "a handed-out token was refused");
                    calls += 1;
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                calls
            });
        }
    }
    let calls: u32 = set.join_all().await.into_iter().sum();
    let elapsed = started.elapsed();
    eprintln!(
        "two processes: {} refreshes, {calls} calls in {elapsed:?}",
        lab.stats().refresh_ok
    );

    let stats = lab.stats();
    assert_eq!(
        stats.reuse_detected, 0,
        "a rotated refresh token was replayed"
    );
    assert_eq!(stats.refresh_failed, 0);
    assert_eq!(stats.grants_revoked, 0);
    // Each refresh buys half a lifetime before the next is due; more than that plus slack means
    // the processes refreshed on top of each other.
    let windows = elapsed.as_millis() as u64 / (TTL * 1000 / 2);
    assert!(
        stats.refresh_ok >= CYCLES && stats.refresh_ok <= windows + 2,
        "{} refreshes in {elapsed:?} ({calls} calls)",
        stats.refresh_ok
    );
    let generation = store_a.token_generation(&key).await.unwrap().unwrap();
    assert_eq!(
        generation,
        1 + stats.refresh_ok as i64,
        "one store write per refresh"
    );

    // Both end on the newest token: the one that did not refresh last picks it up from the store.
    a.sync_from_store(&key).await.unwrap();
    b.sync_from_store(&key).await.unwrap();
    assert_eq!(a.meta(&key).unwrap().1, generation);
    assert_eq!(b.meta(&key).unwrap().1, generation);
    let (ta, tb) = (token(&a, &key).await, token(&b, &key).await);
    assert_eq!(ta, tb);
    assert_eq!(me(&http, &lab, &ta).await.0, 200);
    // And the grant is still alive: one more rotation works.
    b.refresh_now(&key, ACTOR)
        .await
        .expect("refresh after the storm");
    assert_eq!(lab.stats().reuse_detected, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_grant_needs_reauth_and_stops_token_requests() {
    let Authorized {
        lab,
        tmp: _tmp,
        data,
        store,
        http,
        key,
        spec,
        broker: b,
        ..
    } = authorized_connection(4, "doomed", DOOMED_CLIENT).await;
    assert!(!b.needs_reauth(&key));

    assert_eq!(lab.revoke_client_grants(DOOMED_CLIENT), 1);
    let before = lab.stats();
    let err = b
        .refresh_now(&key, ACTOR)
        .await
        .expect_err("refresh of a revoked grant");
    assert_eq!(err.class, ErrorClass::Auth);
    assert!(err.message.contains("re-auth"), "{err}");
    assert!(b.needs_reauth(&key));
    let after = lab.stats();
    assert_eq!(
        after.token_requests - before.token_requests,
        1,
        "exactly one refresh request"
    );
    assert_eq!(after.refresh_failed, 1);
    let rows = store.connections().await.unwrap();
    let row = rows.iter().find(|c| c.key == key).expect("connection row");
    assert!(row.needs_reauth, "the store says needs_reauth");
    assert!(
        row.state_reason
            .as_deref()
            .unwrap_or("")
            .contains("invalid_grant")
    );
    let events = store
        .events(Some(&key), Some("reauth_needed"), 5)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);

    // From now on nothing asks the AS, however hard the callers push.
    for _ in 0..3 {
        assert_eq!(
            b.refresh_now(&key, ACTOR).await.unwrap_err().class,
            ErrorClass::Auth
        );
    }
    wait_until_refresh_due(&b, &key).await;
    for _ in 0..3 {
        let err = b
            .access_token(&key, ACTOR)
            .await
            .expect_err("a due token of a dead grant");
        assert_eq!(err.class, ErrorClass::Auth);
    }
    assert_eq!(lab.stats(), after, "no token request after needs_reauth");
    // A second process starting later takes the mark from the store and does not ask either.
    let store2 = open_store(&data);
    let marked = store2
        .connections()
        .await
        .unwrap()
        .iter()
        .any(|c| c.key == key && c.needs_reauth);
    let b2 = switchboard::auth::Broker::new(store2, http.clone());
    b2.register(key.clone(), spec.clone(), marked)
        .await
        .unwrap();
    assert!(b2.needs_reauth(&key));
    assert!(b2.refresh_now(&key, ACTOR).await.is_err());
    assert_eq!(lab.stats(), after, "no token request from a second process");

    // A fresh authorization clears it.
    let fresh = authorized(&b, &http, &key, &spec).await;
    assert!(!b.needs_reauth(&key));
    let rows = store.connections().await.unwrap();
    assert!(!rows.iter().find(|c| c.key == key).unwrap().needs_reauth);
    let t = token(&b, &key).await;
    assert_eq!(t, fresh.access.expose());
    assert_eq!(me(&http, &lab, &t).await.0, 200);
    b.refresh_now(&key, ACTOR)
        .await
        .expect("the new grant refreshes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_server_down_keeps_the_old_token_and_backs_off() {
    let Authorized {
        lab,
        tmp: _tmp,
        store,
        http,
        key,
        broker: b,
        installed,
        ..
    } = authorized_connection(4, "lab", PUBLIC_CLIENT).await;
    let old = installed.access.expose().to_string();

    lab.set_down(true);
    let err = b
        .refresh_now(&key, ACTOR)
        .await
        .expect_err("the AS is down");
    assert_eq!(err.class, ErrorClass::Server, "{err}");
    assert!(!b.needs_reauth(&key), "a 503 is not a dead grant");
    let retry_at = b.retry_at(&key).expect("retry_at is set");
    assert!(retry_at > now_ms(), "retry_at is in the future");
    assert_eq!(token(&b, &key).await, old, "the old token is kept");
    assert_eq!(store.token_generation(&key).await.unwrap(), Some(1));
    let events = store.events(Some(&key), Some("refresh"), 10).await.unwrap();
    let failed = events
        .iter()
        .find(|e| e.outcome == "failed")
        .expect("a failed refresh event");
    assert_eq!(failed.class, Some(ErrorClass::Server));

    // Inside the refresh window, after the backoff ran out, while the token still works: the
    // retry fails again, but callers still get the valid old token rather than an error.
    sleep_until(retry_at + 50).await;
    wait_until_refresh_due(&b, &key).await;
    let before = lab.stats().token_requests;
    assert_eq!(
        token(&b, &key).await,
        old,
        "a valid token is handed out while the AS is down"
    );
    assert_eq!(
        lab.stats().token_requests,
        before + 1,
        "the due refresh was retried"
    );
    assert!(
        b.retry_at(&key).is_some_and(|t| t > now_ms()),
        "backing off again"
    );
    assert_eq!(me(&http, &lab, &old).await.0, 200);

    lab.set_down(false);
    b.refresh_now(&key, ACTOR)
        .await
        .expect("refresh once the AS is back");
    assert!(b.retry_at(&key).is_none());
    let t = token(&b, &key).await;
    assert_ne!(t, old);
    assert_eq!(me(&http, &lab, &t).await.0, 200);
    let stats = lab.stats();
    assert_eq!((stats.refresh_ok, stats.reuse_detected), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_fetch_on_first_use() {
    let lab = lab(4).await;
    let (_tmp, data) = data_dir();
    let store = open_store(&data);
    let http = http();
    let key = key("service");
    let spec = service_spec(&lab);
    let b = broker(&store, &http, &key, &spec).await;
    assert!(b.meta(&key).is_none());

    let t = token(&b, &key).await;
    let (status, body) = me(&http, &lab, &t).await;
    assert_eq!(status, 200);
    assert_eq!(body["client_id"], switchboard::lab::SERVICE_CLIENT);
    assert_eq!(token(&b, &key).await, t, "cached while valid");
    assert_eq!(grant_count(&lab.stats(), "client_credentials"), 1);
    let (meta, generation) = b.meta(&key).unwrap();
    assert!(!meta.has_refresh_token);
    assert_eq!(generation, 1);

    b.refresh_now(&key, ACTOR)
        .await
        .expect("a new client-credentials token");
    let t2 = token(&b, &key).await;
    assert_ne!(t2, t);
    assert_eq!(grant_count(&lab.stats(), "client_credentials"), 2);
    assert_eq!(lab.stats().token_requests, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_disk_in_plaintext() {
    let lab = lab(4).await;
    let (tmp, data) = data_dir();
    let store = open_store(&data);
    let http = http();
    let (user, service) = (key("lab"), key("service"));
    let spec = code_spec(&lab, PUBLIC_CLIENT);
    let b = broker(&store, &http, &user, &spec).await;
    b.register(service.clone(), service_spec(&lab), false)
        .await
        .unwrap();
    authorized(&b, &http, &user, &spec).await;
    for _ in 0..3 {
        b.refresh_now(&user, ACTOR).await.unwrap();
    }
    token(&b, &service).await;
    b.refresh_now(&service, ACTOR).await.unwrap();
    lab.set_down(true);
    let _ = b.refresh_now(&user, ACTOR).await;
    lab.set_down(false);

    let secrets = lab.issued_secrets();
    // 1 + 3 access/refresh pairs, 2 client-credentials access tokens.
    assert_eq!(secrets.len(), 10);
    store
        .call(|c| Ok(c.pragma_update(None, "wal_checkpoint", "TRUNCATE")?))
        .await
        .unwrap();
    let mut files = 0;
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for s in &secrets {
            // The distinctive random part is enough; the prefix alone is not a secret.
            let needle = &s.as_bytes()[7..];
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds an issued secret in plaintext",
                path.display()
            );
        }
        assert_eq!(mode(&path), 0o600, "{} is not private", path.display());
        files += 1;
    }
    assert!(files >= 1);
    assert!(store.path().starts_with(&data));
    assert_eq!(mode(store.path()), 0o600);
    assert_eq!(mode(&data), 0o700);
    drop(tmp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_authorization_waits_for_a_refresh_in_flight_elsewhere() {
    let Authorized {
        lab: _lab,
        tmp: _tmp,
        store,
        http,
        key,
        spec,
        broker: b,
        ..
    } = authorized_connection(60, "lab", PUBLIC_CLIENT).await;
    // Another process (on another host, so it cannot be declared dead) is mid-refresh.
    let lease = format!("refresh:{}/{}", key.connector, key.account);
    let other = "4242:deadbeef@another-host";
    let LeaseOutcome::Acquired { fence } =
        store.acquire_lease(&lease, other, 30_000).await.unwrap()
    else {
        panic!("the lease is free");
    };
    let fresh = authorize(&http, &spec).await;
    let install = {
        let (b, key, fresh) = (b.clone(), key.clone(), fresh.clone());
        tokio::spawn(async move { b.install(&key, fresh, ACTOR).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !install.is_finished(),
        "the install must wait for the lease"
    );

    // The other process saves the refresh of the old grant, then lets go.
    let stale = NewToken {
        access: "stale-access".into(),
        refresh: Some("stale-refresh".into()),
        expires_at: Some(now_ms() + 60_000),
        issued_at: now_ms(),
        scopes: vec![],
    };
    store.save_token_fenced(&key, stale, fence).await.unwrap();
    store.release_lease(&lease, other).await.unwrap();

    tokio::time::timeout(Duration::from_secs(5), install)
        .await
        .expect("the install goes ahead once the lease is free")
        .unwrap()
        .expect("installed");
    let stored = store.load_token(&key).await.unwrap().unwrap();
    assert_eq!(
        stored.access.expose(),
        fresh.access.expose(),
        "the new authorization, not the old grant's refresh, is what remains"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_refreshes_behind_one_endpoint_is_limited() {
    let lab = lab(60).await;
    let (_tmp, data) = data_dir();
    let store = open_store(&data);
    let http = http();
    // Slow answers keep every request in flight long enough to overlap.
    let r = http
        .post(format!("{}/admin/answer-delay?ms=300", lab.issuer))
        .send()
        .await
        .expect("admin hook");
    assert!(r.status().is_success());
    let spec = service_spec(&lab);
    let b = switchboard::auth::Broker::new(store.clone(), http.clone());
    let keys: Vec<_> = (0..30).map(|i| key(&format!("svc{i}"))).collect();
    for k in &keys {
        b.register(k.clone(), spec.clone(), false)
            .await
            .expect("register");
    }
    let calls = keys.iter().map(|k| {
        let (b, k) = (b.clone(), k.clone());
        tokio::spawn(async move { b.access_token(&k, ACTOR).await })
    });
    for call in futures::future::join_all(calls).await {
        call.expect("task").expect("a token for every connection");
    }
    let stats = lab.stats();
    assert_eq!(
        grant_count(&stats, "client_credentials"),
        30,
        "one request each"
    );
    assert!(
        stats.max_concurrent_token_requests <= switchboard::auth::REFRESHES_PER_ENDPOINT as u64,
        "{} token requests at once",
        stats.max_concurrent_token_requests
    );
    assert!(stats.max_concurrent_token_requests > 1, "still concurrent");
}

/// A provider that answers every refresh 503 with `Retry-After: 1` (the lab's flaky mode) is
/// not asked once a second forever: the server's wait is a floor under the broker's own
/// backoff, which keeps doubling with the failures in a row.
#[tokio::test]
async fn a_short_retry_after_does_not_cut_the_backoff_short() {
    let a = support::authorized_connection(600, "api", switchboard::lab::PUBLIC_CLIENT).await;
    a.lab.set_refresh_failure_rate(1.0);
    let mut waits = Vec::new();
    for _ in 0..4 {
        // Past the one-request-per-second floor, so every attempt reaches the lab.
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert!(a.broker.refresh_now(&a.key, ACTOR).await.is_err());
        let retry_at = a.broker.retry_at(&a.key).expect("a retry is planned");
        waits.push(retry_at - switchboard::domain::now_ms());
    }
    assert_eq!(
        a.lab.set_refresh_failure_rate(0.0),
        4,
        "every attempt reached the lab"
    );
    // The fourth failure in a row waits at least half of 8 s (the jitter's floor), not 1 s.
    assert!(waits[3] >= 3_900, "waits after each failure: {waits:?}");
}
