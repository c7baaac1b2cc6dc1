//! The event log's one deletion path: retention. Migration 10's trigger refuses every DELETE on
//! `events` unless a permit row names a cutoff the row is older than; the permit lives only
//! inside the pruning transaction, so nothing else (a bug, a stray query) can delete history.

use rusqlite::params;

use super::{Store, StoreError};
use crate::domain::UnixMs;

impl Store {
    /// Deletes the events written before `before`; returns how many went.
    pub async fn prune_events(&self, before: UnixMs) -> Result<u64, StoreError> {
        self.call(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO events_prune_permit (cutoff) VALUES (?1)",
                params![before],
            )?;
            let n = tx.execute("DELETE FROM events WHERE at < ?1", params![before])?;
            tx.execute("DELETE FROM events_prune_permit", [])?;
            tx.commit()?;
            Ok(n as u64)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
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
