//! Versioned schema. Each entry runs once, in order, inside a transaction; `user_version` records
//! how far a database has come. Never edit a shipped migration: add a new one.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: the walking skeleton.
    r#"
    CREATE TABLE connections (
        connector    TEXT NOT NULL,
        account      TEXT NOT NULL,
        state        TEXT NOT NULL DEFAULT 'active',   -- active | needs_reauth | revoked (2)
        state_reason TEXT,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        PRIMARY KEY (connector, account)
    );
    CREATE TABLE tokens (
        connector   TEXT NOT NULL,
        account     TEXT NOT NULL,
        generation  INTEGER NOT NULL,     -- bumped on every write, so readers can tell a rotation
        sealed      BLOB NOT NULL,        -- vault-encrypted JSON of the secrets
        expires_at  INTEGER,
        issued_at   INTEGER NOT NULL,
        has_refresh INTEGER NOT NULL,
        scopes      TEXT NOT NULL DEFAULT '',
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (connector, account)
    );
    CREATE TABLE probes (
        id             INTEGER PRIMARY KEY,
        connector      TEXT NOT NULL,
        account        TEXT NOT NULL,
        at             INTEGER NOT NULL,
        via            TEXT NOT NULL,
        ok             INTEGER NOT NULL,
        latency_ms     INTEGER NOT NULL,
        class          TEXT,
        message        TEXT,
        retry_after_ms INTEGER,
        primary_class  TEXT,
        primary_message TEXT
    );
    CREATE INDEX probes_by_connection ON probes (connector, account, at);
    CREATE TABLE events (
        id         INTEGER PRIMARY KEY,
        at         INTEGER NOT NULL,
        connector  TEXT,
        account    TEXT,
        kind       TEXT NOT NULL,     -- refresh | probe | reauth | auth | tool_call | lease | ...
        actor      TEXT NOT NULL,     -- scheduler | console | cli | daemon | demo
        outcome    TEXT NOT NULL,     -- ok | failed | skipped
        latency_ms INTEGER,
        class      TEXT,
        detail     TEXT
    );
    CREATE INDEX events_by_connection ON events (connector, account, at);
    CREATE TRIGGER events_append_only BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    CREATE TABLE leases (
        name       TEXT PRIMARY KEY,
        holder     TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );
    "#,
    // 2: revocation. A revoked connection loses its token row, but the generation must not
    // restart at 1: another process caching generation N only adopts a stored token newer than
    // N, so a re-authorization after a revoke would go unnoticed there.
    r#"
    ALTER TABLE connections ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0;
    "#,
    // 3: MCP catalogues (tool, resource and prompt lists: public, not secrets), so a one-shot
    // `call` can validate arguments without listing tools again.
    r#"
    CREATE TABLE catalogues (
        connector  TEXT NOT NULL,
        account    TEXT NOT NULL,
        fetched_at INTEGER NOT NULL,
        body       TEXT NOT NULL,
        PRIMARY KEY (connector, account)
    );
    "#,
    // 4: MCP authorization. What discovery found for an auth type "mcp" connector, and the
    // client it registered (RFC 7591), so later processes refresh without rediscovering and a
    // second `auth` reuses the registration. Per connector, not per account: the client is
    // switchboard's registration at that authorization server, shared by every account.
    r#"
    CREATE TABLE mcp_auth (
        connector     TEXT PRIMARY KEY,
        server        TEXT NOT NULL,      -- the MCP endpoint discovery started from
        resource      TEXT NOT NULL,      -- RFC 8707 resource indicator sent to the AS
        issuer        TEXT NOT NULL,
        endpoints     TEXT NOT NULL,      -- JSON: authorize, token, revoke, device, client_secret_post
        client_id     TEXT NOT NULL,
        client_source TEXT NOT NULL,      -- configured | metadata_document | dynamic
        sealed_secret BLOB,               -- vault-sealed client secret, when the AS issued one
        scopes        TEXT NOT NULL DEFAULT '',
        registered_at INTEGER,
        updated_at    INTEGER NOT NULL
    );
    "#,
    // 5: how to revoke a grant without its config entry. When a connector is removed from the
    // config, its endpoints and client go with it; this keeps them (sealed: the client secret
    // is in there) so the grant can still be revoked at the AS, after a grace period.
    r#"
    CREATE TABLE grant_recipes (
        connector      TEXT NOT NULL,
        account        TEXT NOT NULL,
        sealed         BLOB NOT NULL,     -- vault-sealed JSON: revocation endpoint, client
        updated_at     INTEGER NOT NULL,
        orphaned_since INTEGER,           -- first seen absent from the config by a leader
        PRIMARY KEY (connector, account)
    );
    "#,
    // 6: facts about the database itself. `key_check` is a known plaintext sealed with the
    // vault key (store::key_check), so a process given another key refuses to write.
    r#"
    CREATE TABLE meta (
        name       TEXT PRIMARY KEY,
        value      BLOB NOT NULL,
        updated_at INTEGER NOT NULL
    );
    "#,
    // 7: health over time (store::history). Hourly rollups of probes, refreshes and tool calls
    // with mergeable latency sketches, so windows up to 7 days and their percentiles survive
    // pruning the raw rows. The time indexes serve the rollup and the windows, which read every
    // connection's rows over a stretch of time.
    r#"
    CREATE TABLE rollups (
        connector TEXT NOT NULL,
        account   TEXT NOT NULL,
        kind      TEXT NOT NULL,      -- probe | refresh | tool_call
        start     INTEGER NOT NULL,   -- the hour, ms since the epoch
        ok        INTEGER NOT NULL,
        failed    INTEGER NOT NULL,
        sketch    BLOB NOT NULL,      -- health::sketch::Sketch::encode
        PRIMARY KEY (connector, account, kind, start)
    ) WITHOUT ROWID;
    CREATE INDEX rollups_by_start ON rollups (start);
    CREATE INDEX probes_by_time ON probes (at);
    CREATE INDEX events_by_time ON events (at);
    "#,
    // 8: pause / resume (engine::pause). A row per paused connection, apart from `connections`
    // (which only authorized connections have): an operator may pause one never authorized.
    r#"
    CREATE TABLE paused (
        connector TEXT NOT NULL,
        account   TEXT NOT NULL,
        at        INTEGER NOT NULL,
        actor     TEXT NOT NULL,
        PRIMARY KEY (connector, account)
    ) WITHOUT ROWID;
    "#,
    // 9: the leader's at-risk forecasts (engine::history), one row per connection at risk, so
    // followers and one-shot commands show what only the refreshing process can forecast.
    r#"
    CREATE TABLE at_risk (
        connector TEXT NOT NULL,
        account   TEXT NOT NULL,
        since     INTEGER NOT NULL,
        reason    TEXT NOT NULL,
        PRIMARY KEY (connector, account)
    ) WITHOUT ROWID;
    "#,
    // 10: the event log refuses DELETE as it refuses UPDATE. Retention goes through
    // `Store::prune_events` alone: inside one transaction it writes a permit naming a cutoff,
    // deletes the rows older than it (the only rows the trigger lets go), and removes the permit.
    r#"
    CREATE TABLE events_prune_permit (cutoff INTEGER NOT NULL);
    CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        WHEN NOT EXISTS (SELECT 1 FROM events_prune_permit WHERE OLD.at < cutoff)
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only; prune it with `switchboard events prune`'); END;
    "#,
    // 11: alerts (issue 13): the outbox (at-least-once: a row stays until delivered or dropped,
    // and (channel, dedup_key) is unique so a notice queued twice is sent once), the open
    // incidents per channel and connection (a new leader neither re-fires nor forgets to
    // resolve them), and each channel's last delivery outcome.
    r#"
    CREATE TABLE alert_outbox (
        id         INTEGER PRIMARY KEY,
        channel    TEXT NOT NULL,
        dedup_key  TEXT NOT NULL,
        payload    TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        next_at    INTEGER NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0,
        state      TEXT NOT NULL DEFAULT 'pending',   -- pending | sent | dropped
        last_error TEXT,
        done_at    INTEGER,
        UNIQUE (channel, dedup_key)
    );
    CREATE INDEX alert_outbox_due ON alert_outbox (state, next_at);
    CREATE TABLE alert_incidents (
        channel      TEXT NOT NULL,
        connector    TEXT NOT NULL,
        account      TEXT NOT NULL,
        condition    TEXT NOT NULL,
        since        INTEGER NOT NULL,
        incident     TEXT NOT NULL,
        last_sent_at INTEGER NOT NULL,
        reminders    INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (channel, connector, account)
    );
    CREATE TABLE alert_deliveries (
        channel    TEXT PRIMARY KEY,
        at         INTEGER NOT NULL,
        ok         INTEGER NOT NULL,
        status     INTEGER,
        message    TEXT NOT NULL,
        dedup_key  TEXT,
        latency_ms INTEGER NOT NULL
    );
    "#,
    // 12: each connection's refresh count and last refresh, kept by a trigger as refresh
    // events are appended (issue 16). Every start and every follower's tick read them; a
    // GROUP BY over the event log grew with every probe ever logged (58 M rows a day at
    // 10,000 connections).
    r#"
    CREATE TABLE refresh_stats (
        connector TEXT NOT NULL,
        account   TEXT NOT NULL,
        last_at   INTEGER NOT NULL,
        count     INTEGER NOT NULL,
        PRIMARY KEY (connector, account)
    ) WITHOUT ROWID;
    INSERT INTO refresh_stats (connector, account, last_at, count)
        SELECT connector, account, MAX(at), COUNT(*) FROM events
        WHERE kind = 'refresh' AND outcome = 'ok' AND connector IS NOT NULL
        GROUP BY connector, account;
    CREATE TRIGGER events_refresh_stats AFTER INSERT ON events
        WHEN NEW.kind = 'refresh' AND NEW.outcome = 'ok' AND NEW.connector IS NOT NULL
        BEGIN
            INSERT INTO refresh_stats (connector, account, last_at, count)
                VALUES (NEW.connector, NEW.account, NEW.at, 1)
                ON CONFLICT (connector, account) DO UPDATE
                SET last_at = MAX(last_at, excluded.last_at), count = count + 1;
        END;
    "#,
    // 13: the day and week windows' finished hours, summed per connection and kind (issue 16,
    // store::spans): a fleet-wide window read takes one row each instead of merging 168 hourly
    // sketches. `upto` is the watermark they were summed at: the day holds the rollups of
    // [upto - 23 h, upto), the week [upto - 167 h, upto). Rebuilt by the leader's rollup.
    r#"
    CREATE TABLE rollup_spans (
        connector   TEXT NOT NULL,
        account     TEXT NOT NULL,
        kind        TEXT NOT NULL,
        upto        INTEGER NOT NULL,
        day_ok      INTEGER NOT NULL,
        day_failed  INTEGER NOT NULL,
        day_sketch  BLOB NOT NULL,
        week_ok     INTEGER NOT NULL,
        week_failed INTEGER NOT NULL,
        week_sketch BLOB NOT NULL,
        PRIMARY KEY (connector, account, kind)
    ) WITHOUT ROWID;
    "#,
    // 14: the time index carries what a whole-fleet window read needs (issue 16), so the read
    // walks the index alone instead of looking each row up in the table; it replaces the plain
    // time index, so a probe still writes two indexes. Building it on a large store takes a
    // while, once.
    r#"
    CREATE INDEX probes_by_time_covering ON probes (at, connector, account, ok, latency_ms);
    DROP INDEX probes_by_time;
    "#,
    // 15: the leader's last whole-fleet window read, one small row per connection, for every
    // other process to take instead of reading the raw rows again (issue 16, `windows.rs`).
    r#"
    CREATE TABLE windows (
        connector TEXT NOT NULL,
        account   TEXT NOT NULL,
        body      BLOB NOT NULL,
        PRIMARY KEY (connector, account)
    ) WITHOUT ROWID;
    "#,
    // 16: fencing (issue 14). Each new tenure of a lease gets a number that only grows, so a
    // release keeps the row (holder cleared) rather than deleting it; each connection keeps the
    // highest tenure that saved its token, and a save from an older tenure (a process paused
    // past its lease) is refused instead of writing over a newer grant.
    r#"
    ALTER TABLE leases ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE connections ADD COLUMN token_fence INTEGER NOT NULL DEFAULT 0;
    "#,
];

pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the database up to date. Refuses a database from a newer switchboard rather than
/// guessing at a schema it does not know.
pub fn migrate(conn: &mut Connection) -> Result<(), String> {
    let current: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if current > latest() {
        return Err(format!(
            "the database has schema version {current} but this switchboard knows up to {}; upgrade switchboard or use another --data-dir",
            latest()
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i as i64 + 1;
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        tx.execute_batch(sql)
            .map_err(|e| format!("migration {version} failed: {e}"))?;
        tx.pragma_update(None, "user_version", version)
            .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        migrate(&mut c).unwrap();
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, latest());
        c.pragma_update(None, "user_version", latest() + 1).unwrap();
        assert!(migrate(&mut c).unwrap_err().contains("upgrade switchboard"));
    }

    /// A store from before migration 12 keeps its refresh counts: the migration sums the
    /// event log once, and the trigger counts from there (failed refreshes and other kinds not).
    #[test]
    fn refresh_stats_are_backfilled_then_kept_by_the_trigger() {
        let mut c = Connection::open_in_memory().unwrap();
        let before = MIGRATIONS
            .iter()
            .position(|m| m.contains("refresh_stats"))
            .unwrap();
        for m in &MIGRATIONS[..before] {
            c.execute_batch(m).unwrap();
        }
        c.pragma_update(None, "user_version", before as i64)
            .unwrap();
        let log = |c: &Connection, at: i64, who: &str, kind: &str, outcome: &str| {
            c.execute(
                "INSERT INTO events (at, connector, account, kind, actor, outcome)
                 VALUES (?1, ?2, 'default', ?3, 'scheduler', ?4)",
                rusqlite::params![at, who, kind, outcome],
            )
            .unwrap();
        };
        log(&c, 10, "jira", "refresh", "ok");
        log(&c, 20, "jira", "refresh", "ok");
        log(&c, 25, "jira", "refresh", "failed");
        log(&c, 30, "jira", "probe", "ok");
        migrate(&mut c).unwrap();
        let stats = |c: &Connection| -> Vec<(String, i64, i64)> {
            let mut q = c
                .prepare("SELECT connector, last_at, count FROM refresh_stats ORDER BY connector")
                .unwrap();
            q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(stats(&c), vec![("jira".into(), 20, 2)]);
        log(&c, 40, "jira", "refresh", "ok");
        log(&c, 35, "zoom", "refresh", "ok");
        log(&c, 50, "zoom", "refresh", "failed");
        assert_eq!(
            stats(&c),
            vec![("jira".into(), 40, 3), ("zoom".into(), 35, 1)]
        );
    }

    #[test]
    fn event_log_rejects_updates() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        c.execute(
            "INSERT INTO events (at, kind, actor, outcome) VALUES (1, 'probe', 'cli', 'ok')",
            [],
        )
        .unwrap();
        let err = c
            .execute("UPDATE events SET outcome = 'failed'", [])
            .unwrap_err();
        assert!(err.to_string().contains("append-only"));
    }
}
