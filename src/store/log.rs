//! The log side of the store: probe results and the append-only event log.

use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::{Store, StoreError};
use crate::domain::events::EventQuery;
use crate::domain::{
    Actor, ConnectionKey, ErrorClass, Failure, ProbeResult, ProbeVia, UnixMs, now_ms,
};

/// One line of the append-only event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub at: UnixMs,
    pub key: Option<ConnectionKey>,
    pub kind: String,
    pub actor: Actor,
    pub outcome: String,
    pub latency_ms: Option<u64>,
    pub class: Option<ErrorClass>,
    pub detail: Option<String>,
}

impl EventRecord {
    pub fn new(key: Option<&ConnectionKey>, kind: &str, actor: Actor, outcome: &str) -> Self {
        Self {
            at: now_ms(),
            key: key.cloned(),
            kind: kind.to_string(),
            actor,
            outcome: outcome.to_string(),
            latency_ms: None,
            class: None,
            detail: None,
        }
    }

    pub fn latency(mut self, ms: u64) -> Self {
        self.latency_ms = Some(ms);
        self
    }

    pub fn failure(mut self, failure: &Failure) -> Self {
        self.class = Some(failure.class);
        self.detail = Some(failure.message.clone());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}
fn class_to_str(c: ErrorClass) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub(super) fn class_from_str(s: &str) -> Option<ErrorClass> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

fn via_to_str(v: ProbeVia) -> &'static str {
    match v {
        ProbeVia::Mcp => "mcp",
        ProbeVia::Rest => "rest",
        ProbeVia::RestFallback => "rest_fallback",
    }
}

/// A probe result waiting for the store thread, with the caller waiting for its commit.
pub(super) struct Observation {
    key: ConnectionKey,
    probe: ProbeResult,
    event: Option<EventRecord>,
    done: oneshot::Sender<Result<(), String>>,
}

pub(super) type Observations = Arc<Mutex<Vec<Observation>>>;

/// Writes every waiting observation in one transaction and tells each caller.
fn write_observations(conn: &mut Connection, queue: &Observations) {
    let batch = queue
        .lock()
        .map(|mut q| std::mem::take(&mut *q))
        .unwrap_or_default();
    if batch.is_empty() {
        return;
    }
    let result = (|| -> Result<(), rusqlite::Error> {
        let tx = conn.transaction()?;
        for o in &batch {
            insert_probe(&tx, &o.key, &o.probe)?;
            if let Some(e) = &o.event {
                insert_event(&tx, e)?;
            }
        }
        tx.commit()
    })();
    let result = result.map_err(|e| e.to_string());
    for o in batch {
        let _ = o.done.send(result.clone());
    }
}

fn insert_probe(c: &Connection, key: &ConnectionKey, p: &ProbeResult) -> rusqlite::Result<()> {
    let f = p.failure.as_ref();
    let pf = p.primary_failure.as_ref();
    c.prepare_cached(
        "INSERT INTO probes (connector, account, at, via, ok, latency_ms, class, message,
                             retry_after_ms, primary_class, primary_message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        key.connector,
        key.account,
        p.at,
        via_to_str(p.via),
        f.is_none(),
        p.latency_ms as i64,
        f.map(|f| class_to_str(f.class)),
        f.map(|f| f.message.clone()),
        f.and_then(|f| f.retry_after_ms).map(|v| v as i64),
        pf.map(|f| class_to_str(f.class)),
        pf.map(|f| f.message.clone()),
    ])?;
    Ok(())
}

pub(super) fn insert_event(c: &Connection, e: &EventRecord) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO events (at, connector, account, kind, actor, outcome, latency_ms, class, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        e.at,
        e.key.as_ref().map(|k| k.connector.clone()),
        e.key.as_ref().map(|k| k.account.clone()),
        e.kind,
        e.actor.as_str(),
        e.outcome,
        e.latency_ms.map(|v| v as i64),
        e.class.map(class_to_str),
        e.detail,
    ])?;
    Ok(())
}

impl Store {
    pub async fn record_probe(
        &self,
        key: &ConnectionKey,
        p: &ProbeResult,
    ) -> Result<(), StoreError> {
        self.record_observation(key, p, None).await
    }

