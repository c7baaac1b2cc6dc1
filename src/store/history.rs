//! Observations over time: the raw rows (probes, and the event log's refreshes and tool calls)
//! roll up into hourly tallies with mergeable latency sketches; raw probes are pruned after a
//! while, rollups after longer. Windows are answered from rollups for whole hours before the
//! rollup watermark and from raw rows after it, so every process (leader, follower, one-shot
//! `status`) reads the same numbers from the same file.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError};
use crate::domain::{ConnectionKey, UnixMs};
use crate::health::history::{HOUR_MS, History, Kind, Span, Tally};
use observations::{each_raw, each_rollup};

const WATERMARK: &str = "rollup_watermark";
/// An hour is rolled up this long after it ends, so a probe that was in flight at the boundary
/// still lands in it.
const GRACE_MS: i64 = 60_000;
/// Hours rolled up per call: a first run over a long-lived database works through its backlog
/// in bounded steps instead of one long transaction.
const MAX_HOURS_PER_RUN: i64 = 48;
/// Rows deleted per prune step: a few ms of the store's time, so token saves and probe writes
/// never wait long behind it (a whole hour of 10,000 connections' probes is 1.2 M rows).
const PRUNE_ROWS_PER_STEP: i64 = 5_000;

/// How long each tier is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub raw_ms: i64,
    pub rollup_ms: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            raw_ms: 48 * HOUR_MS,
            rollup_ms: 35 * 24 * HOUR_MS,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollupReport {
    pub hours: i64,
    pub rollup_rows: u64,
    pub probes_pruned: u64,
    pub rollups_pruned: u64,
    /// More hours are waiting: call again.
    pub behind: bool,
}

fn floor_hour(t: UnixMs) -> UnixMs {
    t.div_euclid(HOUR_MS) * HOUR_MS
}

fn ceil_hour(t: UnixMs) -> UnixMs {
    floor_hour(t.saturating_add(HOUR_MS - 1))
}

fn watermark(c: &Connection) -> rusqlite::Result<Option<UnixMs>> {
    c.query_row("SELECT value FROM meta WHERE name = ?1", [WATERMARK], |r| {
        r.get::<_, i64>(0)
    })
    .optional()
}

/// Rolls up every whole hour that ended before `now` (less a grace) and is past the watermark,
/// then prunes by `retention`. Idempotent: an hour is rolled up once, and rerunning rewrites
/// the same rows.
pub(super) fn roll_up(
    c: &mut Connection,
    now: UnixMs,
    retention: Retention,
) -> rusqlite::Result<RollupReport> {
    let mut report = RollupReport::default();
    let target = floor_hour(now - GRACE_MS);
    let start = match watermark(c)? {
        Some(w) => w,
        None => {
            // First run: start at the oldest raw row still worth keeping.
            let oldest: Option<i64> = c.query_row(
                "SELECT MIN(at) FROM (SELECT MIN(at) AS at FROM probes
                                      UNION ALL SELECT MIN(at) FROM events)",
                [],
                |r| r.get(0),
            )?;
            let floor = floor_hour(now - retention.rollup_ms);
            floor_hour(oldest.unwrap_or(target).max(floor))
        }
    };
    let mut hour = start.max(floor_hour(now - retention.rollup_ms));
    let mut budget = rollup::ROWS_PER_STEP;
    while hour < target && report.hours < MAX_HOURS_PER_RUN {
        let tx = c.transaction()?;
        let (written, done) = rollup::hour_step(&tx, hour, &mut budget, now)?;
        report.rollup_rows += written;
        if done {
            hour += HOUR_MS;
            report.hours += 1;
            tx.execute(
                "INSERT INTO meta (name, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![WATERMARK, hour, now],
            )?;
        }
        tx.commit()?;
        if !done {
            report.behind = true;
            return Ok(report);
        }
    }
    // A job that rolled an hour up has had its share; the sums and the prune come next.
    report.behind = hour < target || report.rollup_rows > 0 || report.hours > 0;
    if report.behind {
        return Ok(report);
    }
    // Then, one bounded step per call, so nothing queues behind housekeeping for long: the day
    // and week sums for the new watermark, then the prune.
    if let Some(wm) = watermark(c)?
        && !spans::build_step(c, wm, now)?
    {
        report.behind = true;
        return Ok(report);
    }
    // Raw probes go only once their hour is rolled up, whatever the retention says.
    let raw_cut = (now - retention.raw_ms).min(hour);
    report.probes_pruned = c.execute(
        "DELETE FROM probes WHERE id IN (SELECT id FROM probes WHERE at < ?1 LIMIT ?2)",
        params![raw_cut, PRUNE_ROWS_PER_STEP],
    )? as u64;
    report.rollups_pruned = c.execute(
        "DELETE FROM rollups WHERE (connector, account, kind, start) IN
             (SELECT connector, account, kind, start FROM rollups WHERE start < ?1 LIMIT ?2)",
        params![now - retention.rollup_ms, PRUNE_ROWS_PER_STEP],
    )? as u64;
    report.behind = report.probes_pruned == PRUNE_ROWS_PER_STEP as u64
        || report.rollups_pruned == PRUNE_ROWS_PER_STEP as u64;
    Ok(report)
}

