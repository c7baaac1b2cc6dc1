//! The store's shared part (leases with fences, fenced token saves) against both backends: a
//! real SQLite file and a real PostgreSQL server (issue 14). The same assertions run on each;
//! then what only PostgreSQL has to prove: secrets sealed at rest, the vault key checked, the
//! password kept out of every message, concurrent migrations, leases on the database's clock
//! across processes, change notification and TLS. Sharing a fleet's partitions over it is in
//! `tests/shares.rs`; the feed between hosts in `tests/store_feed.rs`.

mod support;

use support::postgres::{PASSWORD, Postgres};
use switchboard::domain::{ConnectionKey, now_ms};
use switchboard::secret::Secret;
use switchboard::store::pg::PgStore;
use switchboard::store::{Grants, KeySource, LeaseOutcome, NewToken, Store, StoreError, Vault};

fn vault(byte: u8) -> Vault {
    Vault::from_key(&[byte; 32], KeySource::Env)
}

fn token(rt: &str) -> NewToken {
    NewToken {
        access: Secret::from(format!("access-for-{rt}")),
        refresh: Some(Secret::from(rt)),
        expires_at: Some(now_ms() + 300_000),
        issued_at: now_ms(),
        scopes: vec!["read".into(), "write".into()],
    }
}

async fn acquired(s: &Grants, name: &str, holder: &str, ttl: i64) -> i64 {
    match s.acquire_lease(name, holder, ttl).await.expect("acquire") {
        LeaseOutcome::Acquired { fence } => fence,
        other => panic!("{holder} expected {name}, got {other:?}"),
    }
}

/// Exclusion, expiry, release and tenure numbers.
async fn leases(s: &Grants) {
    assert_eq!(acquired(s, "refresh:x", "a", 60_000).await, 1);
    assert!(matches!(
        s.acquire_lease("refresh:x", "b", 60_000).await.unwrap(),
        LeaseOutcome::HeldBy { ref holder, .. } if holder == "a"
    ));
    assert!(s.lease_held("refresh:x", "a").await.unwrap());
    assert!(!s.lease_held("refresh:x", "b").await.unwrap());
    assert!(!s.renew_lease("refresh:x", "b", 60_000).await.unwrap());
    assert_eq!(
        acquired(s, "refresh:x", "a", 60_000).await,
        1,
        "a renewal is the same tenure"
    );
    s.release_lease("refresh:x", "a").await.unwrap();
    assert!(!s.lease_held("refresh:x", "a").await.unwrap());
    assert_eq!(acquired(s, "refresh:x", "b", -1).await, 2);
    assert!(
        !s.lease_held("refresh:x", "b").await.unwrap(),
        "expired at once"
    );
    assert_eq!(
        acquired(s, "refresh:x", "a", 60_000).await,
        3,
        "a lapsed lease is free"
    );
    assert!(
        !s.renew_lease("refresh:x", "b", 60_000).await.unwrap(),
        "taken over: the old holder cannot renew"
    );
    assert_eq!(
        s.steal_lease("refresh:x", "a", "c", 60_000).await.unwrap(),
        Some(4)
    );
    assert_eq!(
        s.steal_lease("refresh:x", "a", "d", 60_000).await.unwrap(),
        None
    );
    // Leases are independent of each other.
    assert_eq!(acquired(s, "refresh:y", "a", 60_000).await, 1);
    // Many renewed at once: only those still the holder's, none taken by it.
    s.renew_lease("refresh:y", "a", -1).await.unwrap();
    assert!(!s.lease_held("refresh:y", "a").await.unwrap());
    let names = ["refresh:x", "refresh:y", "refresh:none"].map(String::from);
    let mut renewed = s.renew_leases(&names, "a", 60_000).await.unwrap();
    renewed.sort();
    assert_eq!(
        renewed,
        ["refresh:y"],
        "x is c's now; a lapsed lease nobody took is still a's tenure; none does not exist"
    );
    assert!(s.lease_held("refresh:y", "a").await.unwrap());
    assert!(s.lease_held("refresh:x", "c").await.unwrap());
    assert_eq!(
        acquired(s, "refresh:y", "a", 60_000).await,
        1,
        "the same tenure"
    );
    assert!(s.renew_leases(&[], "a", 60_000).await.unwrap().is_empty());
}

