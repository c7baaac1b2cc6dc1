//! Deadlines and schedules. One process leads (a lease with a heartbeat in the store) and runs
//! the refresh deadlines and the probe schedules; the others follow the store.
//!
//! Refresh deadlines are computed from token metadata, not stored: the loop sleeps until the
//! earliest one, wakes early when a token changes (`Engine::rearm`), and never sleeps longer
//! than `SWEEP` so that wall-clock jumps (a suspended laptop) are caught up on the next wake.

mod follow;
mod plan;
mod probes;
mod refresh;
mod removed;

pub use plan::refresh_due;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::auth::BrokerNotice;
use crate::domain::now_ms;
use crate::engine::core::Engine;
use crate::engine::{Event, Level};
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
    if !may_lead && engine.take_probe_windows_wanted() {
        engine.history_now.notify_one();
    }
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = heartbeat.tick(), if may_lead => {
                let lead = match engine.store.acquire_lease(LEADER_LEASE, &holder, LEADER_TTL_MS).await {
                    Ok(LeaseOutcome::Acquired { .. }) => true,
                    // The leader was killed: take over now rather than when its lease expires.
                    Ok(LeaseOutcome::HeldBy { holder: dead, .. }) if crate::store::lease::holder_is_dead(&dead) => {
                        matches!(engine.store.steal_lease(LEADER_LEASE, &dead, &holder, LEADER_TTL_MS).await, Ok(Some(_)))
                    }
                    _ => false,
                };
                // The start's read of the probes' windows, left for this first answer: a
                // leader's read (asked for below) is published, a follower's is its own.
                if engine.take_probe_windows_wanted() && !lead {
                    engine.history_now.notify_one();
                }
                match (lead, leading.is_some()) {
                    (true, false) => {
                        engine.set_leader(true);
                        let token = cancel.child_token();
                        let mut set = JoinSet::new();
                        set.spawn(refresh::run(engine.clone(), token.clone()));
                        set.spawn(probes::run(engine.clone(), token.clone()));
                        set.spawn(removed::run(engine.clone(), token.clone()));
                        set.spawn(roll_up(engine.clone(), token.clone()));
                        if engine.work.is_member() {
                            set.spawn(crate::engine::sharing::keep_share(engine.clone(), holder.clone(), token.clone()));
                        }
                        leading = Some((token, set));
                        engine.notice(Level::Info, "this process runs the scheduler");
                        engine.history_now.notify_one();
                        engine.touch_all();
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
                        engine.touch_all();
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
    let key = match notice {
        BrokerNotice::Refreshed { key, .. } => {
            engine.with_row(&key, |r| {
                r.refresh_count += 1;
                r.last_refresh_at = Some(now_ms());
            });
            key
        }
        BrokerNotice::Adopted { key, .. } => key,
        BrokerNotice::RefreshFailed { key, failure, .. } => {
            engine.with_row(&key, |r| r.last_error = Some((now_ms(), failure.clone())));
            engine.notice(
                Level::Warn,
                format!("{key}: refresh failed ({failure}); retrying with backoff"),
            );
            key
        }
        BrokerNotice::NeedsReauth { key } => {
            engine.emit(Event::NeedsReauth { key: key.clone() });
            key
        }
    };
    engine.rearm_one(&key);
    engine.touch(&key);
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
                    let step = tokio::select! {
                        _ = cancel.cancelled() => break,
                        step = engine.roll_up_history() => step,
                    };
                    match step {
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
                prune_probe_events(&engine, &cancel).await;
            }
        }
    }
}

/// The event log's probe lines, kept as long as the raw probes they repeat, pruned a chunk at
/// a time so other writers get the store between chunks.
async fn prune_probe_events(engine: &Engine, cancel: &CancellationToken) {
    const CHUNK: u32 = 5_000;
    let before = now_ms().saturating_sub(engine.retention.raw_ms);
    let mut pruned = 0;
    loop {
        let step = tokio::select! {
            _ = cancel.cancelled() => break,
            step = engine.store.prune_probe_events(before, CHUNK) => step,
        };
        match step {
            Ok(n) => {
                pruned += n;
                if n < u64::from(CHUNK) {
                    break;
                }
                tokio::task::yield_now().await;
            }
            Err(e) => {
                tracing::warn!(
                    "pruning old probe lines from the event log failed: {e}; retrying in {}s",
                    ROLLUP_EVERY.as_secs()
                );
                break;
            }
        }
    }
    if pruned > 0 {
        tracing::debug!(
            "pruned {pruned} probe lines older than the raw retention from the event log"
        );
    }
}