/// What a window read covers: `Kind::ALL`, or `EVENT_KINDS` for a start that needs the
/// token endpoints' figures at once and the probes' (the fleet's raw hour) a moment later.
pub const EVENT_KINDS: [Kind; 2] = [Kind::Refresh, Kind::ToolCall];

/// Where a connection's three kinds sit in `Tallies::entries` (`ABSENT`: not yet found).
const ABSENT: u32 = u32::MAX;

/// Each connection's tallies by kind while a window read adds them up. Rows find theirs through
/// borrowed names, so a fleet's read allocates no key per row, and an entry exists only for a
/// kind a connection has: a REST fleet holds one `[Tally; 4]` a connection, not three (at
/// 10,000 connections the read's transient was half the daemon's peak heap).
#[derive(Default)]
pub(super) struct Tallies {
    entries: Vec<(ConnectionKey, Kind, [Tally; 4])>,
    index: HashMap<String, HashMap<String, [u32; 3]>>,
}

impl Tallies {
    /// The entry of `connector`, `account` and `kind`, made empty when there is none.
    pub(super) fn slot(&mut self, connector: &str, account: &str, kind: Kind) -> usize {
        let k = kind_slot(kind);
        if let Some(&i) = self
            .index
            .get(connector)
            .and_then(|m| m.get(account))
            .map(|ids| &ids[k])
            .filter(|&&i| i != ABSENT)
        {
            return i as usize;
        }
        let i = self.entries.len();
        self.entries.push((
            ConnectionKey::new(connector, account),
            kind,
            Default::default(),
        ));
        if !self.index.contains_key(connector) {
            self.index.insert(connector.to_owned(), HashMap::new());
        }
        if let Some(accounts) = self.index.get_mut(connector) {
            if !accounts.contains_key(account) {
                accounts.insert(account.to_owned(), [ABSENT; 3]);
            }
            if let Some(ids) = accounts.get_mut(account) {
                // A read finds far fewer than 4 billion entries; past that it stops indexing.
                ids[k] = u32::try_from(i).unwrap_or(ABSENT);
            }
        }
        i
    }

    pub(super) fn get(&mut self, i: usize) -> &mut [Tally; 4] {
        &mut self.entries[i].2
    }

    pub(super) fn at(&mut self, connector: &str, account: &str, kind: Kind) -> &mut [Tally; 4] {
        let i = self.slot(connector, account, kind);
        self.get(i)
    }

    fn connections(&self) -> usize {
        self.index.values().map(HashMap::len).sum()
    }
}

fn kind_slot(kind: Kind) -> usize {
    match kind {
        Kind::Probe => 0,
        Kind::Refresh => 1,
        Kind::ToolCall => 2,
    }
}