/// A tenure that lapsed cannot write over a newer one's token, but may save when the newer
/// one saved nothing; generations only grow; secrets round-trip.
async fn fenced_saves(s: &Grants) {
    let key = ConnectionKey::new("jira", "ops");
    let first = s.save_token(&key, token("rt-1")).await.unwrap();
    assert_eq!(first.generation, 1);

    let me = acquired(s, "refresh:jira/ops", "me", 60_000).await;
    // Paused past the lease: it lapses, another process takes it, refreshes and saves.
    assert!(s.renew_lease("refresh:jira/ops", "me", -1).await.unwrap());
    let other = acquired(s, "refresh:jira/ops", "other", 60_000).await;
    assert!(other > me);
    let saved = s
        .save_token_fenced(&key, token("rt-other"), other)
        .await
        .unwrap();
    assert_eq!(saved.generation, 2);
    s.release_lease("refresh:jira/ops", "other").await.unwrap();

    match s.save_token_fenced(&key, token("rt-stale"), me).await {
        Err(StoreError::Fenced { fence, newer, .. }) => {
            assert_eq!((fence, newer), (me, other));
        }
        other => panic!("the stale save must be refused, got {other:?}"),
    }
    let stored = s.load_token(&key).await.unwrap().expect("stored");
    assert_eq!(stored.generation, 2);
    assert_eq!(
        stored.refresh.as_ref().map(|r| r.expose().to_string()),
        Some("rt-other".into())
    );
    assert_eq!(stored.access.expose(), "access-for-rt-other");
    assert_eq!(stored.meta.scopes, ["read", "write"]);
    assert_eq!(s.token_generation(&key).await.unwrap(), Some(2));

    // A newer tenure that saved nothing does not block an older one's save.
    let mine = acquired(s, "refresh:jira/ops", "me", 60_000).await;
    assert!(s.renew_lease("refresh:jira/ops", "me", -1).await.unwrap());
    let theirs = acquired(s, "refresh:jira/ops", "other", 60_000).await;
    assert!(theirs > mine);
    let rescued = s
        .save_token_fenced(&key, token("rt-rescued"), mine)
        .await
        .expect("nothing newer was saved: the grant is kept");
    assert_eq!(rescued.generation, 3);
    // And now the newer tenure's save still lands over it.
    let newest = s
        .save_token_fenced(&key, token("rt-newest"), theirs)
        .await
        .unwrap();
    assert_eq!(newest.generation, 4);
}

#[tokio::test]
async fn sqlite_and_postgres_agree_on_leases_and_fenced_saves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Store::open_with_vault(dir.path(), vault(1)).expect("sqlite store");
    let sqlite = Grants::Local(sqlite);
    leases(&sqlite).await;
    fenced_saves(&sqlite).await;

    let server = Postgres::start();
    let pg = PgStore::connect(&server.database("agree"), vault(1))
        .await
        .expect("postgres store");
    let pg = Grants::Shared(pg);
    leases(&pg).await;
    fenced_saves(&pg).await;
}

