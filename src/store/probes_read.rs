//! Reading probe results back: a start's replay (the last minutes, grouped by connection, and
//! the last few of a connection with none in them) and a follower's reads by row id.

use std::collections::HashMap;

use rusqlite::params;

use super::log::class_from_str;
use super::{Store, StoreError};
use crate::domain::{ConnectionKey, Failure, ProbeResult, ProbeVia, UnixMs};

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

/// A probe as a start's replay holds it until it is recorded. At 10,000 connections the last
/// five minutes are 100,000 probes, nearly all passed: a passed one is its time, path and
/// latency (24 bytes, nothing on the heap) rather than a 184-byte result with two empty
/// failures; a failed one is kept whole.
#[derive(Debug, Clone, PartialEq)]
pub enum Replayed {
    Passed {
        at: UnixMs,
        via: ProbeVia,
        latency_ms: u64,
    },
    Whole(Box<ProbeResult>),
}

impl Replayed {
    pub fn at(&self) -> UnixMs {
        match self {
            Self::Passed { at, .. } => *at,
            Self::Whole(p) => p.at,
        }
    }

    pub fn into_result(self) -> ProbeResult {
        match self {
            Self::Passed {
                at,
                via,
                latency_ms,
            } => ProbeResult {
                at,
                via,
                latency_ms,
                failure: None,
                primary_failure: None,
            },
            Self::Whole(p) => *p,
        }
    }
}

impl From<ProbeResult> for Replayed {
    fn from(p: ProbeResult) -> Self {
        if p.failure.is_none() && p.primary_failure.is_none() {
            Self::Passed {
                at: p.at,
                via: p.via,
                latency_ms: p.latency_ms,
            }
        } else {
            Self::Whole(Box::new(p))
        }
    }
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

impl Store {
    /// Each connection's probe results since `since`, oldest first: what a start replays into
    /// its windows. Grouped by connection on the store's thread, so the start looks each
    /// connection up once, and a row's names are read without being copied (at 10,000
    /// connections the last five minutes are 100,000 rows).
    pub async fn probes_since_by_key(
        &self,
        since: UnixMs,
    ) -> Result<HashMap<ConnectionKey, Vec<Replayed>>, StoreError> {
        self.call(move |c| {
            let mut stmt =
                c.prepare_cached(&format!("SELECT {PROBE_COLUMNS} FROM probes WHERE {SINCE}"))?;
            let mut rows = stmt.query([since])?;
            // Room for a 30 s schedule's five minutes at once, so a run rarely grows.
            const RUN: usize = 16;
            // One lookup per row, on both names at once, written into one reused buffer: the
            // names are read without being copied unless the connection is new.
            let mut run_of: HashMap<String, usize> = HashMap::new();
            let mut runs: Vec<(ConnectionKey, Vec<Replayed>)> = Vec::new();
            let mut name = String::new();
            while let Some(r) = rows.next()? {
                // A passed row reads no failure text, so this allocates nothing for it.
                let probe = Replayed::from(probe_of(r)?);
                let connector = r.get_ref(0)?.as_str().unwrap_or("");
                let account = r.get_ref(1)?.as_str().unwrap_or("");
                name.clear();
                name.push_str(connector);
                // A unit separator: no connector id or account name holds one.
                name.push('\u{1f}');
                name.push_str(account);
                match run_of.get(name.as_str()) {
                    Some(&i) => runs[i].1.push(probe),
                    None => {
                        run_of.insert(name.clone(), runs.len());
                        let mut run = Vec::with_capacity(RUN);
                        run.push(probe);
                        runs.push((ConnectionKey::new(connector, account), run));
                    }
                }
            }
            drop(run_of);
            Ok(runs
                .into_iter()
                .map(|(key, mut run)| {
                    // Rows came in id order; a stable sort by time keeps it among equal times.
                    run.sort_by_key(Replayed::at);
                    (key, run)
                })
                .collect())
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
    ) -> Result<Vec<(ConnectionKey, Vec<Replayed>)>, StoreError> {
        self.call(move |c| {
            // A new store (or one whose probes all came since) answers for the whole fleet
            // at once: a lookup per connection for nothing was 130 ms of a 10,000-connection
            // first start.
            let older: bool = c
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM probes INDEXED BY probes_by_time_covering
                     WHERE at < ?1)",
                )?
                .query_row([before], |r| r.get(0))?;
            if !older {
                return Ok(Vec::new());
            }
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {PROBE_COLUMNS} FROM probes
                 WHERE connector = ?1 AND account = ?2 AND at < ?3 ORDER BY at DESC LIMIT ?4"
            ))?;
            let mut out = Vec::new();
            for key in keys {
                let mut run = stmt
                    .query_map(params![key.connector, key.account, before, per], |r| {
                        probe_of(r).map(Replayed::from)
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
}
