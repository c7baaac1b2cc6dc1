use rusqlite::{Connection, OptionalExtension, params};

use super::*;
use crate::health::history::{Figures, MINUTE_MS};
use crate::health::sketch::RELATIVE_ERROR;

const DAY_MS: i64 = 24 * HOUR_MS;
/// A fixed "now" a little past an hour boundary, so windows start mid-hour.
const NOW: i64 = 1_000 * DAY_MS + 10 * HOUR_MS + 17 * MINUTE_MS + 4_321;

/// Every kind, as the engine's periodic read asks.
fn history(
    c: &Connection,
    key: Option<&ConnectionKey>,
    now: UnixMs,
) -> rusqlite::Result<HashMap<ConnectionKey, Arc<History>>> {
    super::history(c, key, now, &Kind::ALL)
}

fn db() -> Connection {
    let mut c = Connection::open_in_memory().unwrap();
    crate::store::migrations::migrate(&mut c).unwrap();
    c
}

fn probe(c: &Connection, who: &str, at: i64, ok: bool, ms: i64) {
    c.execute(
        "INSERT INTO probes (connector, account, at, via, ok, latency_ms) VALUES (?1, 'default', ?2, 'rest', ?3, ?4)",
        params![who, at, ok, ms],
    )
    .unwrap();
}

fn event(c: &Connection, who: &str, kind: &str, at: i64, outcome: &str, ms: i64) {
    c.execute(
        "INSERT INTO events (at, connector, account, kind, actor, outcome, latency_ms) VALUES (?1, ?2, 'default', ?3, 'scheduler', ?4, ?5)",
        params![at, who, kind, outcome, ms],
    )
    .unwrap();
}

fn key(who: &str) -> ConnectionKey {
    ConnectionKey::new(who, "default")
}

/// A probe every 30 s for 8 days: one failure in ten, latency growing with the minute.
fn fleet_week(c: &Connection) -> Vec<(i64, bool, i64)> {
    let mut all = Vec::new();
    let mut at = NOW - 8 * DAY_MS;
    let mut i = 0i64;
    while at <= NOW {
        let ok = i % 10 != 3;
        let ms = 5 + (i % 97) * 3;
        probe(c, "api", at, ok, ms);
        all.push((at, ok, ms));
        at += 30_000;
        i += 1;
    }
    all
}

fn exact(all: &[(i64, bool, i64)], span: Span, now: i64) -> (u64, u64, Vec<i64>) {
    let rows: Vec<_> = all
        .iter()
        .filter(|(at, _, _)| *at >= now - span.ms() && *at <= now)
        .collect();
    let ok = rows.iter().filter(|r| r.1).count() as u64;
    let mut lat: Vec<i64> = rows.iter().map(|r| r.2).collect();
    lat.sort();
    (ok, rows.len() as u64 - ok, lat)
}

fn assert_close(f: &Figures, ok: u64, failed: u64, lat: &[i64], what: &str) {
    assert_eq!(f.samples, ok + failed, "{what}: samples");
    assert_eq!(
        f.success_rate,
        Some(ok as f64 / (ok + failed) as f64),
        "{what}: rate"
    );
    for (q, got) in [(0.5, f.p50_ms), (0.95, f.p95_ms), (0.99, f.p99_ms)] {
        let want = lat[(q * (lat.len() - 1) as f64).floor() as usize] as f64;
        let got = got.unwrap() as f64;
        // The sketch's bound, plus rounding to whole milliseconds.
        assert!(
            (got - want).abs() <= want * RELATIVE_ERROR + 0.5,
            "{what}: p{q} {got} vs exact {want}"
        );
    }
}

#[test]
fn raw_windows_before_any_rollup() {
    let c = db();
    let all = fleet_week(&c);
    let h = history(&c, Some(&key("api")), NOW).unwrap();
    let h = &h[&key("api")];
    for span in Span::ALL {
        let (ok, failed, lat) = exact(&all, span, NOW);
        assert_close(h.probes.get(span), ok, failed, &lat, span.label());
    }
    assert_eq!(h.refreshes.hour.samples, 0);
    assert_eq!(h.refreshes.hour.success_rate, None);
}

