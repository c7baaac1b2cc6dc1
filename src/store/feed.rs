//! This data directory's side of the shared feed (`pg::feed`): what it observed is kept aside
//! for the publisher (`Store::take_feed`), and what other hosts logged is written into its event
//! log once (`Store::mirror_events`).

use std::sync::{Arc, Mutex};

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::log::{EventRecord, insert_event};
use super::{Store, StoreError};
use crate::domain::{ConnectionKey, ProbeResult, now_ms};

/// What a host observed, for the others to show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeedItem {
    Probe {
        key: ConnectionKey,
        probe: ProbeResult,
    },
    Event {
        event: EventRecord,
    },
}

/// How many observations wait for the publisher at most: a database that is down for minutes
/// must not grow the process (10,000 connections probed every 30 s are 20,000 a minute). The
/// oldest go first; the others' view of them is news, not history, which each host keeps.
pub const FEED_BACKLOG: usize = 50_000;

#[derive(Default)]
pub(super) struct Backlog {
    items: std::collections::VecDeque<FeedItem>,
    dropped: u64,
}

/// `None` until something publishes: a store whose grants are local keeps nothing aside.
pub(super) type Tap = Arc<Mutex<Option<Backlog>>>;

/// Where this data directory's id is kept in `meta`.
const ORIGIN: &str = "feed_origin";
/// How far this data directory's event log has taken in the feed (its last id).
const EVENTS_UPTO: &str = "feed_events_upto";

impl Store {
    /// Keeps what this process observes from now on for `take_feed`.
    pub fn start_feed(&self) {
        if let Ok(mut tap) = self.feed.lock()
            && tap.is_none()
        {
            *tap = Some(Backlog::default());
        }
    }

    pub(super) fn tap(&self, item: impl FnOnce() -> FeedItem) {
        let Ok(mut tap) = self.feed.lock() else {
            return;
        };
        if let Some(b) = tap.as_mut() {
            if b.items.len() >= FEED_BACKLOG {
                b.items.pop_front();
                b.dropped += 1;
            }
            b.items.push_back(item());
        }
    }

    /// What waits to be published, oldest first, and how many were dropped for room since the
    /// last take.
    pub fn take_feed(&self) -> (Vec<FeedItem>, u64) {
        let Ok(mut tap) = self.feed.lock() else {
            return (Vec::new(), 0);
        };
        match tap.as_mut() {
            Some(b) => (
                std::mem::take(&mut b.items).into(),
                std::mem::take(&mut b.dropped),
            ),
            None => (Vec::new(), 0),
        }
    }

    /// Puts back what could not be published, ahead of what came since (within the backlog).
    pub fn return_feed(&self, items: Vec<FeedItem>) {
        let Ok(mut tap) = self.feed.lock() else {
            return;
        };
        if let Some(b) = tap.as_mut() {
            let room = FEED_BACKLOG.saturating_sub(b.items.len());
            let skip = items.len().saturating_sub(room);
            b.dropped += skip as u64;
            for item in items.into_iter().skip(skip).rev() {
                b.items.push_front(item);
            }
        }
    }

    /// This data directory's id in the feed, made once: every process on it shares it, so none
    /// takes back in what another process here already wrote to this store.
    pub async fn feed_origin(&self) -> Result<String, StoreError> {
        self.call(|c| {
            let fresh = format!("{:016x}", rand::random::<u64>());
            c.execute(
                "INSERT OR IGNORE INTO meta (name, value, updated_at) VALUES (?1, ?2, ?3)",
                params![ORIGIN, fresh, now_ms()],
            )?;
            Ok(
                c.query_row("SELECT value FROM meta WHERE name = ?1", [ORIGIN], |r| {
                    r.get::<_, String>(0)
                })?,
            )
        })
        .await
    }

    /// The feed id this event log has taken in up to; `None` before the first time.
    pub async fn feed_events_upto(&self) -> Result<Option<i64>, StoreError> {
        self.call(|c| {
            Ok(c.query_row(
                "SELECT value FROM meta WHERE name = ?1",
                [EVENTS_UPTO],
                |r| r.get::<_, i64>(0),
            )
            .optional()?)
        })
        .await
    }

