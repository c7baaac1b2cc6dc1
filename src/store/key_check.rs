//! The key check value: a known plaintext sealed with the vault key, kept in the database. A
//! process given another key than the one the database was written with (a different
//! `SWITCHBOARD_KEY`, a restored `vault.key`, another keyring) finds out when it opens the
//! store, and writes nothing: before, it decrypted no token, marked connections as needing
//! re-auth and saved new grants under its own key beside the old ones, leaving a database that
//! no single key could read.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::vault::{KEY_ENV, KEY_FILE, KeySource, Vault};
use crate::domain::now_ms;

const NAME: &str = "key_check";
/// Bound into the seal, so no token blob can stand in for the check value.
const AAD: &str = "switchboard:key-check";
const PLAINTEXT: &[u8] = b"switchboard vault key check, version 1";

/// Compares the vault's key with the database's check value, writing the value the first time
/// a key is shown to fit (an empty database, or one from before the check whose tokens this
/// key decrypts). `Some(message)` when the key is the wrong one.
pub(super) fn verify(
    conn: &mut Connection,
    vault: &Vault,
    path: &Path,
) -> Result<Option<String>, rusqlite::Error> {
    if let Some(sealed) = stored(conn)? {
        return Ok((!fits(vault, &sealed)).then(|| mismatch(vault, &path.display(), None)));
    }
    // A database from before the check: the key fits if it opens any token (one corrupted row
    // must not lock out the key that wrote the others).
    let mut tokens = 0usize;
    let mut opened = false;
    {
        let mut stmt = conn.prepare("SELECT connector, account, sealed FROM tokens")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            tokens += 1;
            let (connector, account): (String, String) = (row.get(0)?, row.get(1)?);
            let sealed: Vec<u8> = row.get(2)?;
            let aad = super::queries::token_aad(&connector, &account);
            if vault.open_sealed(&aad, &sealed).is_ok() {
                opened = true;
                break;
            }
        }
    }
    if tokens > 0 && !opened {
        return Ok(Some(mismatch(vault, &path.display(), Some(tokens))));
    }
    conn.execute(
        "INSERT OR IGNORE INTO meta (name, value, updated_at) VALUES (?1, ?2, ?3)",
        params![NAME, sealed_value(vault), now_ms()],
    )?;
    // Another process may have written its own value first: that one is the truth.
    match stored(conn)? {
        Some(sealed) if !fits(vault, &sealed) => Ok(Some(mismatch(vault, &path.display(), None))),
        _ => Ok(None),
    }
}

fn stored(conn: &Connection) -> Result<Option<Vec<u8>>, rusqlite::Error> {
    conn.query_row("SELECT value FROM meta WHERE name = ?1", [NAME], |r| {
        r.get(0)
    })
    .optional()
}

/// The check value a new database gets, sealed with this vault's key.
pub(super) fn sealed_value(vault: &Vault) -> Vec<u8> {
    vault.seal(AAD, PLAINTEXT)
}

pub(super) fn fits(vault: &Vault, sealed: &[u8]) -> bool {
    vault
        .open_sealed(AAD, sealed)
        .is_ok_and(|plain| plain == PLAINTEXT)
}

/// What the operator reads: which key this process used, that the database wants another,
/// and how to give it that one.
pub(super) fn mismatch(
    vault: &Vault,
    place: &dyn std::fmt::Display,
    tokens: Option<usize>,
) -> String {
    let evidence = match tokens {
        Some(n) => format!(
            "none of its {n} stored token{} decrypt with this process's vault key ({})",
            if n == 1 { "" } else { "s" },
            vault.source
        ),
        None => format!(
            "it was written with another vault key than this process's ({})",
            vault.source
        ),
    };
    let fix = match &vault.source {
        KeySource::Env => format!(
            "set {KEY_ENV} to the key the database was written with, or unset it if the database was written with the key file ({KEY_FILE} in the data directory) or the OS keyring"
        ),
        KeySource::File(file) => format!(
            "restore {} from a backup, or set {KEY_ENV} to the key the database was written with",
            file.display()
        ),
        KeySource::Keyring(entry) => format!(
            "restore the OS keyring entry {entry} (or unlock the keyring that holds the right one), or set {KEY_ENV} to the key the database was written with"
        ),
    };
    format!(
        "refusing to use {place}: {evidence}; nothing was written. To fix: {fix}; or pass --data-dir to use another data directory. Only if that key is lost for good: move the database aside and re-authorize every connection"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ConnectionKey;
    use crate::store::{NewToken, Store, StoreError};

    fn open(dir: &Path, key: u8) -> Store {
        Store::open_with_vault(dir, Vault::from_key(&[key; 32], KeySource::Env)).unwrap()
    }

    fn token() -> NewToken {
        NewToken {
            access: "a".into(),
            refresh: Some("r".into()),
            expires_at: None,
            issued_at: 1,
            scopes: vec![],
        }
    }

    #[tokio::test]
    async fn another_key_reads_nothing_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let key = ConnectionKey::new("jira", "default");
        let right = open(dir.path(), 1);
        assert!(right.key_mismatch().is_none());
        right.save_token(&key, token()).await.unwrap();
        drop(right);

        let wrong = open(dir.path(), 2);
        let why = wrong.key_mismatch().expect("the wrong key is noticed");
        assert!(why.contains("$SWITCHBOARD_KEY"), "{why}");
        assert!(why.contains("another vault key"), "{why}");
        let err = wrong.save_token(&key, token()).await.unwrap_err();
        assert!(matches!(err, StoreError::WrongKey(_)), "{err}");
        assert!(wrong.set_needs_reauth(&key, "x").await.is_err());
        drop(wrong);

        let right = open(dir.path(), 1);
        assert!(right.key_mismatch().is_none());
        let back = right.load_token(&key).await.unwrap().unwrap();
        assert_eq!(back.generation, 1, "the wrong key wrote nothing");
        assert!(!right.connections().await.unwrap()[0].needs_reauth);
    }

    /// A database from before migration 6 has tokens and no check value.
    fn make_legacy(dir: &Path) {
        let c = Connection::open(dir.join(super::super::DB_FILE)).unwrap();
        c.execute("DELETE FROM meta", []).unwrap();
    }

    #[tokio::test]
    async fn a_legacy_database_takes_the_check_value_from_the_key_that_opens_its_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let key = ConnectionKey::new("jira", "default");
        open(dir.path(), 1).save_token(&key, token()).await.unwrap();
        make_legacy(dir.path());

        let wrong = open(dir.path(), 2);
        let why = wrong.key_mismatch().expect("no token opens");
        assert!(why.contains("none of its 1 stored token decrypt"), "{why}");
        drop(wrong);
        let c = Connection::open(dir.path().join(super::super::DB_FILE)).unwrap();
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM meta", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "the wrong key left no check value");
        drop(c);

        assert!(open(dir.path(), 1).key_mismatch().is_none());
        // From now on the check value decides, also for a key that would find no token.
        let c = Connection::open(dir.path().join(super::super::DB_FILE)).unwrap();
        c.execute("DELETE FROM tokens", []).unwrap();
        drop(c);
        assert!(open(dir.path(), 2).key_mismatch().is_some());
    }

    #[tokio::test]
    async fn an_empty_database_takes_any_key_first() {
        let dir = tempfile::tempdir().unwrap();
        assert!(open(dir.path(), 7).key_mismatch().is_none());
        assert!(open(dir.path(), 7).key_mismatch().is_none());
        assert!(open(dir.path(), 8).key_mismatch().is_some());
    }
}
