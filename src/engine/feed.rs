//! The engine's side of the shared feed (issue 14): with the grants in PostgreSQL, what this
//! process observes (probe results, event log lines) is published, and what other hosts
//! publish is shown here, so a console or `status` anywhere shows the whole fleet, not the
//! share its own data directory probed.
//!
//! - Every process on shared grants publishes, batched (`publish`): one transaction and one
//!   `NOTIFY` per kind per half second, whatever the fleet's size.
//! - Every process takes in the probe results of the connections it does not probe itself
//!   (`take_probes`; `Work::probed_elsewhere`): a console or `status` beside daemons all of
//!   them, a daemon the other daemons' shares. So every host shows, and serves as metrics, the
//!   whole fleet as it stands; only whoever probes a connection alerts on it
//!   (`ConnectionView::probed_elsewhere`), so a fleet's alerts are sent once.
//! - The process that leads its data directory writes other hosts' event log lines into that
//!   directory's log once (`take_events`), so `events` and the console's log show the fleet.
//! - Event lines from this data directory are skipped: they are in its log already.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::core::Engine;
use super::start::REPLAY_MS;
use crate::store::FeedItem;
use crate::store::pg::{FeedKind, PgStore};

/// How often observations are published: often enough that a console elsewhere sees a probe
/// as soon as a person would look, seldom enough that a 10,000-connection daemon is two
/// transactions a second.
const PUBLISH_EVERY: Duration = Duration::from_millis(500);
/// How long the feed keeps a row; a host that was away longer starts from the last minutes.
const FEED_KEEP: Duration = Duration::from_secs(10 * 60);
/// How often a daemon forgets rows past `FEED_KEEP`.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// No data directory's id: `feed_after` skips none.
const ANY_ORIGIN: &str = "";
/// Rows read at a time: bounded memory and one short query each.
const READ_BATCH: i64 = 5_000;

/// Publishes what this process observes until `cancel`, then what is left, within the
/// engine's stop deadline.
pub(super) async fn publish(engine: Arc<Engine>, db: PgStore, cancel: CancellationToken) {
    let Some(origin) = engine.work.origin() else {
        return;
    };
    let prunes = engine.work.is_member();
    let mut every = tokio::time::interval(PUBLISH_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = tokio::time::Instant::now();
    let mut failing = false;
    loop {
        let stopping = tokio::select! {
            _ = cancel.cancelled() => true,
            _ = every.tick() => false,
        };
        let (items, dropped) = engine.store.take_feed();
        if dropped > 0 {
            tracing::warn!(
                "{dropped} observations were not published to {}: it did not answer for too long",
                db.place()
            );
        }
        if !items.is_empty() {
            match db.publish(&origin, &items).await {
                Ok(_) => {
                    if failing {
                        failing = false;
                        tracing::info!("publishing observations to {} again", db.place());
                    }
                }
                Err(e) => {
                    if !failing {
                        failing = true;
                        tracing::warn!(
                            "cannot publish observations to {}: {e}; other hosts show this host's probes late until it answers",
                            db.place()
                        );
                    }
                    engine.store.return_feed(items);
                }
            }
        }
        if stopping {
            return;
        }
        if prunes && last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = tokio::time::Instant::now();
            let keep = i64::try_from(FEED_KEEP.as_millis()).unwrap_or(i64::MAX);
            match db.prune_feed(keep).await {
                Ok(n) if n > 0 => tracing::debug!("forgot {n} feed rows"),
                Ok(_) => {}
                Err(e) => tracing::debug!("pruning the feed: {e}"),
            }
        }
    }
}

/// Where a reader of other hosts' probes starts: the replay's minutes, as a start from this
/// data directory's store has them.
async fn start_probes(engine: &Engine, db: &PgStore) {
    if engine.work.probes_seen() >= 0 {
        return;
    }
    match db.feed_start(REPLAY_MS).await {
        Ok(at) => engine.work.set_probes_seen(at),
        Err(e) => tracing::debug!("reading where the feed starts: {e}"),
    }
}