/// Every window of `kinds` for one connection (or all of them) as of `now`.
pub(super) fn history(
    c: &Connection,
    key: Option<&ConnectionKey>,
    now: UnixMs,
    kinds: &[Kind],
) -> rusqlite::Result<HashMap<ConnectionKey, Arc<History>>> {
    // No rollup yet: every window is answered from raw rows.
    let wm = watermark(c)?.unwrap_or(i64::MIN);
    let starts: Vec<(Span, UnixMs)> = Span::ALL.iter().map(|&s| (s, now - s.ms())).collect();
    let mut tallies = Tallies::default();

    // Raw rows count for a window from its start to its first whole hour, and after the
    // watermark. Fetch the union of those stretches once.
    let mut stretches: Vec<(UnixMs, UnixMs)> = starts
        .iter()
        .map(|&(_, s)| (s, ceil_hour(s).min(wm.max(s))))
        .filter(|(a, b)| a < b)
        .collect();
    let earliest = starts.iter().map(|&(_, s)| s).min().unwrap_or(now);
    stretches.push((wm.max(earliest), i64::MAX));
    stretches.sort();
    let mut merged: Vec<(UnixMs, UnixMs)> = Vec::new();
    for (a, b) in stretches {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    let bounds: Vec<(UnixMs, UnixMs)> = starts.iter().map(|&(_, s)| (s, ceil_hour(s))).collect();
    let probes_too = kinds.contains(&Kind::Probe);
    for (from, to) in merged {
        each_raw(
            c,
            key,
            (from, to),
            probes_too,
            |connector, account, kind, at, ok, ms| {
                let counts = |&(s, whole): &(UnixMs, UnixMs)| {
                    at >= s && at <= now && (at < whole || at >= wm)
                };
                if !bounds.iter().any(counts) {
                    return;
                }
                let spans = tallies.at(connector, account, kind);
                for (slot, bound) in bounds.iter().enumerate() {
                    if counts(bound) {
                        spans[slot].record(ok, ms);
                    }
                }
            },
        )?;
    }

    // Finished hours: from the day and week sums where they are current, else hour by hour.
    if !spans::add_finished_hours(c, key, wm, &starts, kinds, &mut tallies)? {
        each_rollup(
            c,
            key,
            (ceil_hour(earliest), wm),
            kinds,
            |connector, account, kind, start, t| {
                let spans = tallies.at(connector, account, kind);
                for (slot, &(_, s)) in starts.iter().enumerate() {
                    if start >= ceil_hour(s) {
                        spans[slot].merge(&t);
                    }
                }
            },
        )?;
    }

    // Each History (584 bytes) goes where the rows will share it: a map of them by value was
    // 15 MB at 10,000 connections (rounded up to 16,384 slots) beside the rows' copies.
    let mut out: HashMap<ConnectionKey, Arc<History>> =
        HashMap::with_capacity(tallies.connections());
    for (k, kind, spans) in tallies.entries {
        // A kind whose last hour just left the week has a sum of nothing: no history, as before.
        if spans.iter().all(|t| t.samples() == 0) {
            continue;
        }
        // Not shared yet: `make_mut` writes in place.
        let h = Arc::make_mut(out.entry(k).or_insert_with(|| {
            Arc::new(History {
                as_of: now,
                ..History::default()
            })
        }));
        for (slot, &(span, _)) in starts.iter().enumerate() {
            *h.windows_mut(kind).get_mut(span) = spans[slot].figures();
        }
    }
    Ok(out)
}

impl Store {
    /// Rolls up finished hours and prunes by `retention`; the leader calls it periodically.
    pub async fn roll_up(
        &self,
        now: UnixMs,
        retention: Retention,
    ) -> Result<RollupReport, StoreError> {
        self.call(move |c| Ok(roll_up(c, now, retention)?)).await
    }

    /// Success rates and latency percentiles over every window, per connection.
    pub async fn history(
        &self,
        key: Option<&ConnectionKey>,
        now: UnixMs,
    ) -> Result<HashMap<ConnectionKey, Arc<History>>, StoreError> {
        self.history_of(key, now, &Kind::ALL).await
    }

    /// `history` for `kinds` only (`EVENT_KINDS`: without the probes, which are most rows).
    pub async fn history_of(
        &self,
        key: Option<&ConnectionKey>,
        now: UnixMs,
        kinds: &'static [Kind],
    ) -> Result<HashMap<ConnectionKey, Arc<History>>, StoreError> {
        let key = key.cloned();
        self.call(move |c| {
            // One snapshot: the sums, the hours that correct them and the raw rows agree even
            // while another process rolls up or writes.
            let read = c.transaction()?;
            Ok(history(&read, key.as_ref(), now, kinds)?)
        })
        .await
    }
}

#[path = "observations.rs"]
mod observations;
#[path = "rollup.rs"]
mod rollup;
#[path = "spans.rs"]
mod spans;

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
