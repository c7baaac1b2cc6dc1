//! The engine's side of health over time: reading every connection's windows from the store,
//! the leader's hourly rollup, telling when a connection turns at risk and when it stops, and
//! the task that re-reads the windows (and gives the read's memory back) while nothing happens.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::api::Level;
use super::core::Engine;
use crate::domain::{Actor, now_ms};
use crate::store::EventRecord;

impl Engine {
    /// Reads every connection's windows into the rows; answers how long the whole-fleet read
    /// took (zero when the leader's published read was taken). Followers, one-shot commands
    /// and the leader all show the same numbers: the leader reads the store and publishes
    /// what it read (`store/windows.rs`); the others take that while it stands, and read the
    /// store themselves only when no live leader has published.
    pub(crate) async fn load_history(&self) -> Duration {
        let now = now_ms();
        if !self.is_leader() && self.take_published_history().await {
            return Duration::ZERO;
        }
        let started = std::time::Instant::now();
        let all = match self.store.history(None, now).await {
            Ok(all) => all,
            Err(e) => {
                tracing::warn!("could not read the connections' history: {e}");
                return started.elapsed();
            }
        };
        let took = started.elapsed();
        // Asked after the read: a process that took the lease while reading publishes it.
        let leader = self.is_leader();
        tracing::debug!(
            "read every connection's windows in {} ms{}",
            took.as_millis(),
            if leader { ", to publish" } else { "" }
        );
        let encoded: Vec<_> = if leader {
            all.iter()
                .map(|(k, h)| (k.clone(), crate::store::windows::encode(h)))
                .collect()
        } else {
            Vec::new()
        };
        // Into the rows before the publication is awaited: the read's map is gone by then.
        self.take_history(all);
        if leader {
            // They stand until the next read is due, with slack for a busy store.
            let until = now.saturating_add(
                i64::try_from((history_every(took) + PUBLISHED_SLACK).as_millis())
                    .unwrap_or(i64::MAX),
            );
            if let Err(e) = self.store.publish_windows(encoded, now, until).await {
                tracing::warn!("could not publish the connections' windows: {e}");
            }
        }
        took
    }

    /// A scheduled start without standing published windows: the refreshes' and tool calls'
    /// windows now (a few rows of events), then the whole read from the history reader.
    pub(crate) async fn load_event_history(&self) {
        match self
            .store
            .history_of(None, now_ms(), &crate::store::history::EVENT_KINDS)
            .await
        {
            Ok(all) => self.take_history(all),
            Err(e) => tracing::warn!("could not read the connections' history: {e}"),
        }
        // The probes' windows are read once the scheduler knows whether this process leads
        // (`scheduler::run`): a leader's read is published, and read twice it would cost the
        // store twice (0.6 s at 10,000 connections with an hour stored).
        self.probe_windows_wanted.store(true, Ordering::Relaxed);
    }

    /// For the scheduler, once it knows whether it leads: the start left the probes' windows
    /// to read.
    pub(crate) fn take_probe_windows_wanted(&self) -> bool {
        self.probe_windows_wanted.swap(false, Ordering::Relaxed)
    }

    /// Takes the leader's published windows if they stand; `false` when there are none.
    pub(crate) async fn take_published_history(&self) -> bool {
        match self.store.published_windows(now_ms()).await {
            Ok(Some(all)) => {
                self.take_history(all);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::debug!("reading the leader's published windows: {e}");
                false
            }
        }
    }

    /// Every row's windows, read or published; the rows take the read's `Arc`s as they are.
    pub(super) fn take_history(
        &self,
        mut all: std::collections::HashMap<
            crate::domain::ConnectionKey,
            Arc<crate::domain::history::History>,
        >,
    ) {
        if let Ok(mut rows) = self.rows.lock() {
            for (key, row) in rows.iter_mut() {
                row.history = all.remove(key);
            }
        }
    }