    /// Records a probe result and its line in the event log. Writes that arrive while the store
    /// thread is busy are committed together in one transaction: a fleet of 10,000 probed every
    /// 30 s finishes hundreds of probes a second, and a transaction each was most of the store
    /// thread's time. Each caller still waits for its own write to be committed.
    pub async fn record_observation(
        &self,
        key: &ConnectionKey,
        p: &ProbeResult,
        event: Option<EventRecord>,
    ) -> Result<(), StoreError> {
        self.tap(|| super::FeedItem::Probe {
            key: key.clone(),
            probe: p.clone(),
        });
        // The probe itself is published; its log line only when it failed: other hosts' logs
        // carry what an operator looks for, not a line per passed probe of the whole fleet.
        if let Some(e) = &event
            && e.outcome != "ok"
        {
            self.tap(|| super::FeedItem::Event { event: e.clone() });
        }
        let (tx, rx) = oneshot::channel();
        let first = {
            let Ok(mut queue) = self.observations.lock() else {
                return Err(StoreError::Closed);
            };
            queue.push(Observation {
                key: key.clone(),
                probe: p.clone(),
                event,
                done: tx,
            });
            queue.len() == 1
        };
        if first {
            let queue = self.observations.clone();
            let job: super::Job = Box::new(move |conn| write_observations(conn, &queue));
            self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        }
        let result = rx.await.map_err(|_| StoreError::Closed)?;
        self.explain(result.map_err(StoreError::Batch))
    }

    pub async fn append_event(&self, e: EventRecord) -> Result<(), StoreError> {
        self.tap(|| super::FeedItem::Event { event: e.clone() });
        self.call(move |c| {
            insert_event(c, &e)?;
            Ok(())
        })
        .await
    }

    /// The newest `limit` events, newest first, optionally for one connection and one kind.
    pub async fn events(
        &self,
        key: Option<&ConnectionKey>,
        kind: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let mut query = key.map(EventQuery::for_key).unwrap_or_default();
        query.kinds = kind.map(str::to_string).into_iter().collect();
        query.limit = limit.max(1);
        let entries = self.query_events(query).await?;
        Ok(entries
            .into_iter()
            .rev()
            .map(|e| EventRecord {
                at: e.at,
                key: e.key,
                kind: e.kind,
                actor: e.actor,
                outcome: e.outcome,
                latency_ms: e.latency_ms,
                class: e.class,
                detail: e.detail,
            })
            .collect())
    }

    /// Per connection: when its token was last refreshed and how many refreshes the log holds.
    /// Lets a process that did not do the refreshing (a follower, `status`) show them.
    pub async fn refresh_stats(&self) -> Result<Vec<(ConnectionKey, UnixMs, u64)>, StoreError> {
        self.call(|c| {
            let mut stmt =
                c.prepare("SELECT connector, account, last_at, count FROM refresh_stats")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    ConnectionKey::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?.max(0) as u64,
                ))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::test_store as open;

    #[tokio::test]
    async fn probes_and_events_round_trip() {
        let (_dir, store) = open();
        let key = ConnectionKey::new("x", "default");
        let mut f = Failure::new(ErrorClass::RateLimited, "429 from /me");
        f.retry_after_ms = Some(2000);
        let p = ProbeResult {
            at: 10,
            via: ProbeVia::Rest,
            latency_ms: 5,
            failure: Some(f),
            primary_failure: None,
        };
        store.record_probe(&key, &p).await.unwrap();
        let replayed = store.probes_since_by_key(0).await.unwrap();
        assert_eq!(
            replayed.into_iter().collect::<Vec<_>>(),
            vec![(key.clone(), vec![crate::store::Replayed::from(p.clone())])]
        );
        assert_eq!(
            crate::store::Replayed::from(p.clone()).into_result(),
            p,
            "a failed probe is replayed whole"
        );
        // A probe that started earlier but was written later still follows the cursor.
        let cursor = store.probe_cursor().await.unwrap();
        let late = ProbeResult { at: 5, ..p.clone() };
        store.record_probe(&key, &late).await.unwrap();
        let after = store.probes_after(cursor).await.unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!((after[0].0 > cursor, &after[0].2), (true, &late));
        assert!(store.probes_after(after[0].0).await.unwrap().is_empty());
        store
            .append_event(EventRecord::new(Some(&key), "refresh", Actor::Console, "ok").latency(12))
            .await
            .unwrap();
        let ev = store.events(Some(&key), Some("refresh"), 10).await.unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].actor, Actor::Console);
        assert_eq!(ev[0].latency_ms, Some(12));
    }
}
