//! The log side of the store: probe results and the append-only event log.

use std::collections::HashMap;
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

/// The columns every probe read selects, in the order `probe_of` reads them (`id` last).
const PROBE_COLUMNS: &str = "connector, account, at, via, latency_ms, class, message, \
     retry_after_ms, primary_class, primary_message, id";

/// The probes since `?1`. Rows are written in about time order, so they are a run of ids:
/// read in table order, no index lookup per row. INDEXED BY: left to itself SQLite finds
/// MIN(id) by walking the table from its first row, which is every probe kept (48 h of a
/// fleet).
const SINCE: &str = "id >= (SELECT COALESCE(MIN(id), 0) FROM probes INDEXED BY \
     probes_by_time_covering WHERE at >= ?1) AND at >= ?1";

/// A probes row (selected as `PROBE_COLUMNS`) as a result.
fn probe_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProbeResult> {
    let mut failure = failure_from(r.get(5)?, r.get(6)?);
    if let Some(f) = failure.as_mut() {
        f.retry_after_ms = r.get::<_, Option<i64>>(7)?.map(|v| v.max(0) as u64);
    }
    Ok(ProbeResult {
        at: r.get(2)?,
        via: via_from_str(r.get_ref(3)?.as_str().unwrap_or("")),
        latency_ms: r.get::<_, i64>(4)?.max(0) as u64,
        failure,
        primary_failure: failure_from(r.get(8)?, r.get(9)?),
    })
}

fn via_from_str(s: &str) -> ProbeVia {
    match s {
        "rest" => ProbeVia::Rest,
        "rest_fallback" => ProbeVia::RestFallback,
        _ => ProbeVia::Mcp,
    }
}

fn failure_from(class: Option<String>, message: Option<String>) -> Option<Failure> {
    let class = class.as_deref().and_then(class_from_str)?;
    Some(Failure::new(class, message.unwrap_or_default()))
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

fn insert_event(c: &Connection, e: &EventRecord) -> rusqlite::Result<()> {
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

    /// Probe results since `since`, oldest first: what the health windows are rebuilt from.
    pub async fn probes_since(
        &self,
        since: UnixMs,
    ) -> Result<Vec<(ConnectionKey, ProbeResult)>, StoreError> {
        // Rows are written in about time order, so the rows since `since` are a run of ids:
        // read them in table order (no index lookup per row), then order by time here.
        let mut rows = self.probes_where(SINCE, since).await?;
        rows.sort_by_key(|(id, _, p)| (p.at, *id));
        Ok(rows.into_iter().map(|(_, k, p)| (k, p)).collect())
    }

    /// `probes_since`, grouped by connection on the store's thread: a start looks each
    /// connection up once, and a row's names are read without being copied (at 10,000
    /// connections the last five minutes are 100,000 rows).
    pub async fn probes_since_by_key(
        &self,
        since: UnixMs,
    ) -> Result<HashMap<ConnectionKey, Vec<ProbeResult>>, StoreError> {
        self.call(move |c| {
            let mut stmt =
                c.prepare_cached(&format!("SELECT {PROBE_COLUMNS} FROM probes WHERE {SINCE}"))?;
            let mut rows = stmt.query([since])?;
            // Room for a 30 s schedule's five minutes at once: growing 10,000 small vectors
            // of 200-byte results a step at a time was most of a 10,000-connection start's
            // replay.
            const RUN: usize = 16;
            let mut by_name: HashMap<String, HashMap<String, Vec<ProbeResult>>> = HashMap::new();
            let mut runs = 0;
            while let Some(r) = rows.next()? {
                let probe = probe_of(r)?;
                let connector = r.get_ref(0)?.as_str().unwrap_or("");
                let account = r.get_ref(1)?.as_str().unwrap_or("");
                let accounts = match by_name.get_mut(connector) {
                    Some(a) => a,
                    None => by_name.entry(connector.to_owned()).or_default(),
                };
                match accounts.get_mut(account) {
                    Some(run) => run.push(probe),
                    None => {
                        let mut run = Vec::with_capacity(RUN);
                        run.push(probe);
                        accounts.insert(account.to_owned(), run);
                        runs += 1;
                    }
                }
            }
            let mut out = HashMap::with_capacity(runs);
            for (connector, accounts) in by_name {
                for (account, mut run) in accounts {
                    // Rows came in id order; a stable sort by time keeps it among equal times.
                    run.sort_by_key(|p| p.at);
                    out.insert(ConnectionKey::new(connector.clone(), account), run);
                }
            }
            Ok(out)
        })
        .await
    }

    /// The newest `per` probes before `before` of each of `keys`, oldest first: for the
    /// connections a start's replay found nothing for (probed less often than the replay
    /// reaches back, backed off, or the process was down a while), so they still show their
    /// last probe and its verdict. One index lookup each.
    pub async fn last_probes(
        &self,
        keys: Vec<ConnectionKey>,
        per: u32,
        before: UnixMs,
    ) -> Result<Vec<(ConnectionKey, Vec<ProbeResult>)>, StoreError> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {PROBE_COLUMNS} FROM probes
                 WHERE connector = ?1 AND account = ?2 AND at < ?3 ORDER BY at DESC LIMIT ?4"
            ))?;
            let mut out = Vec::new();
            for key in keys {
                let mut run = stmt
                    .query_map(params![key.connector, key.account, before, per], |r| {
                        probe_of(r)
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                if run.is_empty() {
                    continue;
                }
                run.reverse();
                out.push((key, run));
            }
            Ok(out)
        })
        .await
    }

    /// Probe results written after row `after` (a `probe_cursor`), in the order they were
    /// written, each with its row id. What a follower reads: a probe is stamped when it starts
    /// and written when it ends, so a slow one (a timeout: a connection going down) lands
    /// after faster ones that started later, and a cursor on `at` skipped it.
    pub async fn probes_after(
        &self,
        after: i64,
    ) -> Result<Vec<(i64, ConnectionKey, ProbeResult)>, StoreError> {
        self.probes_where("id > ?1 ORDER BY id", after).await
    }

    /// The newest probe row's id (0 when there is none): where following starts.
    pub async fn probe_cursor(&self) -> Result<i64, StoreError> {
        self.call(|c| Ok(c.query_row("SELECT COALESCE(MAX(id), 0) FROM probes", [], |r| r.get(0))?))
            .await
    }

    async fn probes_where(
        &self,
        condition: &'static str,
        value: i64,
    ) -> Result<Vec<(i64, ConnectionKey, ProbeResult)>, StoreError> {
        self.call(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {PROBE_COLUMNS} FROM probes WHERE {condition}"
            ))?;
            let rows = stmt.query_map([value], |r| {
                Ok((
                    r.get::<_, i64>(10)?,
                    ConnectionKey::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    probe_of(r)?,
                ))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    pub async fn append_event(&self, e: EventRecord) -> Result<(), StoreError> {
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
        assert_eq!(
            store.probes_since(0).await.unwrap(),
            vec![(key.clone(), p.clone())]
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
