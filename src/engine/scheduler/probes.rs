//! Probe schedules. Interval schedules run on one timer heap: each connection probes at its own
//! phase within the interval (a stable hash of its key), so a fleet on one schedule is spread
//! over the whole interval instead of firing in one instant; cron schedules keep their
//! wall-clock instants (tokio-cron-scheduler) and fan out through the same gate. At most
//! `PROBE_CONCURRENCY` probes run at once: a probe starts when it is due and a slot is free, and
//! its own timeout starts then, so a busy moment makes probes late (measured) rather than time
//! them out inside switchboard.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;

use crate::auth::AuthSpec;
use crate::config::ProbeSchedule;
use crate::domain::{Actor, ConnectionKey};
use crate::engine::Level;
use crate::engine::core::Engine;

/// Probes in flight at most. Enough for a fleet of 10,000 on a 30 s schedule (333 a second)
/// at tens of milliseconds each, with room for slow endpoints; few enough that the HTTP pool,
/// the file descriptors and the memory of in-flight requests stay small.
pub const PROBE_CONCURRENCY: usize = 128;

/// When each interval-scheduled connection probes next: a min-heap of (due, connection).
pub(super) struct Grid {
    start: Instant,
    heap: BinaryHeap<Reverse<(Instant, usize, Duration)>>,
    phases: Vec<Duration>,
}

impl Grid {
    fn new(start: Instant, n: usize) -> Self {
        Grid {
            start,
            heap: BinaryHeap::new(),
            phases: vec![Duration::ZERO; n],
        }
    }

    /// Connection `i` probes at `start` (the first round), then every `period` at its phase;
    /// a zero period probes at `start` only.
    fn add(&mut self, i: usize, key: &ConnectionKey, period: Duration) {
        let period_ms = period.as_millis().max(1) as u64;
        self.phases[i] = Duration::from_millis(super::plan::stable_hash(key, 0) % period_ms);
        self.heap.push(Reverse((self.start, i, period)));
    }

    fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The next connection due by `now`, rescheduled on its grid.
    fn pop_due(&mut self, now: Instant) -> Option<usize> {
        let &Reverse((due, i, period)) = self.heap.peek()?;
        if due > now {
            return None;
        }
        self.heap.pop();
        if !period.is_zero() {
            let next = next_due(self.start + self.phases[i], due, now, period);
            self.heap.push(Reverse((next, i, period)));
        }
        Some(i)
    }
}

pub(super) async fn run(engine: Arc<Engine>, cancel: CancellationToken) {
    let gate = Arc::new(Semaphore::new(PROBE_CONCURRENCY));
    let mut grid = Grid::new(Instant::now(), engine.keys.len());
    let mut crons: BTreeMap<String, Vec<ConnectionKey>> = BTreeMap::new();
    for (i, key) in engine.keys.iter().enumerate() {
        let Some(spec) = engine.spec(key).filter(|s| s.runnable()) else {
            continue;
        };
        match &spec.probe {
            // A first round right away, so a new console shows health within seconds; then
            // each at its own phase.
            ProbeSchedule::Every(period) => grid.add(i, key, *period),
            ProbeSchedule::Cron(expr) => {
                // The first round for cron connections too; then the cron's instants.
                grid.add(i, key, Duration::ZERO);
                crons.entry(expr.clone()).or_default().push(key.clone());
            }
        }
    }
    let _cron = start_crons(&engine, &gate, crons).await;
    loop {
        let Some(due) = grid.next_at() else {
            cancel.cancelled().await;
            break;
        };
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep_until(due) => {}
        }
        while let Some(i) = grid.pop_due(Instant::now()) {
            let permit = tokio::select! {
                _ = cancel.cancelled() => return,
                p = gate.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            };
            spawn_probe(&engine, engine.keys[i].clone(), permit);
        }
    }
}

/// The next instant on the grid (`grid` + k periods) after `due`, skipping rounds missed
/// entirely (a suspended machine) rather than running them back to back.
fn next_due(grid: Instant, due: Instant, now: Instant, period: Duration) -> Instant {
    let period_ms = period.as_millis().max(1) as u64;
    let after = due.max(now);
    if after < grid {
        return grid;
    }
    let k = (after - grid).as_millis() as u64 / period_ms + 1;
    grid + Duration::from_millis(k.saturating_mul(period_ms))
}

