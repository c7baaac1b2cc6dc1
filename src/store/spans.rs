//! The day and week windows' finished hours, summed once per connection and kind (issue 16).
//!
//! Answering a 7-day window from hourly rollups merges 168 sketches per connection and kind:
//! 2.8 ms a connection, half a minute for 10,000. After each hour the leader sums them into one
//! `rollup_spans` row per connection and kind (in bounded chunks), and a read takes that row and
//! corrects it by the few hours it is off: the hour that left the window since, or the newest
//! hour while the sums are being rebuilt. Sums that are off by more (never built, or the leader
//! far behind) are not used: the caller merges the hours as before.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::Tallies;
use crate::domain::{ConnectionKey, UnixMs};
use crate::health::history::{HOUR_MS, Kind, Span, Tally};

/// The watermark of the last complete build: a connection and kind with no row had nothing in
/// its windows as of then.
const BUILT: &str = "spans_upto";
/// The build in progress: its watermark, and the last connection and kind written.
const BUILDING: &str = "spans_building";
const CURSOR: &str = "spans_cursor";
/// A read corrects a sum by at most this many hours; past that, merging the hours is as cheap.
const MAX_CORRECTION_HOURS: i64 = 4;
/// Hourly rows read per build step: about 120 connections' weeks, a few tens of ms.
const ROWS_PER_STEP: usize = 20_000;
/// What finding a connection and kind and its rows costs, counted in rows.
const LOOKUP_COST: usize = 8;

/// The hours (as `[from, to)`) a sum for `span` at watermark `upto` holds, if it has one.
fn summed(span: Span, upto: UnixMs) -> Option<(UnixMs, UnixMs)> {
    match span {
        Span::Day => Some((upto - 23 * HOUR_MS, upto)),
        Span::Week => Some((upto - 167 * HOUR_MS, upto)),
        Span::FiveMinutes | Span::Hour => None,
    }
}

fn meta_i64(c: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    c.query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
        r.get::<_, i64>(0)
    })
    .optional()
}

fn set_meta(
    c: &Connection,
    name: &str,
    value: rusqlite::types::Value,
    now: UnixMs,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO meta (name, value, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![name, value, now],
    )?;
    Ok(())
}

fn tally(ok: i64, failed: i64, sketch: &[u8]) -> Tally {
    let mut t = Tally {
        ok: ok.max(0) as u64,
        failed: failed.max(0) as u64,
        ..Tally::default()
    };
    // A sketch that does not decode loses its latencies, not its counts.
    let _ = t.latency.merge_encoded(sketch);
    t
}

/// One step of summing the windows for watermark `wm`; `Ok(true)` when they were complete
/// already and nothing was done (a step that completes them answers `false`, so the caller
/// leaves the prune to its next job).
pub(super) fn build_step(c: &mut Connection, wm: UnixMs, now: UnixMs) -> rusqlite::Result<bool> {
    if meta_i64(c, BUILT)? == Some(wm) {
        return Ok(true);
    }
    let tx = c.transaction()?;
    let cursor: (String, String, String) = if meta_i64(&tx, BUILDING)? == Some(wm) {
        tx.query_row("SELECT value FROM meta WHERE name = ?1", [CURSOR], |r| {
            r.get::<_, String>(0)
        })
        .optional()?
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default()
    } else {
        set_meta(&tx, BUILDING, wm.into(), now)?;
        Default::default()
    };
    if sum_from(&tx, wm, cursor, now)? {
        // Rows not rewritten by this build belong to connections with nothing left in a week.
        tx.execute("DELETE FROM rollup_spans WHERE upto <> ?1", [wm])?;
        set_meta(&tx, BUILT, wm.into(), now)?;
    }
    tx.commit()?;
    Ok(false)
}

