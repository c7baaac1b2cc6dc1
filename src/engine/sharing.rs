//! The engine's side of sharing one fleet between daemons (issue 14): which connections this
//! process schedules, the task that keeps its share of the partitions (`shares::Shares`), and
//! the task that hears other hosts' token writes at once (`LISTEN`).
//!
//! Only with the grants in PostgreSQL. A daemon is a member: it probes and refreshes the
//! connections of the partitions it holds. A console is not: it probes what it shows and
//! refreshes on demand only, through the same refresh leases, so an operator's laptop joining
//! or leaving never moves work between daemons.
//!
//! Partitions decide who does the work, not whether it is safe: a refresh is safe whoever
//! sends it, because it takes the connection's refresh lease, re-reads the stored generation
//! before sending, and saves fenced (`auth::broker::durable`). A daemon that resumes after a
//! pause still believes it holds its old partitions until its next step; what it does meanwhile
//! is refused by those checks, not by the partition.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Level;
use super::core::Engine;
use super::shares::{PARTITIONS, Shares, partition_of};
use crate::domain::ConnectionKey;
use crate::store::Grants;
use crate::store::pg::{Change, FeedKind};

/// How long a member's and a partition's lease lasts unrenewed; a daemon that stops (killed,
/// paused, cut off) loses its partitions this long after its last step.
pub const SHARE_TTL: Duration = Duration::from_secs(15);
/// Three steps a lease: two can fail (a slow database) before a live daemon loses its share.
pub(super) const SHARE_STEP: Duration = Duration::from_secs(5);
/// The longest wait before listening again after the database dropped the connection.
const LISTEN_RETRY_CAP: Duration = Duration::from_secs(30);

/// Which partitions this process schedules, and where it stands in the shared feed
/// (`engine::feed`).
pub struct Work {
    shared: bool,
    /// Takes a share of the partitions (a daemon with shared grants).
    member: bool,
    /// Refreshes on schedule: not a console on shared grants (daemons do that).
    refreshes: bool,
    held: Vec<AtomicBool>,
    /// Daemons share the fleet (a non-member sees live members): they probe it, and this
    /// process shows their results.
    pub(super) daemons_probe: AtomicBool,
    /// This data directory's id in the feed, once read from its store.
    origin: OnceLock<Arc<str>>,
    /// The last feed id whose probe results this process has taken in (-1: none yet).
    probes_seen: AtomicI64,
}

impl Work {
    pub fn new(shared: bool, member: bool) -> Work {
        let member = shared && member;
        Work {
            shared,
            member,
            refreshes: !shared || member,
            held: (0..PARTITIONS).map(|_| AtomicBool::new(false)).collect(),
            daemons_probe: AtomicBool::new(false),
            origin: OnceLock::new(),
            probes_seen: AtomicI64::new(-1),
        }
    }

    pub fn is_member(&self) -> bool {
        self.member
    }

    pub(super) fn origin(&self) -> Option<Arc<str>> {
        self.origin.get().cloned()
    }

    pub(super) fn set_origin(&self, origin: &str) {
        let _ = self.origin.set(origin.into());
    }

    pub(super) fn probes_seen(&self) -> i64 {
        self.probes_seen.load(Ordering::Relaxed)
    }

    pub(super) fn set_probes_seen(&self, at: i64) {
        self.probes_seen.fetch_max(at, Ordering::Relaxed);
    }

    fn holds(&self, key: &ConnectionKey) -> bool {
        let p = partition_of(key, PARTITIONS);
        self.held
            .get(usize::try_from(p).unwrap_or(usize::MAX))
            .is_some_and(|h| h.load(Ordering::Relaxed))
    }

    /// Whether the scheduler probes `key` here: a member its share; anyone else all, unless
    /// daemons share the fleet.
    pub fn probes(&self, key: &ConnectionKey) -> bool {
        if self.member {
            self.holds(key)
        } else {
            !self.daemons_probe.load(Ordering::Relaxed)
        }
    }

    /// Another process probes `key` on schedule: a daemon holding its partition.
    pub fn probed_elsewhere(&self, key: &ConnectionKey) -> bool {
        self.shared && !self.probes(key)
    }

    /// Whether the scheduler refreshes `key` here ahead of its expiry.
    pub fn refreshes(&self, key: &ConnectionKey) -> bool {
        self.refreshes && (!self.member || self.holds(key))
    }

    fn set_held(&self, held: impl Iterator<Item = u32>) {
        let mut now = vec![false; self.held.len()];
        for p in held {
            if let Some(h) = now.get_mut(usize::try_from(p).unwrap_or(usize::MAX)) {
                *h = true;
            }
        }
        for (slot, h) in self.held.iter().zip(now) {
            slot.store(h, Ordering::Relaxed);
        }
    }
}