/// One job per distinct cron expression, fanning out through the gate.
async fn start_crons(
    engine: &Arc<Engine>,
    gate: &Arc<Semaphore>,
    crons: BTreeMap<String, Vec<ConnectionKey>>,
) -> Option<JobScheduler> {
    if crons.is_empty() {
        return None;
    }
    let scheduler = match JobScheduler::new().await {
        Ok(s) => s,
        Err(e) => {
            engine.notice(
                Level::Error,
                format!("the probe scheduler did not start: {e}"),
            );
            return None;
        }
    };
    for (expr, keys) in crons {
        let (engine2, gate) = (engine.clone(), gate.clone());
        let run = move |_id, _lock| {
            let (engine, keys, gate) = (engine2.clone(), keys.clone(), gate.clone());
            Box::pin(async move {
                for key in keys {
                    let Ok(permit) = gate.clone().acquire_owned().await else {
                        return;
                    };
                    spawn_probe(&engine, key, permit);
                }
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        };
        match Job::new_async(expr.as_str(), run) {
            Ok(job) => {
                if let Err(e) = scheduler.add(job).await {
                    engine.notice(
                        Level::Error,
                        format!("probe schedule cron {expr} could not be added: {e}"),
                    );
                }
            }
            Err(e) => engine.notice(
                Level::Error,
                format!("probe schedule cron {expr} is invalid: {e}"),
            ),
        }
    }
    if let Err(e) = scheduler.start().await {
        engine.notice(
            Level::Error,
            format!("the probe scheduler did not start: {e}"),
        );
        return None;
    }
    Some(scheduler)
}

/// Starts a probe unless one is already running for this connection (a running probe reports
/// fresher data than a queued one would), holding its slot of the gate until it ends.
fn spawn_probe(engine: &Arc<Engine>, key: ConnectionKey, permit: OwnedSemaphorePermit) {
    let already = engine.read_row(&key, |r| r.probing).unwrap_or(true);
    let waiting_for_human = engine.broker.needs_reauth(&key)
        || (matches!(engine.spec(&key).map(|s| &s.auth), Some(AuthSpec::OAuth(_)))
            && engine.broker.meta(&key).is_none());
    // A down connection's breaker holds its probes back until the backoff is over.
    if already
        || waiting_for_human
        || engine.is_paused(&key)
        || !engine.may_probe(&key)
        || !engine.work.probes(&key)
    {
        return;
    }
    let engine = engine.clone();
    tokio::spawn(async move {
        let _ = engine.probe(&key, Actor::Scheduler).await;
        drop(permit);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(n: usize) -> Vec<ConnectionKey> {
        (0..n)
            .map(|i| ConnectionKey::new(format!("c{i:05}"), "default"))
            .collect()
    }

    /// 10,000 connections on a 30 s schedule, the clock stepped 10 ms at a time for ten
    /// periods: every connection is probed once per period, each time on its own phase (its
    /// deadline fires, and not late), and no second holds more than a share of the fleet.
    #[test]
    fn ten_thousand_connections_each_probe_once_a_period_spread_over_it() {
        let start = Instant::now();
        let period = Duration::from_secs(30);
        let keys = fleet(10_000);
        let mut grid = Grid::new(start, keys.len());
        for (i, k) in keys.iter().enumerate() {
            grid.add(i, k, period);
        }
        let mut fired: Vec<Vec<Duration>> = vec![Vec::new(); keys.len()];
        let mut per_second = vec![0usize; 10 * 30 + 1];
        let step = Duration::from_millis(10);
        let mut now = start;
        while now <= start + period * 10 {
            while let Some(i) = grid.pop_due(now) {
                fired[i].push(now - start);
                per_second[(now - start).as_secs() as usize] += 1;
            }
            now += step;
        }
        for (i, times) in fired.iter().enumerate() {
            // The first round at start, then one per period at the phase.
            assert!(times.len() >= 10, "{}: {times:?}", keys[i]);
            let phase = grid.phases[i];
            // Its grid after the first round (a zero phase shares its first point with it).
            let first = if phase.is_zero() { 1 } else { 0 };
            for (k, t) in times.iter().skip(1).enumerate() {
                let planned = phase + period * (k as u32 + first);
                assert!(
                    *t >= planned && *t < planned + step,
                    "{}: probe {k} at {t:?}, planned {planned:?}",
                    keys[i]
                );
            }
        }
        // After the first round: 333 a second on average; a stable hash keeps any second
        // under twice that.
        let busiest = per_second[1..].iter().max().copied().unwrap_or(0);
        assert!(busiest < 2 * 10_000 / 30, "{busiest} probes in one second");
    }

    #[test]
    fn a_missed_round_is_skipped_not_run_back_to_back() {
        let start = Instant::now();
        let period = Duration::from_secs(30);
        let grid = start + Duration::from_secs(7);
        let first = next_due(grid, start, start, period);
        assert_eq!(first, grid);
        assert_eq!(next_due(grid, first, first, period) - first, period);
        // Five minutes asleep: the next is one step on the grid after now, not a catch-up.
        let late = first + Duration::from_secs(300) + Duration::from_millis(1);
        let next = next_due(grid, first, late, period);
        assert!(next > late && next - late <= period, "{:?}", next - late);
        assert_eq!((next - first).as_millis() % period.as_millis(), 0);
    }
}
