//! Reading observations for the windows: raw probes and events in a time range, and the
//! hourly rollups, each handed to a callback row by row with its names borrowed.

use rusqlite::{Connection, params};

use crate::domain::{ConnectionKey, UnixMs};
use crate::health::history::{Kind, Tally};

/// Raw observations in `[from, to)`, `f(connector, account, kind, at, ok, latency)` for each.
/// Names are borrowed from the row: a fleet's hour is a million rows, and two strings
/// allocated for each cost more than the rest of the read.
pub(super) fn each_raw(
    c: &Connection,
    key: Option<&ConnectionKey>,
    (from, to): (UnixMs, UnixMs),
    probes_too: bool,
    mut f: impl FnMut(&str, &str, Kind, UnixMs, bool, Option<u64>),
) -> rusqlite::Result<()> {
    if probes_too {
        each_raw_probe(c, key, from, to, &mut f)?;
    }
    each_raw_event(c, key, from, to, f)
}

fn each_raw_probe(
    c: &Connection,
    key: Option<&ConnectionKey>,
    from: UnixMs,
    to: UnixMs,
    f: &mut impl FnMut(&str, &str, Kind, UnixMs, bool, Option<u64>),
) -> rusqlite::Result<()> {
    // Two statements rather than `?3 IS NULL OR ...`, which keeps SQLite from the per-connection
    // index: one connection's rows come from (connector, account, at), the fleet's from (at).
    let mut probes = match key {
        Some(_) => c.prepare_cached(
            "SELECT connector, account, at, ok, latency_ms FROM probes
             WHERE connector = ?3 AND account = ?4 AND at >= ?1 AND at < ?2",
        )?,
        // Through `probes_by_time_covering`: an index-only walk, with no table lookup per row
        // (two hours of a 10,000-connection fleet is 2.4 M rows).
        None => c.prepare_cached(
            "SELECT connector, account, at, ok, latency_ms FROM probes WHERE at >= ?1 AND at < ?2",
        )?,
    };
    let mut rows = match key {
        Some(k) => probes.query(params![from, to, k.connector, k.account])?,
        None => probes.query(params![from, to])?,
    };
    while let Some(r) = rows.next()? {
        let latency = r.get::<_, i64>(4)?.max(0) as u64;
        f(
            r.get_ref(0)?.as_str().unwrap_or(""),
            r.get_ref(1)?.as_str().unwrap_or(""),
            Kind::Probe,
            r.get(2)?,
            r.get(3)?,
            Some(latency),
        );
    }
    Ok(())
}

fn each_raw_event(
    c: &Connection,
    key: Option<&ConnectionKey>,
    from: UnixMs,
    to: UnixMs,
    mut f: impl FnMut(&str, &str, Kind, UnixMs, bool, Option<u64>),
) -> rusqlite::Result<()> {
    // A tool that ran and answered `isError` is a failed call from the caller's side.
    let mut events = match key {
        Some(_) => c.prepare_cached(
            "SELECT connector, account, kind, at, outcome, latency_ms FROM events
             WHERE connector = ?3 AND account = ?4 AND at >= ?1 AND at < ?2
               AND kind IN ('refresh', 'tool_call') AND outcome IN ('ok', 'failed', 'tool_error')",
        )?,
        None => c.prepare_cached(
            "SELECT connector, account, kind, at, outcome, latency_ms FROM events
             WHERE at >= ?1 AND at < ?2 AND kind IN ('refresh', 'tool_call')
               AND outcome IN ('ok', 'failed', 'tool_error') AND connector IS NOT NULL",
        )?,
    };
    let mut rows = match key {
        Some(k) => events.query(params![from, to, k.connector, k.account])?,
        None => events.query(params![from, to])?,
    };
    while let Some(r) = rows.next()? {
        let Some(kind) = Kind::parse(r.get_ref(2)?.as_str().unwrap_or("")) else {
            continue;
        };
        f(
            r.get_ref(0)?.as_str().unwrap_or(""),
            r.get_ref(1)?.as_str().unwrap_or(""),
            kind,
            r.get(3)?,
            r.get_ref(4)?.as_str().unwrap_or("") == "ok",
            r.get::<_, Option<i64>>(5)?.map(|v| v.max(0) as u64),
        );
    }
    Ok(())
}

/// Hourly rollups with `start` in `[from, to)`, `f(connector, account, kind, start, tally)`
/// for each (names borrowed, as in `each_raw`).
pub(super) fn each_rollup(
    c: &Connection,
    key: Option<&ConnectionKey>,
    (from, to): (UnixMs, UnixMs),
    kinds: &[Kind],
    mut f: impl FnMut(&str, &str, Kind, UnixMs, Tally),
) -> rusqlite::Result<()> {
    let mut stmt = match key {
        Some(_) => c.prepare_cached(
            "SELECT connector, account, kind, start, ok, failed, sketch FROM rollups
             WHERE connector = ?3 AND account = ?4 AND start >= ?1 AND start < ?2",
        )?,
        None => c.prepare_cached(
            "SELECT connector, account, kind, start, ok, failed, sketch FROM rollups
             WHERE start >= ?1 AND start < ?2",
        )?,
    };
    let mut rows = match key {
        Some(k) => stmt.query(params![from, to, k.connector, k.account])?,
        None => stmt.query(params![from, to])?,
    };
    while let Some(r) = rows.next()? {
        let Some(kind) = Kind::parse(r.get_ref(2)?.as_str().unwrap_or("")) else {
            continue;
        };
        if !kinds.contains(&kind) {
            continue;
        }
        let mut t = Tally {
            ok: r.get::<_, i64>(4)?.max(0) as u64,
            failed: r.get::<_, i64>(5)?.max(0) as u64,
            ..Tally::default()
        };
        // A sketch that does not decode loses its latencies, not its counts.
        let _ = t
            .latency
            .merge_encoded(r.get_ref(6)?.as_blob().unwrap_or(&[]));
        f(
            r.get_ref(0)?.as_str().unwrap_or(""),
            r.get_ref(1)?.as_str().unwrap_or(""),
            kind,
            r.get(3)?,
            t,
        );
    }
    Ok(())
}
