//! Deadlines and schedules. One process leads (a lease with a heartbeat in the store) and runs
//! the refresh deadlines and the probe schedules; the others follow the store.
//!
//! Refresh deadlines are computed from token metadata, not stored: the loop sleeps until the
//! earliest one, wakes early when a token changes (`Engine::rearm`), and never sleeps longer
//! than `SWEEP` so that wall-clock jumps (a suspended laptop) are caught up on the next wake.

mod follow;
mod plan;
mod removed;

pub use plan::refresh_due;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;

use crate::auth::{AuthSpec, BrokerNotice};
use crate::config::ProbeSchedule;
use crate::domain::{Actor, ConnectionKey, UnixMs, now_ms};
use crate::engine::core::Engine;
use crate::engine::{Event, Level};
use crate::health::endpoint_stats;
use crate::store::LeaseOutcome;

pub const SWEEP: Duration = Duration::from_secs(5);
const LEADER_LEASE: &str = "scheduler";
const LEADER_TTL_MS: i64 = 15_000;
const HEARTBEAT: Duration = Duration::from_secs(5);
const FOLLOW_EVERY: Duration = Duration::from_secs(2);
/// Hours are rolled up a minute after they end; looking every 5 minutes keeps the lag short.
const ROLLUP_EVERY: Duration = Duration::from_secs(300);

/// Runs until `cancel`: tries to lead; leads while it holds the lease; follows otherwise.
pub async fn run(engine: Arc<Engine>, holder: String, cancel: CancellationToken, may_lead: bool) {
    let mut notices = engine.broker.subscribe();
    let mut leading: Option<(CancellationToken, JoinSet<()>)> = None;
    // The engine loaded the last hour at start; following picks up from here.
    let mut followed_to = engine.store.probe_cursor().await.unwrap_or(0);
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut follow = tokio::time::interval(FOLLOW_EVERY);
    follow.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = heartbeat.tick(), if may_lead => {
                let lead = match engine.store.acquire_lease(LEADER_LEASE, &holder, LEADER_TTL_MS).await {
                    Ok(LeaseOutcome::Acquired) => true,
                    // The leader was killed: take over now rather than when its lease expires.
                    Ok(LeaseOutcome::HeldBy { holder: dead, .. }) if crate::store::lease::holder_is_dead(&dead) => {
                        matches!(engine.store.steal_lease(LEADER_LEASE, &dead, &holder, LEADER_TTL_MS).await, Ok(true))
                    }
                    _ => false,
                };
                match (lead, leading.is_some()) {
                    (true, false) => {
                        engine.set_leader(true);
                        let token = cancel.child_token();
                        let mut set = JoinSet::new();
                        set.spawn(refresh_loop(engine.clone(), token.clone()));
                        set.spawn(probe_schedules(engine.clone(), token.clone()));
                        set.spawn(removed::run(engine.clone(), token.clone()));
                        set.spawn(roll_up(engine.clone(), token.clone()));
                        leading = Some((token, set));
                        engine.notice(Level::Info, "this process runs the scheduler");
                        engine.publish();
                    }
                    (false, true) => {
                        if let Some((token, mut set)) = leading.take() {
                            token.cancel();
                            while set.join_next().await.is_some() {}
                        }
                        engine.set_leader(false);
                        // What we recorded as leader is in our windows already.
                        followed_to = engine.store.probe_cursor().await.unwrap_or(followed_to);
                        engine.notice(Level::Warn, "another switchboard process took over the scheduler; following it");
                        engine.publish();
                    }
                    _ => {}
                }
            }
            _ = follow.tick() => {
                if leading.is_some() {
                    follow::adopt_foreign_tokens(&engine).await;
                } else {
                    follow::follow_store(&engine, &mut followed_to).await;
                }
            }
            notice = notices.recv() => on_notice(&engine, notice),
        }
    }
    if let Some((token, mut set)) = leading.take() {
        token.cancel();
        while set.join_next().await.is_some() {}
        let _ = engine.store.release_lease(LEADER_LEASE, &holder).await;
    }
    engine.set_leader(false);
}

fn on_notice(
    engine: &Engine,
    notice: Result<BrokerNotice, tokio::sync::broadcast::error::RecvError>,
) {
    let Ok(notice) = notice else { return };
    match notice {
        BrokerNotice::Refreshed { key, .. } => {
            engine.with_row(&key, |r| {
                r.refresh_count += 1;
                r.last_refresh_at = Some(now_ms());
            });
        }
        BrokerNotice::Adopted { .. } => {}
        BrokerNotice::RefreshFailed { key, failure, .. } => {
            engine.with_row(&key, |r| r.last_error = Some((now_ms(), failure.clone())));
            engine.notice(
                Level::Warn,
                format!("{key}: refresh failed ({failure}); retrying with backoff"),
            );
        }
        BrokerNotice::NeedsReauth { key } => {
            engine.emit(Event::NeedsReauth { key });
        }
    }
    engine.rearm.notify_one();
    engine.publish();
}

