//! Health over time at fleet scale: how big the store grows, how long the rollup and the window
//! queries take. Simulates N connections probed every 30 s, with a refresh an hour each, for
//! D days, in the retention's steady state: every finished hour is rolled up (the leader does
//! that hourly) and the last 48 h (or RAW_HOURS) are still raw rows.
//!
//! `cargo bench --bench history -- [CONNECTIONS] [DAYS] [RAW_HOURS]` (default 1000 30 48);
//! numbers go to BENCHMARKS.md. Without `--bench` (as `cargo test --all-targets` runs it) it checks itself on
//! 5 connections over 9 days.

use std::time::Instant;

use rusqlite::params;
use switchboard::domain::{ConnectionKey, now_ms};
use switchboard::health::history::{HOUR_MS, Tally};
use switchboard::store::history::Retention;
use switchboard::store::{KeySource, Store, Vault};

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it,
    // and then a small fleet is enough to show the bench still works.
    let measuring = std::env::args().any(|a| a == "--bench");
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (default_n, default_days) = if measuring { (1000, 30) } else { (5, 9) };
    // Hours of raw probes kept (`raw_retention`): 48 by default. A window read touches only the
    // last two, and a fleet of 10,000 takes most of an hour to write 48 of them on this machine.
    let raw_hours: i64 = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(48)
        .max(3);
    let retention = Retention {
        raw_ms: raw_hours * HOUR_MS,
        ..Retention::default()
    };
    let n: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(default_n);
    let days: i64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default_days);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open_with_vault(dir.path(), Vault::from_key(&[7; 32], KeySource::Env))
        .expect("the store opens");
    let now = now_ms();
    let hour_now = now - now.rem_euclid(HOUR_MS);
    let raw_from = hour_now - raw_hours * HOUR_MS;
    let rolled_from = hour_now - days * 24 * HOUR_MS;

    let t = Instant::now();
    store
        .call_blocking(move |c| {
            let tx = c.transaction()?;
            {
                let mut put = tx.prepare(
                    "INSERT INTO rollups (connector, account, kind, start, ok, failed, sketch)
                     VALUES (?1, 'default', ?2, ?3, ?4, ?5, ?6)",
                )?;
                for i in 0..n {
                    let who = format!("conn-{i:05}");
                    let mut hour = rolled_from;
                    while hour < hour_now {
                        // An hour of 30 s probes: 120 samples over a realistic latency spread.
                        let mut probes = Tally::default();
                        for s in 0..120u64 {
                            probes.record(s % 50 != 7, Some(20 + (s * 37 + i as u64) % 400));
                        }
                        put.execute(params![
                            who,
                            "probe",
                            hour,
                            probes.ok as i64,
                            probes.failed as i64,
                            probes.latency.encode()
                        ])?;
                        let mut refresh = Tally::default();
                        refresh.record(true, Some(150 + i as u64 % 100));
                        put.execute(params![
                            who,
                            "refresh",
                            hour,
                            1,
                            0,
                            refresh.latency.encode()
                        ])?;
                        hour += HOUR_MS;
                    }
                }
                let mut probe = tx.prepare(
                    "INSERT INTO probes (connector, account, at, via, ok, latency_ms)
                     VALUES (?1, 'default', ?2, 'rest', ?3, ?4)",
                )?;
                let mut event = tx.prepare(
                    "INSERT INTO events (at, connector, account, kind, actor, outcome, latency_ms)
                     VALUES (?1, ?2, 'default', 'refresh', 'scheduler', 'ok', ?3)",
                )?;
                for i in 0..n {
                    let who = format!("conn-{i:05}");
                    let mut at = raw_from + (i as i64 * 997) % 30_000;
                    let mut k = 0i64;
                    while at < now {
                        probe.execute(params![who, at, k % 50 != 7, 20 + (k * 37) % 400])?;
                        if k % 120 == 0 {
                            event.execute(params![at, who, 150 + i as i64 % 100])?;
                        }
                        at += 30_000;
                        k += 1;
                    }
                }
            }
            tx.commit()?;
            c.execute_batch("ANALYZE")?;
            Ok(())
        })
        .expect("the simulated history is written");
    let fill = t.elapsed();
    let counts = store
        .call_blocking(|c| {
            let raw: i64 = c.query_row("SELECT COUNT(*) FROM probes", [], |r| r.get(0))?;
            let rolled: i64 = c.query_row("SELECT COUNT(*) FROM rollups", [], |r| r.get(0))?;
            c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
            Ok((raw, rolled))
        })
        .expect("counts");
    let size = std::fs::metadata(store.path())
        .map(|m| m.len())
        .unwrap_or(0);

    // Every finished hour is rolled up.
    store
        .call_blocking(move |c| {
            c.execute(
                "INSERT INTO meta (name, value, updated_at) VALUES ('rollup_watermark', ?1, ?1)",
                [hour_now],
            )?;
            Ok(())
        })
        .expect("watermark");

    // The leader's housekeeping as it runs after start-up: the day and week sums for the
    // watermark, then the prune, one bounded store job per call.
    let catch_up = |at: i64| {
        rt.block_on(async {
            let (mut steps, mut longest, mut total) = (0u32, 0f64, 0f64);
            let (mut hours, mut rows, mut pruned) = (0i64, 0u64, 0u64);
            loop {
                let t = Instant::now();
                let r = store.roll_up(at, retention).await.expect("rollup");
                let took = t.elapsed().as_secs_f64();
                steps += 1;
                longest = f64::max(longest, took);
                total += took;
                hours += r.hours;
                rows += r.rollup_rows;
                pruned += r.probes_pruned;
                if !r.behind {
                    break;
                }
            }
            (steps, longest, total, hours, rows, pruned)
        })
    };
    let settle = catch_up(now);

    let key = ConnectionKey::new(format!("conn-{:05}", n / 2), "default");
    let read = |what: &str| {
        rt.block_on(async {
            let t = Instant::now();
            let h = store.history(Some(&key), now).await.expect("one history");
            let one = t.elapsed();
            assert!(h[&key].probes.week.samples > 0, "{what}");
            let t = Instant::now();
            let h = store.history(None, now).await.expect("the fleet's history");
            let all = t.elapsed();
            assert_eq!(h.len(), n, "{what}");
            (one, all, h)
        })
    };
    let (one, all, with_sums) = read("with the sums");
    // The same read hour by hour, as before issue 16, for the comparison (and a check that
    // both give the same windows).
    let sums_built = store
        .call_blocking(|c| {
            let v: i64 = c.query_row(
                "SELECT value FROM meta WHERE name = 'spans_upto'",
                [],
                |r| r.get(0),
            )?;
            c.execute("DELETE FROM meta WHERE name = 'spans_upto'", [])?;
            Ok(v)
        })
        .expect("the sums were built");
    let (one_hourly, all_hourly, hourly) = read("hour by hour");
    assert!(with_sums == hourly, "the sums answer as the hours do");
    store
        .call_blocking(move |c| {
            c.execute(
                "INSERT INTO meta (name, value, updated_at) VALUES ('spans_upto', ?1, ?1)",
                [sums_built],
            )?;
            Ok(())
        })
        .expect("restore");
    // The next hour's rollup over the whole fleet, as the leader runs it every hour.
    let next = catch_up(now + HOUR_MS);

    println!("connections: {n}, simulated days: {days}");
    println!("fill (setup, not a figure): {:.1} s", fill.as_secs_f64());
    println!("raw probe rows ({raw_hours} h): {}", counts.0);
    println!("rollup rows: {}", counts.1);
    println!(
        "database size: {:.1} MiB ({:.0} bytes per connection)",
        size as f64 / 1048576.0,
        size as f64 / n as f64
    );
    println!(
        "start-up housekeeping (day/week sums, prune): {} store jobs, longest {:.1} ms, total {:.2} s, {} raw rows pruned",
        settle.0,
        settle.1 * 1e3,
        settle.2,
        settle.5
    );
    println!(
        "history, one connection: {:.2} ms (hour by hour: {:.2} ms)",
        one.as_secs_f64() * 1e3,
        one_hourly.as_secs_f64() * 1e3
    );
    println!(
        "history, every connection: {:.1} ms (hour by hour: {:.1} ms)",
        all.as_secs_f64() * 1e3,
        all_hourly.as_secs_f64() * 1e3
    );
    println!(
        "next hour's rollup ({} h, {} rows written, {} raw rows pruned): {} store jobs, longest {:.1} ms, total {:.2} s",
        next.3,
        next.4,
        next.5,
        next.0,
        next.1 * 1e3,
        next.2
    );
}
