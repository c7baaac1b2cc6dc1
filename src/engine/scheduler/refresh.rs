//! Refresh deadlines. Computed from token metadata (not stored) into a deadline set; a change to
//! one connection (its refresh ended, a token arrived from elsewhere, a pause) recomputes that
//! connection only, and the whole fleet is looked at again every `SWEEP` to catch what the clock
//! alone moves (a suspended laptop, a window that now says the endpoint is slow). At most
//! `REFRESH_CONCURRENCY` token requests run at once: a fleet whose tokens all need one now (a
//! first start with client credentials) is served in order instead of all at once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{SWEEP, refresh_due};
use crate::auth::AuthSpec;
use crate::domain::{Actor, UnixMs, now_ms};
use crate::engine::core::Engine;
use crate::health::endpoint_stats;

/// Token requests the scheduler has out at once.
pub const REFRESH_CONCURRENCY: usize = 32;

pub(super) async fn run(engine: Arc<Engine>, cancel: CancellationToken) {
    let mut in_flight: JoinSet<()> = JoinSet::new();
    // (deadline, connection index) and, per connection, its entry in the set.
    let mut due: BTreeSet<(UnixMs, usize)> = BTreeSet::new();
    let mut entry: Vec<Option<UnixMs>> = vec![None; engine.keys.len()];
    let mut swept_at = tokio::time::Instant::now() - SWEEP;
    loop {
        let now = now_ms();
        let (all, some) = engine.take_rearm();
        let sweep = all || swept_at.elapsed() >= SWEEP;
        let touched: Vec<usize> = if sweep {
            swept_at = tokio::time::Instant::now();
            (0..engine.keys.len()).collect()
        } else {
            some.iter().filter_map(|k| engine.key_index(k)).collect()
        };
        for i in touched {
            let at = deadline(&engine, i, now);
            if entry[i] != at {
                if let Some(old) = entry[i] {
                    due.remove(&(old, i));
                }
                if let Some(at) = at {
                    due.insert((at, i));
                }
                entry[i] = at;
            }
        }
        while in_flight.len() < REFRESH_CONCURRENCY {
            let Some(&(at, i)) = due.first() else { break };
            if at > now {
                break;
            }
            due.remove(&(at, i));
            // Fired: the refresh's end rearms this connection, which plans the next one.
            entry[i] = None;
            let key = engine.keys[i].clone();
            if engine.read_row(&key, |r| r.refreshing).unwrap_or(true) {
                continue;
            }
            let engine = engine.clone();
            in_flight.spawn(async move {
                let _ = engine.refresh(&key, Actor::Scheduler).await;
            });
        }
        let next = due.first().map(|(at, _)| *at);
        let sleep_ms = next
            .map(|at| (at - now).clamp(0, SWEEP.as_millis() as i64))
            .unwrap_or(SWEEP.as_millis() as i64);
        // Slots all taken: a due deadline waits for one to free, not for the clock.
        let sleep_ms = if in_flight.len() >= REFRESH_CONCURRENCY && next.is_some_and(|at| at <= now)
        {
            SWEEP.as_millis() as i64
        } else {
            sleep_ms
        };
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_millis(sleep_ms as u64 + 1)) => {}
            _ = engine.rearm.notified() => {}
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
    // A refresh whose token request is out finishes under `auth::critical`: `Running::shutdown`
    // waits for those; what had not sent its request yet is dropped here.
    in_flight.abort_all();
}

/// When connection `i` should next be refreshed, if at all; kept on its row for the snapshot.
fn deadline(engine: &Engine, i: usize, now: UnixMs) -> Option<UnixMs> {
    let key = &engine.keys[i];
    let spec = engine.spec(key)?;
    let at = if !spec.runnable()
        || !spec.auth.is_managed()
        || engine.broker.needs_reauth(key)
        || engine.is_paused(key)
        || !engine.work.refreshes(key)
    {
        None
    } else {
        let at = match engine.broker.meta(key) {
            Some((meta, generation)) => {
                let (stats, last) = engine
                    .read_row(key, |r| {
                        (endpoint_stats(r.history.as_deref()), r.last_refresh_at)
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
        match (at, engine.broker.retry_at(key)) {
            (Some(a), Some(r)) => Some(a.max(r)),
            (a, _) => a,
        }
    };
    engine.set_next_refresh(key, at);
    at
}