async fn refresh_loop(engine: Arc<Engine>, cancel: CancellationToken) {
    let mut in_flight: JoinSet<()> = JoinSet::new();
    loop {
        let now = now_ms();
        let mut due: BTreeMap<UnixMs, Vec<ConnectionKey>> = BTreeMap::new();
        for key in &engine.keys {
            let Some(spec) = engine.spec(key) else {
                continue;
            };
            if !spec.runnable()
                || !spec.auth.is_managed()
                || engine.broker.needs_reauth(key)
                || engine.is_paused(key)
            {
                engine.with_row(key, |r| r.next_refresh_at = None);
                continue;
            }
            let at = match engine.broker.meta(key) {
                Some((meta, generation)) => {
                    let (stats, last) = engine
                        .with_row(key, |r| {
                            (endpoint_stats(r.history.as_ref()), r.last_refresh_at)
                        })
                        .unwrap_or_default();
                    refresh_due(&meta, &spec.refresh_policy(), &stats, last, key, generation)
                        .map(|p| p.at)
                }
                // Client credentials with no token yet: get one now. Authorization-code
                // connections without a token wait for a human.
                None if matches!(spec.auth, AuthSpec::ClientCredentials(_)) => Some(now),
                None => None,
            };
            let at = match (at, engine.broker.retry_at(key)) {
                (Some(a), Some(r)) => Some(a.max(r)),
                (a, _) => a,
            };
            engine.with_row(key, |r| r.next_refresh_at = at);
            if let Some(at) = at {
                due.entry(at).or_default().push(key.clone());
            }
        }
        let busy = engine.refreshing();
        for key in due.range(..=now).flat_map(|(_, keys)| keys.iter()) {
            if busy.contains(key) {
                continue;
            }
            let (engine, key) = (engine.clone(), key.clone());
            in_flight.spawn(async move {
                let _ = engine.refresh(&key, Actor::Scheduler).await;
            });
        }
        let next = due.range(now + 1..).next().map(|(at, _)| *at);
        let sleep_ms = next
            .map(|at| (at - now).clamp(0, SWEEP.as_millis() as i64))
            .unwrap_or(SWEEP.as_millis() as i64);
        engine.publish();
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_millis(sleep_ms as u64 + 1)) => {}
            _ = engine.rearm.notified() => {}
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
    in_flight.abort_all();
}

/// Rolls finished hours of observations up and prunes by the retention; only the leader does,
/// as it is the only writer that must not race itself.
async fn roll_up(engine: Arc<Engine>, cancel: CancellationToken) {
    let mut every = tokio::time::interval(ROLLUP_EVERY);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = every.tick() => {
                loop {
                    match engine.roll_up_history().await {
                        Ok(true) => tokio::task::yield_now().await,
                        Ok(false) => break,
                        Err(e) => {
                            tracing::warn!("rolling up the probe history failed: {e}; retrying in {}s", ROLLUP_EVERY.as_secs());
                            break;
                        }
                    }
                    if cancel.is_cancelled() {
                        break;
                    }
                }
            }
        }
    }
}

/// One job per distinct schedule, fanning out to its connections (not a job per connection).
async fn probe_schedules(engine: Arc<Engine>, cancel: CancellationToken) {
    let mut groups: BTreeMap<String, (ProbeSchedule, Vec<ConnectionKey>)> = BTreeMap::new();
    for key in &engine.keys {
        let Some(spec) = engine.spec(key) else {
            continue;
        };
        if spec.runnable() {
            groups
                .entry(spec.probe.label())
                .or_insert_with(|| (spec.probe.clone(), Vec::new()))
                .1
                .push(key.clone());
        }
    }
    // A first round right away, so a new console shows health within seconds.
    for key in groups.values().flat_map(|(_, keys)| keys.iter()) {
        spawn_probe(&engine, key.clone());
    }
    let mut scheduler = match JobScheduler::new().await {
        Ok(s) => s,
        Err(e) => {
            engine.notice(
                Level::Error,
                format!("the probe scheduler did not start: {e}"),
            );
            return;
        }
    };
    for (label, (schedule, keys)) in groups {
        let run = {
            let engine = engine.clone();
            move |_id, _lock| {
                let (engine, keys) = (engine.clone(), keys.clone());
                Box::pin(async move {
                    for key in keys {
                        spawn_probe(&engine, key);
                    }
                })
                    as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
            }
        };
        let job = match schedule {
            ProbeSchedule::Every(d) => Job::new_repeated_async(d, run),
            ProbeSchedule::Cron(expr) => Job::new_async(expr.as_str(), run),
        };
        match job {
            Ok(job) => {
                if let Err(e) = scheduler.add(job).await {
                    engine.notice(
                        Level::Error,
                        format!("probe schedule {label} could not be added: {e}"),
                    );
                }
            }
            Err(e) => engine.notice(
                Level::Error,
                format!("probe schedule {label} is invalid: {e}"),
            ),
        }
    }
    if let Err(e) = scheduler.start().await {
        engine.notice(
            Level::Error,
            format!("the probe scheduler did not start: {e}"),
        );
        return;
    }
    cancel.cancelled().await;
    let _ = scheduler.shutdown().await;
}

/// Starts a probe unless one is already running for this connection (newest wins is not needed:
/// a running probe will report fresher data than a queued one).
fn spawn_probe(engine: &Arc<Engine>, key: ConnectionKey) {
    let already = engine.with_row(&key, |r| r.probing).unwrap_or(true);
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
    });
}