/// Keeps this daemon's share of the partitions while it runs the scheduler, and gives it back
/// when it stops.
pub(super) async fn keep_share(engine: Arc<Engine>, holder: String, cancel: CancellationToken) {
    let ttl_ms = i64::try_from(SHARE_TTL.as_millis()).unwrap_or(i64::MAX);
    let mut shares = Shares::new(engine.broker.grants().clone(), holder, PARTITIONS, ttl_ms);
    let mut every = tokio::time::interval(SHARE_STEP);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = every.tick() => {}
        }
        match shares.step().await {
            Ok(step) => {
                if failing {
                    failing = false;
                    engine.notice(Level::Info, "the shared database answers again");
                }
                engine.work.set_held(shares.held());
                if !(step.gained.is_empty() && step.lost.is_empty() && step.released.is_empty()) {
                    tracing::info!(
                        "this daemon now schedules {} of {PARTITIONS} partitions, among {} daemons (gained {}, lost {}, gave back {})",
                        shares.held().count(),
                        step.members,
                        step.gained.len(),
                        step.lost.len(),
                        step.released.len()
                    );
                    engine.rearm_all();
                    engine.touch_all();
                }
            }
            // What it holds stays scheduled: its leases may lapse and another daemon take them,
            // which costs a duplicate probe, never a duplicate refresh (the refresh lease).
            Err(e) if !failing => {
                failing = true;
                engine.notice(
                    Level::Warn,
                    format!(
                        "cannot renew this daemon's share of the fleet: {e}; retrying every {} s",
                        SHARE_STEP.as_secs()
                    ),
                );
            }
            Err(e) => tracing::debug!("renewing the share of the fleet: {e}"),
        }
    }
    engine.work.set_held(std::iter::empty());
    if let Err(e) = shares.leave().await {
        tracing::warn!(
            "could not give back this daemon's partitions: {e}; the others take them when the leases lapse"
        );
    }
}

/// Hears the tokens and re-auth marks other processes commit to the shared database, and
/// adopts them at once. After every (re)connection it reads everything once, for what
/// committed while nobody listened.
pub(super) async fn listen(engine: Arc<Engine>, cancel: CancellationToken) {
    let Grants::Shared(db) = engine.broker.grants().clone() else {
        return;
    };
    let mut wait = Duration::from_secs(1);
    loop {
        match db.listen().await {
            Ok(mut changes) => {
                wait = Duration::from_secs(1);
                adopt_all(&engine).await;
                super::feed::take_probes(&engine, &db).await;
                super::feed::take_events(&engine, &db).await;
                loop {
                    let change = tokio::select! {
                        _ = cancel.cancelled() => return,
                        c = changes.recv() => c,
                    };
                    match change {
                        // Most are this process's own saves, or ones it already adopted: no
                        // read for a generation it holds.
                        Some(Change::Token { key, generation }) => {
                            if engine
                                .broker
                                .generation(&key)
                                .is_none_or(|g| g < generation)
                            {
                                adopt(&engine, &key).await;
                            }
                        }
                        Some(Change::Revoked { key }) => adopt(&engine, &key).await,
                        Some(Change::Feed { kind, upto, origin }) => {
                            // A notice of this data directory's own rows has nothing to read
                            // for a daemon (its probes and lines are its own) nor for any
                            // event log (it holds them). A console beside a daemon shares its
                            // origin and does want the daemon's probes.
                            let own = engine.work.origin().is_some_and(|o| *o == *origin);
                            match kind {
                                FeedKind::Probe
                                    if !(own && engine.work.is_member())
                                        && upto > engine.work.probes_seen() =>
                                {
                                    super::feed::take_probes(&engine, &db).await;
                                }
                                FeedKind::Event if !own => {
                                    super::feed::take_events(&engine, &db).await;
                                }
                                FeedKind::Probe | FeedKind::Event => {}
                            }
                        }
                        Some(Change::Reauth { .. }) => {
                            if let Ok(marked) = engine.broker.sync_reauth_marks().await {
                                marked.iter().for_each(|k| engine.touch(k));
                            }
                        }
                        None => break,
                    }
                }
                tracing::warn!(
                    "stopped hearing changes from {}; listening again in {} s",
                    db.place(),
                    wait.as_secs()
                );
            }
            Err(e) => tracing::warn!(
                "cannot hear changes from the shared database: {e}; retrying in {} s",
                wait.as_secs()
            ),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(LISTEN_RETRY_CAP);
    }
}

async fn adopt(engine: &Engine, key: &ConnectionKey) {
    match engine.broker.sync_from_store(key).await {
        Ok(true) => {
            tracing::debug!("{key}: picked up a token another switchboard process stored");
            engine.rearm_one(key);
            engine.touch(key);
        }
        Ok(false) => {}
        Err(f) => tracing::debug!("{key}: cannot follow its stored token: {f}"),
    }
}

async fn adopt_all(engine: &Engine) {
    match engine.broker.sync_all().await {
        Ok(changed) => {
            for key in changed {
                engine.rearm_one(&key);
                engine.touch(&key);
            }
        }
        Err(f) => tracing::debug!("following the shared database's tokens: {f}"),
    }
    if let Ok(marked) = engine.broker.sync_reauth_marks().await {
        marked.iter().for_each(|k| engine.touch(k));
    }
}