/// Sums the next connections and kinds after `cursor`, in key order; `Ok(true)` at the end.
fn sum_from(
    tx: &Transaction<'_>,
    wm: UnixMs,
    mut cursor: (String, String, String),
    now: UnixMs,
) -> rusqlite::Result<bool> {
    let (day_from, _) = summed(Span::Day, wm).unwrap_or((wm, wm));
    let (week_from, _) = summed(Span::Week, wm).unwrap_or((wm, wm));
    // The next connection and kind by a seek on the primary key, then its week by another:
    // one range over the key with a filter on `start` would walk all 35 days of rows, and
    // with statistics SQLite prefers a skip-scan that starts over from the first key.
    let mut next = tx.prepare_cached(
        "SELECT connector, account, kind FROM rollups WHERE (connector, account, kind) > (?1, ?2, ?3)
         ORDER BY connector, account, kind LIMIT 1",
    )?;
    let mut read = tx.prepare_cached(
        "SELECT start, ok, failed, sketch FROM rollups
         WHERE connector = ?1 AND account = ?2 AND kind = ?3 AND start >= ?4 AND start < ?5",
    )?;
    let mut put = tx.prepare_cached(
        "INSERT OR REPLACE INTO rollup_spans (connector, account, kind, upto, day_ok, day_failed,
             day_sketch, week_ok, week_failed, week_sketch)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let mut spent = 0usize;
    loop {
        if spent >= ROWS_PER_STEP {
            let value = serde_json::to_string(&cursor).unwrap_or_default();
            set_meta(tx, CURSOR, value.into(), now)?;
            return Ok(false);
        }
        let who: Option<(String, String, String)> = next
            .query_row(params![cursor.0, cursor.1, cursor.2], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let Some(who) = who else {
            return Ok(true);
        };
        let (mut day, mut week) = (Tally::default(), Tally::default());
        let mut rows = read.query(params![who.0, who.1, who.2, week_from, wm])?;
        let mut any = false;
        while let Some(r) = rows.next()? {
            let start: i64 = r.get(0)?;
            let hour = tally(r.get(1)?, r.get(2)?, r.get_ref(3)?.as_blob().unwrap_or(&[]));
            if start >= day_from {
                day.merge(&hour);
            }
            week.merge(&hour);
            spent += 1;
            any = true;
        }
        drop(rows);
        // A connection and kind with nothing in the week has no sum (its hours are older).
        if any {
            put.execute(params![
                who.0,
                who.1,
                who.2,
                wm,
                day.ok as i64,
                day.failed as i64,
                day.latency.encode(),
                week.ok as i64,
                week.failed as i64,
                week.latency.encode(),
            ])?;
        }
        spent += LOOKUP_COST;
        cursor = who;
    }
}

/// What a slot's sum holds and what its window needs, as hours to add and hours to take out.
struct Correction {
    add: Vec<UnixMs>,
    take: Vec<UnixMs>,
}

fn hours(from: UnixMs, to: UnixMs) -> impl Iterator<Item = UnixMs> {
    (0..)
        .map(move |i| from + i * HOUR_MS)
        .take_while(move |&h| h < to)
}

/// The correction from the hours `held` to the hours `needed` (both `[from, to)`).
fn correction(held: (UnixMs, UnixMs), needed: (UnixMs, UnixMs)) -> Correction {
    let inside = |h: UnixMs, (a, b): (UnixMs, UnixMs)| h >= a && h < b;
    Correction {
        add: hours(needed.0, needed.1)
            .filter(|&h| !inside(h, held))
            .collect(),
        take: hours(held.0, held.1)
            .filter(|&h| !inside(h, needed))
            .collect(),
    }
}

/// Adds every slot's finished hours (`[ceil_hour(start), wm)`) to `tallies` from the sums.
/// `Ok(false)` (and nothing added) when the sums cannot answer: the caller merges the hours.
/// The caller reads in one transaction, so the two passes over the sums see the same rows.
pub(super) fn add_finished_hours(
    c: &Connection,
    key: Option<&ConnectionKey>,
    wm: UnixMs,
    starts: &[(Span, UnixMs)],
    kinds: &[Kind],
    tallies: &mut Tallies,
) -> rusqlite::Result<bool> {
    let Some(built) = meta_i64(c, BUILT)? else {
        return Ok(false);
    };
    let needed: Vec<(UnixMs, UnixMs)> = starts
        .iter()
        .map(|&(_, s)| (super::ceil_hour(s).min(wm), wm))
        .collect();

    // First the watermarks the sums were taken at (mostly one or two): whether corrections can
    // answer is known before anything is added, without holding every connection's sums.
    let mut uptos = vec![built];
    {
        let mut stmt = match key {
            Some(_) => c.prepare_cached(
                "SELECT DISTINCT kind, upto FROM rollup_spans WHERE connector = ?1 AND account = ?2",
            )?,
            None => c.prepare_cached("SELECT DISTINCT kind, upto FROM rollup_spans")?,
        };
        let mut rows = match key {
            Some(k) => stmt.query(params![k.connector, k.account])?,
            None => stmt.query([])?,
        };
        while let Some(r) = rows.next()? {
            if Kind::parse(r.get_ref(0)?.as_str().unwrap_or("")).is_some_and(|k| kinds.contains(&k))
            {
                uptos.push(r.get(1)?);
            }
        }
    }
    uptos.sort_unstable();
    uptos.dedup();
    let mut corrections: HashMap<UnixMs, Vec<Correction>> = HashMap::new();
    for upto in uptos {
        let per_slot: Vec<Correction> = starts
            .iter()
            .zip(&needed)
            .map(|(&(span, _), &need)| correction(summed(span, upto).unwrap_or((wm, wm)), need))
            .collect();
        let off: usize = per_slot.iter().map(|c| c.add.len() + c.take.len()).sum();
        if off as i64 > MAX_CORRECTION_HOURS * 2 {
            return Ok(false);
        }
        corrections.insert(upto, per_slot);
    }
    let mut wanted: Vec<UnixMs> = corrections
        .values()
        .flatten()
        .flat_map(|c| c.add.iter().chain(&c.take).copied())
        .collect();
    wanted.sort_unstable();
    wanted.dedup();

    let mut stmt = match key {
        Some(_) => c.prepare_cached(
            "SELECT connector, account, kind, upto, day_ok, day_failed, day_sketch,
                    week_ok, week_failed, week_sketch
             FROM rollup_spans WHERE connector = ?1 AND account = ?2",
        )?,
        None => c.prepare_cached(
            "SELECT connector, account, kind, upto, day_ok, day_failed, day_sketch,
                    week_ok, week_failed, week_sketch FROM rollup_spans",
        )?,
    };
    let mut rows = match key {
        Some(k) => stmt.query(params![k.connector, k.account])?,
        None => stmt.query([])?,
    };
    // The watermark of each entry's sums, where it is not `built`.
    let mut upto_of: HashMap<usize, UnixMs> = HashMap::new();
    while let Some(r) = rows.next()? {
        let Some(kind) = Kind::parse(r.get_ref(2)?.as_str().unwrap_or("")) else {
            continue;
        };
        if !kinds.contains(&kind) {
            continue;
        }
        let blob = |i| r.get_ref(i).map(|v| v.as_blob().unwrap_or(&[]));
        let day = tally(r.get(4)?, r.get(5)?, blob(6)?);
        let week = tally(r.get(7)?, r.get(8)?, blob(9)?);
        let upto: UnixMs = r.get(3)?;
        let i = tallies.slot(
            r.get_ref(0)?.as_str().unwrap_or(""),
            r.get_ref(1)?.as_str().unwrap_or(""),
            kind,
        );
        let spans = tallies.get(i);
        for (slot, &(span, _)) in starts.iter().enumerate() {
            match span {
                Span::Day => spans[slot].merge(&day),
                Span::Week => spans[slot].merge(&week),
                Span::FiveMinutes | Span::Hour => {}
            }
        }
        if upto != built {
            upto_of.insert(i, upto);
        }
    }
    for hour in wanted {
        super::each_rollup(
            c,
            key,
            (hour, hour + HOUR_MS),
            kinds,
            |connector, account, kind, start, t| {
                let i = tallies.slot(connector, account, kind);
                let upto = upto_of.get(&i).copied().unwrap_or(built);
                // A sum written between the two passes (the read is one snapshot, so none is).
                let Some(fixes) = corrections.get(&upto) else {
                    return;
                };
                let spans = tallies.get(i);
                for (slot, fix) in fixes.iter().enumerate() {
                    if fix.add.contains(&start) {
                        spans[slot].merge(&t);
                    } else if fix.take.contains(&start) {
                        spans[slot].subtract(&t);
                    }
                }
            },
        )?;
    }
    Ok(true)
}