#[test]
fn rollup_keeps_windows_and_prunes_raw() {
    let mut c = db();
    let all = fleet_week(&c);
    let mut report = roll_up(&mut c, NOW, Retention::default()).unwrap();
    while report.behind {
        report = roll_up(&mut c, NOW, Retention::default()).unwrap();
    }
    let raw_left: i64 = c
        .query_row("SELECT MIN(at) FROM probes", [], |r| r.get(0))
        .unwrap();
    assert!(
        raw_left >= NOW - 48 * HOUR_MS,
        "raw older than 48 h is pruned"
    );
    let h = history(&c, Some(&key("api")), NOW).unwrap();
    let h = &h[&key("api")];
    // Within the raw horizon every window is exact in its counts.
    for span in [Span::FiveMinutes, Span::Hour, Span::Day] {
        let (ok, failed, lat) = exact(&all, span, NOW);
        assert_close(h.probes.get(span), ok, failed, &lat, span.label());
    }
    // The week's first partial hour is gone with the raw rows: the week loses at most that hour.
    let (ok, failed, _) = exact(&all, Span::Week, NOW);
    let week = h.probes.week;
    assert!(week.samples <= ok + failed && week.samples + 120 >= ok + failed);
    let rate = week.success_rate.unwrap();
    assert!((rate - ok as f64 / (ok + failed) as f64).abs() < 0.01);
}

#[test]
fn refreshes_and_tool_calls_come_from_the_event_log() {
    let mut c = db();
    event(&c, "api", "refresh", NOW - 3 * DAY_MS, "ok", 40);
    event(&c, "api", "refresh", NOW - 2 * MINUTE_MS, "failed", 900);
    event(&c, "api", "refresh", NOW - MINUTE_MS, "ok", 50);
    event(&c, "api", "refresh", NOW - MINUTE_MS, "skipped", 0);
    event(
        &c,
        "api",
        "tool_call",
        NOW - 10 * MINUTE_MS,
        "tool_error",
        7,
    );
    event(&c, "api", "tool_call", NOW - 10 * MINUTE_MS, "ok", 9);
    event(&c, "api", "probe", NOW - MINUTE_MS, "ok", 9);
    roll_up(&mut c, NOW, Retention::default()).unwrap();
    let h = history(&c, None, NOW).unwrap();
    let h = &h[&key("api")];
    assert_eq!(h.refreshes.five_minutes.samples, 2);
    assert_eq!(h.refreshes.five_minutes.success_rate, Some(0.5));
    assert_eq!(h.refreshes.day.samples, 2);
    assert_eq!(
        h.refreshes.week.samples, 3,
        "the 3-day-old refresh is in the week via rollups"
    );
    assert_eq!(h.tool_calls.hour.samples, 2);
    assert_eq!(h.tool_calls.hour.success_rate, Some(0.5));
    assert_eq!(h.probes.hour.samples, 0, "probe events are not probes");
}

#[test]
fn rollup_is_idempotent_and_bounded_per_run() {
    let mut c = db();
    fleet_week(&c);
    let first = roll_up(&mut c, NOW, Retention::default()).unwrap();
    assert_eq!(first.hours, MAX_HOURS_PER_RUN);
    assert!(first.behind);
    // Raw rows of hours not yet rolled up stay, even past the raw retention.
    let oldest: i64 = c
        .query_row("SELECT MIN(at) FROM probes", [], |r| r.get(0))
        .unwrap();
    assert!(oldest < NOW - 48 * HOUR_MS);
    let mut n = 0;
    while roll_up(&mut c, NOW, Retention::default()).unwrap().behind {
        n += 1;
        assert!(n < 10);
    }
    let before = history(&c, None, NOW).unwrap();
    let again = roll_up(&mut c, NOW, Retention::default()).unwrap();
    assert_eq!(again.hours, 0);
    assert_eq!(history(&c, None, NOW).unwrap(), before);
}