/// Up to `READ_BATCH` rows of `kind` after `after`, but `skip`'s, and whether there may be
/// more; `None` (logged) when the database did not answer.
async fn read(
    db: &PgStore,
    after: i64,
    skip: &str,
    kind: FeedKind,
) -> Option<(Vec<FeedItem>, i64, bool)> {
    match db.feed_after(after, skip, kind, READ_BATCH).await {
        Ok((items, upto, read)) => Some((items, upto, read >= READ_BATCH)),
        Err(e) => {
            tracing::debug!("reading the feed's {kind:?} rows: {e}");
            None
        }
    }
}

/// Takes in probe results published after the last seen, in batches.
/// This data directory's own are taken in too: a console beside a daemon sees the daemon's
/// probes at once rather than at its next read of the store, and one it already has (its own,
/// or read from the store first) is not newer than its row's last, so it is not counted twice.
pub(super) async fn take_probes(engine: &Engine, db: &PgStore) {
    // A daemon's own rows are its share, in its rows already: not read back at all (at 10,000
    // connections that was every probe it made, decoded and dropped).
    let skip: Arc<str> = match engine.work.origin() {
        Some(origin) if engine.work.is_member() => origin,
        _ => ANY_ORIGIN.into(),
    };
    start_probes(engine, db).await;
    let mut any = false;
    loop {
        let Some((items, upto, full)) =
            read(db, engine.work.probes_seen(), &skip, FeedKind::Probe).await
        else {
            break;
        };
        any |= !items.is_empty();
        // A member's own share is what it probed itself; the rest, the other daemons did.
        engine.adopt_observed(items.into_iter().filter_map(|item| match item {
            FeedItem::Probe { key, probe } if engine.work.probed_elsewhere(&key) => {
                Some((key, probe))
            }
            FeedItem::Probe { .. } | FeedItem::Event { .. } => None,
        }));
        engine.work.set_probes_seen(upto);
        if !full {
            break;
        }
    }
    if any {
        engine.publish();
    }
}

/// Writes other hosts' event log lines into this data directory's log, if this process leads
/// it. The log's own mark says where it is, so a new leader carries on where the last stopped.
pub(super) async fn take_events(engine: &Engine, db: &PgStore) {
    let Some(origin) = engine.work.origin() else {
        return;
    };
    if !engine.is_leader() {
        return;
    }
    loop {
        let from = match engine.store.feed_events_upto().await {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!("reading the event log's feed mark: {e}");
                return;
            }
        };
        let after = match from {
            Some(at) => at,
            None => match db.feed_start(REPLAY_MS).await {
                Ok(at) => at,
                Err(e) => {
                    tracing::debug!("reading where the feed starts: {e}");
                    return;
                }
            },
        };
        let Some((items, upto, full)) = read(db, after, &origin, FeedKind::Event).await else {
            return;
        };
        if upto == after && from.is_some() {
            return;
        }
        let events = items
            .into_iter()
            .filter_map(|item| match item {
                FeedItem::Event { event } => Some(event),
                FeedItem::Probe { .. } => None,
            })
            .collect();
        match engine.store.mirror_events(from, upto, events).await {
            Ok(true) if full => continue,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!("cannot write other hosts' events into this event log: {e}");
                return;
            }
        }
    }
}

/// Whether daemons share the fleet (live members): a console then shows their probes instead of
/// probing every connection itself. Checked every `every` until `cancel`.
pub(super) async fn watch_members(engine: Arc<Engine>, every: Duration, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        match super::shares::live_members(engine.broker.grants()).await {
            Ok(n) => {
                let before = engine.work.daemons_probe.swap(n > 0, Ordering::Relaxed);
                if before != (n > 0) {
                    tracing::info!(
                        "{}",
                        if n > 0 {
                            format!(
                                "{n} daemon(s) probe the fleet; this process shows their results and probes only when asked"
                            )
                        } else {
                            "no daemon probes the fleet; this process probes it".into()
                        }
                    );
                }
            }
            Err(e) => tracing::debug!("counting the daemons sharing the fleet: {e}"),
        }
    }
}
