//! `switchboard store migrate`: a data directory's grants copied into a real PostgreSQL (issue
//! 14), still sealed and verified.

#[path = "support/cli.rs"]
mod cli;
#[allow(dead_code)]
#[path = "support/daemons.rs"]
mod daemons;
#[path = "support/postgres.rs"]
mod postgres;

use std::path::Path;

use cli::{BIN, scrubbed};
use daemons::{hex_key, ran, vault};
use postgres::Postgres;
use switchboard::domain::ConnectionKey;
use switchboard::store::pg::PgStore;
use switchboard::store::{KeySource, Store, Vault};

fn token(rt: &str) -> switchboard::store::NewToken {
    switchboard::store::NewToken {
        access: switchboard::secret::Secret::from(format!("access-for-{rt}")),
        refresh: Some(switchboard::secret::Secret::from(rt)),
        expires_at: Some(switchboard::domain::now_ms() + 300_000),
        issued_at: switchboard::domain::now_ms(),
        scopes: vec!["read".into()],
    }
}

fn migrate(data_dir: &Path, url: &str, key: &str) -> cli::Run {
    let out = scrubbed(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["store", "migrate"])
        .env("SWITCHBOARD_KEY", key)
        .env("SWITCHBOARD_DATABASE_URL", url)
        .output()
        .expect("switchboard runs");
    ran("store migrate", out)
}

/// `switchboard store migrate` copies a data directory's tokens into PostgreSQL still sealed,
/// reads each back identical, carries re-auth marks over, never overwrites a token the
/// database already has, refuses while a daemon uses the directory, and refuses a database
/// sealed under another key without writing to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_migrate_copies_sealed_tokens_and_verifies_them() {
    let pg = Postgres::start();
    let url = pg.database("migrate");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let store = Store::open_with_vault(&data, vault()).expect("store");
    let (a, b, c) = (
        ConnectionKey::new("jira", "default"),
        ConnectionKey::new("slack", "ops"),
        ConnectionKey::new("github", "default"),
    );
    let saved_a = store.save_token(&a, token("rt-a")).await.expect("save");
    store.save_token(&b, token("rt-b")).await.expect("save");
    store
        .save_token(&b, token("rt-b2"))
        .await
        .expect("a second generation");
    store
        .set_needs_reauth(&c, "the grant was refused")
        .await
        .expect("mark");

    // A daemon on the directory (its scheduler lease): refused, nothing copied.
    store
        .acquire_lease("scheduler", "4242@elsewhere#ns", 60_000)
        .await
        .expect("lease");
    let run = migrate(&data, &url, &hex_key());
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("stop the daemon"), "{run}");
    store
        .release_lease("scheduler", "4242@elsewhere#ns")
        .await
        .expect("release");

    let run = migrate(&data, &url, &hex_key());
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("copied 2 tokens"), "{run}");
    assert!(run.stdout.contains("github"), "the re-auth mark: {run}");
    assert!(!run.stdout.contains(postgres::PASSWORD) && !run.stderr.contains(postgres::PASSWORD));

    let db = PgStore::connect(&url, vault()).await.expect("the database");
    let copied = db.load_token(&a).await.expect("read").expect("a's token");
    assert_eq!(copied.refresh, saved_a.refresh);
    assert_eq!(copied.generation, saved_a.generation);
    let copied_b = db.load_token(&b).await.expect("read").expect("b's token");
    assert_eq!(
        copied_b.refresh.as_ref().map(|r| r.expose().to_string()),
        Some("rt-b2".into())
    );
    assert_eq!(copied_b.generation, 2, "generations carry over");
    let marks = db.connections().await.expect("connections");
    assert!(
        marks.iter().any(|m| m.key == c && m.needs_reauth),
        "{marks:?}"
    );
    // Sealed at rest: no secret in a dump of the database.
    let dump = postgres::dump(&url);
    for secret in ["rt-a", "rt-b2", "access-for-rt-a"] {
        assert!(!dump.contains(secret), "{secret} in clear in the database");
    }
    // The database's tokens are the ones to trust now: saved under a lease tenure there, and
    // a second migration keeps them.
    db.save_token(&a, token("rt-a-rotated-on-another-host"))
        .await
        .expect("save");
    let run = migrate(&data, &url, &hex_key());
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.contains("kept the database's own token"),
        "{run}"
    );
    let still = db.load_token(&a).await.expect("read").expect("token");
    assert_eq!(
        still.refresh.map(|r| r.expose().to_string()),
        Some("rt-a-rotated-on-another-host".into())
    );

    // A database sealed under another key: refused before anything is written.
    let other = pg.database("other_key");
    PgStore::connect(&other, Vault::from_key(&[0x11; 32], KeySource::Env))
        .await
        .expect("the other deployment");
    let run = migrate(&data, &other, &hex_key());
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.to_lowercase().contains("key"), "{run}");
    let other_db = PgStore::connect(&other, Vault::from_key(&[0x11; 32], KeySource::Env))
        .await
        .expect("connect");
    assert!(other_db.load_token(&a).await.expect("read").is_none());
}