#[test]
fn rollups_expire_and_bad_sketches_keep_counts() {
    let mut c = db();
    fleet_week(&c);
    let short = Retention {
        raw_ms: 2 * HOUR_MS,
        rollup_ms: 3 * DAY_MS,
    };
    while roll_up(&mut c, NOW, short).unwrap().behind {}
    let oldest: i64 = c
        .query_row("SELECT MIN(start) FROM rollups", [], |r| r.get(0))
        .unwrap();
    assert!(oldest >= NOW - 3 * DAY_MS);
    c.execute("UPDATE rollups SET sketch = x'ff00'", [])
        .unwrap();
    let h = history(&c, None, NOW).unwrap();
    let day = h[&key("api")].probes.day;
    assert!(
        day.samples >= 2 * 60 * 23,
        "counts survive: {}",
        day.samples
    );
    assert!(day.p95_ms.is_some(), "the raw part still has latencies");
}

/// Every window of every connection, read through the day and week sums and read hour by hour
/// (the sums hidden), as of `now`.
fn both_ways(
    c: &Connection,
    now: i64,
) -> (
    HashMap<ConnectionKey, Arc<History>>,
    HashMap<ConnectionKey, Arc<History>>,
) {
    let sums = history(c, None, now).unwrap();
    c.execute(
        "UPDATE meta SET name = 'hidden' WHERE name = 'spans_upto'",
        [],
    )
    .unwrap();
    let hours = history(c, None, now).unwrap();
    c.execute(
        "UPDATE meta SET name = 'spans_upto' WHERE name = 'hidden'",
        [],
    )
    .unwrap();
    (sums, hours)
}

/// Three connections over 8 days; a probe every 30 s for the first, sparser for the others.
fn fleet(c: &Connection) {
    fleet_week(c);
    let mut at = NOW - 8 * DAY_MS;
    let mut i = 0i64;
    while at <= NOW {
        if i % 7 != 0 {
            probe(c, "b", at, i % 13 != 0, 40 + i % 300);
        }
        if (i / 240) % 3 == 0 {
            probe(c, "c", at, true, 900 + i % 50);
        }
        at += 90_000;
        i += 1;
    }
}

fn built(c: &Connection) -> Option<i64> {
    c.query_row(
        "SELECT value FROM meta WHERE name = 'spans_upto'",
        [],
        |r| r.get(0),
    )
    .optional()
    .unwrap()
}

#[test]
fn day_and_week_sums_answer_as_the_hours_do() {
    let mut c = db();
    fleet(&c);
    while roll_up(&mut c, NOW, Retention::default()).unwrap().behind {}
    let hour = NOW - NOW.rem_euclid(HOUR_MS);
    assert_eq!(built(&c), Some(hour));
    // Now; an hour boundary exactly; just past it, before the leader rolled that hour up (the
    // day and week have moved on an hour from the sums); and later still.
    for now in [
        NOW,
        hour + HOUR_MS,
        hour + HOUR_MS + 30_000,
        hour + 2 * HOUR_MS + 5 * MINUTE_MS,
    ] {
        let (sums, hours) = both_ways(&c, now);
        assert_eq!(sums.len(), 3, "at {now}");
        assert_eq!(sums, hours, "at {now}");
        let one = history(&c, Some(&key("b")), now).unwrap();
        assert_eq!(one[&key("b")], hours[&key("b")], "one connection at {now}");
    }
}

