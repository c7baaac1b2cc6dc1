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

pub(super) async fn run(engine: Arc<Engine>, cancel: CancellationToken) {
    let gate = Arc::new(Semaphore::new(PROBE_CONCURRENCY));
    let mut heap: BinaryHeap<Reverse<(Instant, usize, Duration)>> = BinaryHeap::new();
    let mut crons: BTreeMap<String, Vec<ConnectionKey>> = BTreeMap::new();
    let start = Instant::now();
    for (i, key) in engine.keys.iter().enumerate() {
        let Some(spec) = engine.spec(key).filter(|s| s.runnable()) else {
            continue;
        };
        match &spec.probe {
            // A first round right away, so a new console shows health within seconds; then
            // each at its own phase.
            ProbeSchedule::Every(period) => heap.push(Reverse((start, i, *period))),
            ProbeSchedule::Cron(expr) => {
                // The first round for cron connections too.
                heap.push(Reverse((start, i, Duration::ZERO)));
                crons.entry(expr.clone()).or_default().push(key.clone());
            }
        }
    }
    let _cron = start_crons(&engine, &gate, crons).await;
    loop {
        let Some(&Reverse((due, _, _))) = heap.peek() else {
            cancel.cancelled().await;
            break;
        };
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep_until(due) => {}
        }
        while let Some(&Reverse((due, i, period))) = heap.peek() {
            let now = Instant::now();
            if due > now {
                break;
            }
            heap.pop();
            if !period.is_zero() {
                let key = &engine.keys[i];
                heap.push(Reverse((next_due(start, due, now, period, key), i, period)));
            }
            let permit = tokio::select! {
                _ = cancel.cancelled() => return,
                p = gate.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            };
            spawn_probe(&engine, engine.keys[i].clone(), permit);
        }
    }
}

/// The next instant on this connection's grid (`start` + its phase + k periods) after `due`,
/// skipping rounds missed entirely (a suspended machine) rather than running them back to back.
fn next_due(
    start: Instant,
    due: Instant,
    now: Instant,
    period: Duration,
    key: &ConnectionKey,
) -> Instant {
    let period_ms = period.as_millis().max(1) as u64;
    let phase = Duration::from_millis(super::plan::stable_hash(key, 0) % period_ms);
    let grid = start + phase;
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
    if already || waiting_for_human || engine.is_paused(&key) || !engine.may_probe(&key) {
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

    #[test]
    fn each_connection_keeps_its_own_phase_and_skips_missed_rounds() {
        let start = Instant::now();
        let period = Duration::from_secs(30);
        let keys: Vec<_> = (0..200)
            .map(|i| ConnectionKey::new(format!("c{i:05}"), "default"))
            .collect();
        let firsts: Vec<_> = keys
            .iter()
            .map(|k| next_due(start, start, start, period, k) - start)
            .collect();
        // Spread over the interval, not one instant: every tenth of it holds some.
        for tenth in 0..10 {
            let (lo, hi) = (period * tenth / 10, period * (tenth + 1) / 10);
            assert!(
                firsts.iter().any(|d| (lo..hi).contains(d)),
                "{tenth}: {firsts:?}"
            );
        }
        let k = &keys[7];
        let first = next_due(start, start, start, period, k);
        let second = next_due(start, first, first, period, k);
        assert_eq!(second - first, period);
        // Five minutes asleep: the next is one period-step on the grid after now, not a catch-up.
        let late = first + Duration::from_secs(300) + Duration::from_millis(1);
        let next = next_due(start, first, late, period, k);
        assert!(next > late && next - late <= period, "{:?}", next - late);
        assert_eq!((next - first).as_millis() % period.as_millis(), 0);
    }
}
