//! The event log's one deletion path: retention. Migration 10's trigger refuses every DELETE on
//! `events` unless a permit row names a cutoff the row is older than; the permit lives only
//! inside the pruning transaction, so nothing else (a bug, a stray query) can delete history.

use rusqlite::params;

use super::{Store, StoreError};
use crate::domain::UnixMs;

/// Runs `delete` inside one transaction holding a permit for rows older than `before`: the
/// trigger lets only those go, and the permit is gone again when the transaction commits.
fn with_permit(
    c: &mut rusqlite::Connection,
    before: UnixMs,
    delete: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<usize>,
) -> Result<u64, StoreError> {
    let tx = c.transaction()?;
    tx.execute(
        "INSERT INTO events_prune_permit (cutoff) VALUES (?1)",
        params![before],
    )?;
    let n = delete(&tx)?;
    tx.execute("DELETE FROM events_prune_permit", [])?;
    tx.commit()?;
    Ok(n as u64)
}

impl Store {
    /// Deletes the events written before `before`; returns how many went.
    pub async fn prune_events(&self, before: UnixMs) -> Result<u64, StoreError> {
        self.call(move |c| {
            with_permit(c, before, |tx| {
                tx.execute("DELETE FROM events WHERE at < ?1", params![before])
            })
        })
        .await
    }

    /// Deletes up to `limit` of the event log's probe lines written before `before`, oldest
    /// first; returns how many went. The leader keeps them as long as the raw probes they
    /// repeat (`raw_retention`): at 10,000 connections they are 29 M rows a day, and in chunks
    /// so a day's worth never holds the store for long. The audit lines (refreshes, auth,
    /// pauses, tokens handed out) stay until an operator prunes them.
    pub async fn prune_probe_events(&self, before: UnixMs, limit: u32) -> Result<u64, StoreError> {
        self.call(move |c| {
            with_permit(c, before, |tx| {
                tx.execute(
                    "DELETE FROM events WHERE id IN
                        (SELECT id FROM events INDEXED BY events_by_time
                         WHERE at < ?1 AND kind = 'probe' ORDER BY at LIMIT ?2)",
                    params![before, limit],
                )
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn probe_lines_go_in_chunks_and_audit_lines_stay() {
        use crate::domain::{Actor, ConnectionKey};
        use crate::store::EventRecord;
        let (_dir, store) = crate::store::test_store();
        let key = ConnectionKey::new("api", "default");
        for at in 0..12 {
            let mut e = EventRecord::new(Some(&key), "probe", Actor::Scheduler, "ok");
            e.at = at;
            store.append_event(e).await.unwrap();
        }
        for (at, kind) in [(3, "refresh"), (4, "auth"), (100, "probe")] {
            let mut e = EventRecord::new(Some(&key), kind, Actor::Scheduler, "ok");
            e.at = at;
            store.append_event(e).await.unwrap();
        }
        let mut chunks = Vec::new();
        loop {
            let n = store.prune_probe_events(50, 5).await.unwrap();
            chunks.push(n);
            if n < 5 {
                break;
            }
        }
        assert_eq!(chunks, vec![5, 5, 2]);
        let left: Vec<(i64, String)> = store
            .call(|c| {
                let mut q = c.prepare("SELECT at, kind FROM events ORDER BY at")?;
                let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
            .unwrap();
        assert_eq!(
            left,
            vec![
                (3, "refresh".into()),
                (4, "auth".into()),
                (100, "probe".into())
            ]
        );
    }

    use rusqlite::Connection;

    use crate::store::migrations::migrate;

    fn log() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        for at in [1, 2, 3] {
            c.execute(
                "INSERT INTO events (at, kind, actor, outcome) VALUES (?1, 'probe', 'cli', 'ok')",
                [at],
            )
            .unwrap();
        }
        c
    }

    #[test]
    fn the_event_log_refuses_delete() {
        let c = log();
        let e = c.execute("DELETE FROM events", []).unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
        let e = c
            .execute("DELETE FROM events WHERE at = 1", [])
            .unwrap_err();
        assert!(e.to_string().contains("switchboard events prune"), "{e}");
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn a_permit_lets_only_rows_older_than_its_cutoff_go() {
        let c = log();
        c.execute("INSERT INTO events_prune_permit (cutoff) VALUES (3)", [])
            .unwrap();
        assert_eq!(c.execute("DELETE FROM events WHERE at < 3", []).unwrap(), 2);
        // A row at or after the cutoff stays guarded even while the permit exists.
        assert!(c.execute("DELETE FROM events", []).is_err());
    }

    #[tokio::test]
    async fn prune_removes_old_rows_and_leaves_the_guard_on() {
        let (_dir, store) = crate::store::test_store();
        for at in [10, 20, 30] {
            let mut r =
                crate::store::EventRecord::new(None, "probe", crate::domain::Actor::Cli, "ok");
            r.at = at;
            store.append_event(r).await.unwrap();
        }
        assert_eq!(store.prune_events(25).await.unwrap(), 2);
        let left = store
            .call(|c| {
                let n: i64 = c.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
                let permits: i64 =
                    c.query_row("SELECT COUNT(*) FROM events_prune_permit", [], |r| r.get(0))?;
                let refused = c.execute("DELETE FROM events", []).is_err();
                Ok((n, permits, refused))
            })
            .await
            .unwrap();
        assert_eq!(left, (1, 0, true));
    }
}
