//! Rolling an hour up connection by connection, in bounded steps (issue 16). An hour of 10,000
//! connections' probes is 1.2 M raw rows: read in one job it held the store thread for seconds,
//! and token saves and probe writes queued behind it. A step reads about `ROWS_PER_STEP` rows
//! through the per-connection indexes and leaves a cursor in `meta` for the next one.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::domain::{ConnectionKey, UnixMs};
use crate::health::history::{HOUR_MS, Kind, Tally};

/// Where the hour being rolled up stands: `[hour, connector, account]` of the last connection
/// written.
const CURSOR: &str = "rollup_cursor";
/// Raw rows read per step, a few tens of ms of the store's time.
pub(super) const ROWS_PER_STEP: usize = 20_000;
/// What finding a connection and its rows costs, counted in rows.
const LOOKUP_COST: usize = 8;

/// The connection after `after` (in key order) with raw rows of any time: probes or events.
fn next_connection(
    c: &Connection,
    after: &(String, String),
) -> rusqlite::Result<Option<(String, String)>> {
    let mut best: Option<(String, String)> = None;
    for sql in [
        "SELECT connector, account FROM probes WHERE (connector, account) > (?1, ?2)
         ORDER BY connector, account LIMIT 1",
        "SELECT connector, account FROM events WHERE (connector, account) > (?1, ?2)
         ORDER BY connector, account LIMIT 1",
    ] {
        let found: Option<(String, String)> = c
            .prepare_cached(sql)?
            .query_row(params![after.0, after.1], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some(f) = found
            && best.as_ref().is_none_or(|b| f < *b)
        {
            best = Some(f);
        }
    }
    Ok(best)
}

/// Rolls up `hour` from where the last step left it, spending `budget`; answers the rows
/// written and whether the hour is done.
pub(super) fn hour_step(
    tx: &Transaction<'_>,
    hour: UnixMs,
    budget: &mut usize,
    now: UnixMs,
) -> rusqlite::Result<(u64, bool)> {
    let saved: Option<(i64, String, String)> = tx
        .query_row("SELECT value FROM meta WHERE name = ?1", [CURSOR], |r| {
            r.get::<_, String>(0)
        })
        .optional()?
        .and_then(|v| serde_json::from_str(&v).ok());
    let mut after = match saved {
        Some((h, connector, account)) if h == hour => (connector, account),
        _ => Default::default(),
    };
    let mut put = tx.prepare_cached(
        "INSERT OR REPLACE INTO rollups (connector, account, kind, start, ok, failed, sketch)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut written = 0u64;
    loop {
        if *budget == 0 {
            let value = serde_json::to_string(&(hour, &after.0, &after.1)).unwrap_or_default();
            tx.execute(
                "INSERT INTO meta (name, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![CURSOR, value, now],
            )?;
            return Ok((written, false));
        }
        let Some(next) = next_connection(tx, &after)? else {
            tx.execute("DELETE FROM meta WHERE name = ?1", [CURSOR])?;
            return Ok((written, true));
        };
        let key = ConnectionKey::new(next.0.clone(), next.1.clone());
        let mut tallies: HashMap<Kind, Tally> = HashMap::new();
        let mut rows = 0usize;
        super::each_raw(
            tx,
            Some(&key),
            (hour, hour + HOUR_MS),
            true,
            |_, _, kind, _, ok, ms| {
                tallies.entry(kind).or_default().record(ok, ms);
                rows += 1;
            },
        )?;
        for (kind, t) in &tallies {
            put.execute(params![
                key.connector,
                key.account,
                kind.as_str(),
                hour,
                t.ok as i64,
                t.failed as i64,
                t.latency.encode(),
            ])?;
            written += 1;
        }
        *budget = budget.saturating_sub(rows + LOOKUP_COST);
        after = next;
    }
}