    /// Takes the leader's at-risk forecasts from the store (see `Row::leader_risk`).
    pub(crate) async fn load_leader_risk(&self) {
        let stored = match self.store.at_risk().await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("reading the leader's at-risk forecasts: {e}");
                return;
            }
        };
        if let Ok(mut rows) = self.rows.lock() {
            for (key, row) in rows.iter_quiet() {
                let now = stored.get(key);
                if row.leader_risk.as_ref() != now {
                    row.leader_risk = now.cloned();
                    row.dirty = true;
                }
            }
        }
    }

    /// One step of the leader's housekeeping (an hour's rollup, the day and week sums, the
    /// prune), each a bounded store job; `Ok(true)` while more is waiting.
    pub(crate) async fn roll_up_history(&self) -> Result<bool, crate::store::StoreError> {
        let report = self.store.roll_up(now_ms(), self.retention).await?;
        if report.hours > 0 || report.probes_pruned > 0 {
            tracing::debug!(
                "rolled up {} hour(s) into {} rows; pruned {} raw probes and {} rollups",
                report.hours,
                report.rollup_rows,
                report.probes_pruned,
                report.rollups_pruned
            );
        }
        Ok(report.behind)
    }

    /// At risk is a forecast made as the snapshot is built; its start and end are told once
    /// each, as a notice and in the event log.
    pub(super) fn log_risk_changes(&self, changes: Vec<super::publish::RiskChange>) {
        for change in changes {
            let c = &change.view;
            let detail = c.detail.clone().unwrap_or_default();
            let (level, text, outcome) = if change.entered {
                (
                    Level::Warn,
                    format!("{} is at risk: {detail}", c.key),
                    "failed",
                )
            } else {
                (
                    Level::Info,
                    format!("{} is no longer at risk ({})", c.key, c.health.label()),
                    "ok",
                )
            };
            self.notice(level, text);
            // The leader forecasts; the others show its word and must not log it again.
            if !self.is_leader() {
                continue;
            }
            let reason = change.reason.filter(|_| change.entered);
            let record =
                EventRecord::new(Some(&c.key), "at_risk", Actor::Scheduler, outcome).detail(detail);
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let (store, key) = (self.store.clone(), c.key.clone());
                rt.spawn(async move {
                    if let Err(e) = store.set_at_risk(&key, reason, now_ms()).await {
                        tracing::warn!("could not record an at-risk forecast: {e}");
                    }
                    if let Err(e) = store.append_event(record).await {
                        tracing::warn!("could not record an at-risk event: {e}");
                    }
                });
            }
        }
    }
}

/// How long until the next whole-fleet window read after one that took `took`: reading every
/// window of a large fleet takes the store a while (about a second for 10,000 connections with
/// two partial hours of raw probes), so it stays under 5% of the store's time.
fn history_every(took: Duration) -> Duration {
    (took * 20).max(HISTORY_EVERY)
}

const HISTORY_EVERY: Duration = Duration::from_secs(30);
/// How long past the leader's next read its published windows still stand.
const PUBLISHED_SLACK: Duration = Duration::from_secs(30);

pub(super) async fn republish(engine: Arc<Engine>, cancel: CancellationToken) {
    let mut every = tokio::time::interval(HISTORY_EVERY);
    // The first tick is now, and start-up has just read the windows.
    every.tick().await;
    let mut next_history = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            // Just became the leader, or a start asks: read (and publish) now, not at the
            // next tick.
            _ = engine.history_now.notified() => {
                let started = tokio::time::Instant::now();
                let Some(took) = read_now(&engine, &cancel).await else { break };
                next_history = started + history_every(took);
                engine.touch_all();
            }
            tick = every.tick() => {
                // From the tick, not the read's start: a read due at the next tick must not
                // miss it by the few ms between the two and wait a whole interval more.
                if tick >= next_history {
                    let Some(took) = read_now(&engine, &cancel).await else { break };
                    next_history = tick + history_every(took);
                }
                engine.touch_all();
            }
        }
    }
}

/// One whole-fleet read, then the read's memory given back; `None` if the engine stopped
/// first: a shutdown does not wait for a read, which can take a while.
async fn read_now(engine: &Engine, cancel: &CancellationToken) -> Option<Duration> {
    let took = tokio::select! {
        _ = cancel.cancelled() => return None,
        took = engine.load_history() => took,
    };
    super::heap::trim();
    Some(took)
}