#[test]
fn sums_half_rebuilt_answer_as_the_hours_do() {
    let mut c = db();
    fleet(&c);
    while roll_up(&mut c, NOW, Retention::default()).unwrap().behind {}
    c.execute_batch("CREATE TABLE old_sums AS SELECT * FROM rollup_spans")
        .unwrap();
    let old = built(&c).unwrap();
    let later = NOW + HOUR_MS + 2 * MINUTE_MS;
    let mut at = NOW + 1;
    while at < later {
        probe(&c, "a-new-one", at, true, 12);
        probe(&c, "c", at, false, 3_000);
        at += 30_000;
    }
    while roll_up(&mut c, later, Retention::default()).unwrap().behind {}
    assert_eq!(built(&c), Some(old + HOUR_MS));
    // As a rebuild for the new hour stands halfway: "api" and "a-new-one" done, "b" and "c"
    // still summed at the old watermark, the last complete build the old one.
    c.execute_batch(&format!(
        "DELETE FROM rollup_spans WHERE connector IN ('b', 'c');
         INSERT INTO rollup_spans SELECT * FROM old_sums WHERE connector IN ('b', 'c');
         UPDATE meta SET value = {old} WHERE name = 'spans_upto';"
    ))
    .unwrap();
    let (sums, hours) = both_ways(&c, later);
    assert_eq!(sums.len(), 4);
    assert_eq!(sums, hours);
}

#[test]
fn the_prune_goes_in_bounded_steps() {
    let mut c = db();
    fleet_week(&c);
    let short = Retention {
        raw_ms: 2 * HOUR_MS,
        ..Retention::default()
    };
    let mut steps = Vec::new();
    loop {
        let r = roll_up(&mut c, NOW, short).unwrap();
        steps.push(r.probes_pruned);
        if !r.behind {
            break;
        }
    }
    assert!(
        steps.iter().all(|&n| n <= PRUNE_ROWS_PER_STEP as u64),
        "{steps:?}"
    );
    assert!(steps.iter().filter(|&&n| n > 0).count() >= 4, "{steps:?}");
    let oldest: i64 = c
        .query_row("SELECT MIN(at) FROM probes", [], |r| r.get(0))
        .unwrap();
    assert!(oldest >= NOW - 2 * HOUR_MS);
}

#[test]
fn an_hour_rolls_up_in_bounded_steps_and_reads_the_same_throughout() {
    let mut c = db();
    let hour = NOW - NOW.rem_euclid(HOUR_MS) - HOUR_MS;
    let tx = c.transaction().unwrap();
    for i in 0..200i64 {
        let who = format!("conn-{i:03}");
        let mut at = hour + i * 37;
        while at < hour + HOUR_MS {
            probe(
                &tx,
                &who,
                at,
                (at / 1000 + i) % 11 != 0,
                10 + (at / 15_000 + i) % 700,
            );
            at += 15_000;
        }
    }
    tx.commit().unwrap();
    c.execute(
        "INSERT INTO meta (name, value, updated_at) VALUES ('rollup_watermark', ?1, 0)",
        [hour],
    )
    .unwrap();
    let before = history(&c, None, NOW).unwrap();
    assert_eq!(before.len(), 200);
    let mut steps = 0;
    loop {
        let r = roll_up(&mut c, NOW, Retention::default()).unwrap();
        steps += 1;
        // Halfway through the hour, its rows still count from the raw side alone.
        assert_eq!(
            history(&c, None, NOW).unwrap(),
            before,
            "after step {steps}"
        );
        if !r.behind {
            break;
        }
    }
    assert!(steps >= 3, "48,000 raw rows take several steps: {steps}");
    assert_eq!(watermark(&c).unwrap(), Some(hour + HOUR_MS));
    let (ok, failed): (i64, i64) = c
        .query_row("SELECT SUM(ok), SUM(failed) FROM rollups", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let (raw_ok, raw_all): (i64, i64) = c
        .query_row("SELECT SUM(ok), COUNT(*) FROM probes", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((ok, ok + failed), (raw_ok, raw_all));
    let rolled: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM rollups WHERE start = ?1",
            [hour],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rolled, 200, "one row per connection, none twice");
}