#[tokio::test]
async fn postgres_keeps_secrets_sealed_and_refuses_another_key() {
    let server = Postgres::start();
    let url = server.database("sealed");
    let pg = PgStore::connect(&url, vault(7)).await.expect("connect");
    let key = ConnectionKey::new("github", "default");
    pg.save_token(&key, token("rt-very-secret")).await.unwrap();

    // At rest: neither secret in any form the database holds.
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("raw connection");
    tokio::spawn(conn);
    let rows = client
        .query("SELECT sealed, scopes FROM tokens", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let sealed: Vec<u8> = rows[0].get(0);
    let text = String::from_utf8_lossy(&sealed);
    assert!(!text.contains("rt-very-secret") && !text.contains("access-for"));

    // Another key: refused with what to do, and nothing written.
    let before: i64 = client
        .query_one("SELECT count(*) FROM meta", &[])
        .await
        .unwrap()
        .get(0);
    let err = PgStore::connect(&url, vault(8))
        .await
        .expect_err("the wrong key must be refused");
    let msg = err.to_string();
    assert!(matches!(err, StoreError::WrongKey(_)), "{msg}");
    assert!(
        msg.contains("another vault key") && msg.contains("nothing was written"),
        "{msg}"
    );
    assert!(!msg.contains(PASSWORD), "{msg}");
    let after: i64 = client
        .query_one("SELECT count(*) FROM meta", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(before, after);
    // The right key still reads the token.
    let again = PgStore::connect(&url, vault(7)).await.expect("right key");
    let t = again.load_token(&key).await.unwrap().expect("token");
    assert_eq!(
        t.refresh.map(|r| r.expose().to_string()),
        Some("rt-very-secret".into())
    );
}

#[tokio::test]
async fn a_wrong_password_or_a_dead_server_is_explained_without_the_password() {
    let server = Postgres::start();
    let url = server.url().replace(PASSWORD, "not-the-password-91");
    let err = PgStore::connect(&url, vault(1))
        .await
        .expect_err("a wrong password must fail");
    let msg = err.to_string();
    assert!(
        !msg.contains("not-the-password-91") && !msg.contains(PASSWORD),
        "{msg}"
    );
    assert!(
        msg.contains("***"),
        "names the database, password hidden: {msg}"
    );
    assert!(msg.contains("password authentication failed"), "{msg}");

    let port = server.port;
    drop(server);
    let url =
        format!("postgres://switchboard:{PASSWORD}@127.0.0.1:{port}/postgres?sslmode=disable");
    let err = PgStore::connect(&url, vault(1))
        .await
        .expect_err("nothing listens");
    let msg = err.to_string();
    assert!(!msg.contains(PASSWORD), "{msg}");
    assert!(msg.contains("check that the server is up"), "{msg}");
    assert!(
        msg.contains("Connection refused") || msg.contains("connection refused"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_starting_at_once_migrate_once_and_share_leases_on_one_clock() {
    let server = Postgres::start();
    let url = server.database("race");
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::connect(&url, vault(3)).await })
        })
        .collect();
    let mut stores = Vec::new();
    for s in starts {
        stores.push(s.await.unwrap().expect("every concurrent start succeeds"));
    }
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let version: i32 = client
        .query_one("SELECT version FROM switchboard_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        version, 2,
        "every migration, once: grants (1) and the feed (2)"
    );
    let rows: i64 = client
        .query_one("SELECT count(*) FROM switchboard_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);

    // Six processes race for one lease: exactly one tenure wins.
    let races: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let s = s.clone();
            tokio::spawn(async move {
                s.acquire_lease("scheduler", &format!("host-{i}"), 60_000)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = Vec::new();
    for r in races {
        if let LeaseOutcome::Acquired { fence } = r.await.unwrap() {
            winners.push(fence);
        }
    }
    assert_eq!(winners, [1], "one holder, first tenure");
    // Expiry is the database's clock: HeldBy reports it, and it is near the server's now.
    let LeaseOutcome::HeldBy { expires_at, .. } = stores[0]
        .acquire_lease("scheduler", "late", 1)
        .await
        .unwrap()
    else {
        panic!("held");
    };
    let db_now: i64 = client
        .query_one("SELECT switchboard_now_ms()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        (expires_at - db_now - 60_000).abs() < 10_000,
        "{expires_at} vs {db_now}"
    );
}

async fn next(
    changes: &mut tokio::sync::mpsc::Receiver<switchboard::store::pg::Change>,
) -> switchboard::store::pg::Change {
    tokio::time::timeout(std::time::Duration::from_secs(5), changes.recv())
        .await
        .expect("a notice within 5 s, not a poll")
        .expect("still listening")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_host_hears_a_new_token_at_commit_and_nothing_of_a_refused_save() {
    use switchboard::store::pg::Change;
    let server = Postgres::start();
    let url = server.database("notify");
    let writer = PgStore::connect(&url, vault(5)).await.unwrap();
    let reader = PgStore::connect(&url, vault(5)).await.unwrap();
    let mut changes = reader.listen().await.expect("listen");
    let jira = ConnectionKey::new("jira", "ops");
    writer.save_token(&jira, token("rt-1")).await.unwrap();
    assert_eq!(
        next(&mut changes).await,
        Change::Token {
            key: jira.clone(),
            generation: 1
        }
    );

    // A refused save announces nothing; the save after it is the next notice heard.
    let LeaseOutcome::Acquired { fence: old } = writer
        .acquire_lease("refresh:jira/ops", "me", 60_000)
        .await
        .unwrap()
    else {
        panic!("free");
    };
    writer
        .renew_lease("refresh:jira/ops", "me", -1)
        .await
        .unwrap();
    let LeaseOutcome::Acquired { fence: new } = writer
        .acquire_lease("refresh:jira/ops", "other", 60_000)
        .await
        .unwrap()
    else {
        panic!("lapsed");
    };
    writer
        .save_token_fenced(&jira, token("rt-2"), new)
        .await
        .unwrap();
    assert!(matches!(
        writer
            .save_token_fenced(&jira, token("rt-stale"), old)
            .await,
        Err(StoreError::Fenced { .. })
    ));
    let zoom = ConnectionKey::new("zoom", "default");
    writer.save_token(&zoom, token("rt-z")).await.unwrap();
    assert_eq!(
        next(&mut changes).await,
        Change::Token {
            key: jira.clone(),
            generation: 2
        }
    );
    assert_eq!(
        next(&mut changes).await,
        Change::Token {
            key: zoom.clone(),
            generation: 1
        }
    );

    // A re-auth mark and a revocation are heard too: neither is a newer generation, and a
    // listener that skipped what it holds must not skip them.
    writer
        .set_needs_reauth(&jira, "invalid_grant")
        .await
        .unwrap();
    assert_eq!(
        next(&mut changes).await,
        Change::Reauth { key: jira.clone() }
    );
    assert!(writer.forget_token(&zoom, 1, "revoked").await.unwrap());
    assert_eq!(
        next(&mut changes).await,
        Change::Revoked { key: zoom.clone() }
    );
    assert!(writer.load_token(&zoom).await.unwrap().is_none());
    let marks = reader.connections().await.unwrap();
    assert!(
        marks.iter().any(|c| c.key == jira && c.needs_reauth),
        "{marks:?}"
    );
    assert!(!marks.iter().any(|c| c.key == zoom && c.needs_reauth));
}

#[tokio::test]
async fn tls_to_postgres_is_verified_against_the_named_authority() {
    let (server, ca) = Postgres::start_tls();
    let base = server.database("tls");
    let plain = base.replace("?sslmode=disable", "");
    // libpq's spelling: verify-full, and the CA to trust as sslrootcert.
    let url = format!("{plain}?sslmode=verify-full&sslrootcert={}", ca.display());
    let store = PgStore::connect(&url, vault(6))
        .await
        .expect("TLS connects");
    assert!(
        store.encrypted().await.unwrap(),
        "the connection is encrypted"
    );
    assert!(!store.place().contains(PASSWORD));

    // Required, but nothing this host trusts signed the server's certificate: refused, saying
    // what to do.
    let err = PgStore::connect(&format!("{plain}?sslmode=require"), vault(6))
        .await
        .expect_err("an unknown authority must be refused");
    let msg = err.to_string();
    assert!(msg.contains("sslrootcert"), "{msg}");
    assert!(!msg.contains(PASSWORD), "{msg}");

    // Without TLS asked for, the same server still answers in the clear.
    let clear = PgStore::connect(&base, vault(6))
        .await
        .expect("plain connects");
    assert!(!clear.encrypted().await.unwrap());
}
