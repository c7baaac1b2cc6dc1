//! The PostgreSQL store's schema: versioned migrations in its own dialect, run once under an
//! advisory lock however many processes start at once.

use super::{describe, pg};
use crate::store::StoreError;

/// Versioned, in order; `switchboard_schema` records how far a database has come. Never edit a
/// shipped one: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: what several hosts must agree on. The same columns as SQLite's (migrations 1, 2, 6 and
    // 16), in PostgreSQL's types.
    r#"
    CREATE FUNCTION switchboard_now_ms() RETURNS bigint
        LANGUAGE sql VOLATILE
        AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;
    CREATE TABLE connections (
        connector        text NOT NULL,
        account          text NOT NULL,
        state            text NOT NULL DEFAULT 'active',
        state_reason     text,
        token_generation bigint NOT NULL DEFAULT 0,
        token_fence      bigint NOT NULL DEFAULT 0,
        created_at       bigint NOT NULL,
        updated_at       bigint NOT NULL,
        PRIMARY KEY (connector, account)
    );
    CREATE TABLE tokens (
        connector   text NOT NULL,
        account     text NOT NULL,
        generation  bigint NOT NULL,
        sealed      bytea NOT NULL,
        expires_at  bigint,
        issued_at   bigint NOT NULL,
        has_refresh boolean NOT NULL,
        scopes      text NOT NULL DEFAULT '',
        updated_at  bigint NOT NULL,
        PRIMARY KEY (connector, account)
    );
    CREATE TABLE leases (
        name       text PRIMARY KEY,
        holder     text NOT NULL,
        expires_at bigint NOT NULL,
        fence      bigint NOT NULL
    );
    CREATE TABLE meta (
        name       text PRIMARY KEY,
        value      bytea NOT NULL,
        updated_at bigint NOT NULL
    );
    "#,
    // 2: the feed (`pg::feed`): what each host observed, for the others to show. News, not
    // history: kept minutes. Ids are handed out under a lock held to commit (`feed::publish`),
    // so a reader past id N has seen everything up to N.
    r#"
    CREATE TABLE feed (
        id      bigserial PRIMARY KEY,
        written bigint NOT NULL,
        origin  text NOT NULL,
        kind    text NOT NULL,
        body    jsonb NOT NULL
    );
    CREATE INDEX feed_written ON feed (written);
    "#,
];

/// Serializes migrations across processes starting at once (any number, fixed: "sw").
const MIGRATION_LOCK: i64 = 0x7377;

pub(super) async fn migrate(
    client: &mut deadpool_postgres::Object,
    place: &str,
) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS switchboard_schema (version integer NOT NULL)")
        .await
        .map_err(pg)?;
    let at: i32 = tx
        .query_opt("SELECT version FROM switchboard_schema", &[])
        .await
        .map_err(pg)?
        .map(|r| r.get(0))
        .unwrap_or(0);
    let latest = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
    if at > latest {
        return Err(StoreError::Open {
            path: place.into(),
            message: format!(
                "its schema is version {at}, newer than this switchboard knows ({latest}); upgrade switchboard on this host"
            ),
        });
    }
    for (i, m) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(at).unwrap_or(0))
    {
        tx.batch_execute(m).await.map_err(|e| StoreError::Open {
            path: place.into(),
            message: format!("migration {} failed: {}", i + 1, describe(&e)),
        })?;
    }
    if at < latest {
        tx.execute("DELETE FROM switchboard_schema", &[])
            .await
            .map_err(pg)?;
        tx.execute(
            "INSERT INTO switchboard_schema (version) VALUES ($1)",
            &[&latest],
        )
        .await
        .map_err(pg)?;
    }
    tx.commit().await.map_err(pg)
}