    /// Writes other hosts' events into this event log and moves its mark from `from` to `upto`,
    /// in one transaction, and only if the mark is still at `from`: two processes on this data
    /// directory (a leader giving way to the next) never write the same lines twice. False when
    /// the mark had moved: nothing was written.
    pub async fn mirror_events(
        &self,
        from: Option<i64>,
        upto: i64,
        events: Vec<EventRecord>,
    ) -> Result<bool, StoreError> {
        self.call(move |c| {
            let tx = c.transaction()?;
            let at: Option<i64> = tx
                .query_row("SELECT value FROM meta WHERE name = ?1", [EVENTS_UPTO], |r| {
                    r.get(0)
                })
                .optional()?;
            if at != from {
                return Ok(false);
            }
            for e in &events {
                insert_event(&tx, e)?;
            }
            tx.execute(
                "INSERT INTO meta (name, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![EVENTS_UPTO, upto, now_ms()],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Actor, ProbeVia};
    use crate::store::test_store as open;

    fn probe(at: i64) -> FeedItem {
        FeedItem::Probe {
            key: ConnectionKey::new("c", "default"),
            probe: ProbeResult {
                at,
                via: ProbeVia::Rest,
                latency_ms: 1,
                failure: None,
                primary_failure: None,
            },
        }
    }

    #[tokio::test]
    async fn nothing_is_kept_aside_until_the_feed_starts_and_the_backlog_is_bounded() {
        let (_dir, store) = open();
        let key = ConnectionKey::new("c", "default");
        store
            .append_event(EventRecord::new(Some(&key), "refresh", Actor::Cli, "ok"))
            .await
            .unwrap();
        assert_eq!(
            store.take_feed(),
            (vec![], 0),
            "local grants publish nothing"
        );

        store.start_feed();
        store
            .append_event(EventRecord::new(Some(&key), "refresh", Actor::Cli, "ok"))
            .await
            .unwrap();
        let (items, dropped) = store.take_feed();
        assert_eq!(dropped, 0);
        assert!(matches!(&items[..], [FeedItem::Event { event }] if event.kind == "refresh"));

        for at in 0..(FEED_BACKLOG as i64 + 10) {
            store.tap(|| probe(at));
        }
        let (items, dropped) = store.take_feed();
        assert_eq!((items.len(), dropped), (FEED_BACKLOG, 10));
        assert_eq!(items[0], probe(10), "the oldest went first");

        // Put back ahead of newer ones, and still bounded.
        store.tap(|| probe(-1));
        store.return_feed(items);
        let (items, dropped) = store.take_feed();
        assert_eq!((items.len(), dropped), (FEED_BACKLOG, 1));
        assert_eq!(items[0], probe(11));
        assert_eq!(items[FEED_BACKLOG - 1], probe(-1));
    }

    #[tokio::test]
    async fn events_are_taken_in_once_under_the_mark() {
        let (_dir, store) = open();
        store.start_feed();
        let origin = store.feed_origin().await.unwrap();
        assert_eq!(origin.len(), 16);
        assert_eq!(store.feed_origin().await.unwrap(), origin, "made once");

        let key = ConnectionKey::new("c", "default");
        let e = EventRecord::new(Some(&key), "reauth", Actor::Console, "ok");
        assert_eq!(store.feed_events_upto().await.unwrap(), None);
        assert!(store.mirror_events(None, 7, vec![e.clone()]).await.unwrap());
        assert!(
            !store.mirror_events(None, 7, vec![e.clone()]).await.unwrap(),
            "a second writer with the old mark writes nothing"
        );
        assert_eq!(store.feed_events_upto().await.unwrap(), Some(7));
        let logged = store.events(Some(&key), Some("reauth"), 10).await.unwrap();
        assert_eq!(logged.len(), 1);
        assert_eq!(
            store.take_feed(),
            (vec![], 0),
            "other hosts' lines are not published again"
        );
    }
}
