//! The engine's shared state and its operations: refresh and probe (`publish.rs` turns the
//! rows into snapshots).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, broadcast, watch};

use super::api::{Event, Level};
use super::elicit::Elicitations;
use super::fleet::ConnectorSpec;
use crate::auth::Broker;
use crate::domain::history::History;
use crate::domain::{
    Actor, ConnectionKey, ConnectionView, ErrorClass, Failure, ProbeResult, Snapshot, TokenMeta,
    UnixMs, now_ms,
};
use crate::health::machine::Tracker;
use crate::health::{ProbeWindow, predict};
use crate::mcp::McpPool;
use crate::probe::Prober;
use crate::store::{EventRecord, Store};

#[derive(Default)]
pub(crate) struct Row {
    pub window: ProbeWindow,
    pub refreshing: bool,
    pub probing: bool,
    pub last_refresh_at: Option<UnixMs>,
    pub refresh_count: u64,
    pub last_error: Option<(UnixMs, Failure)>,
    pub next_refresh_at: Option<UnixMs>,
    /// Windows and percentiles from the store (`Engine::load_history`), so every process shows
    /// the numbers the store holds, not only what it saw itself.
    pub history: Option<Arc<History>>,
    /// Hysteresis and the circuit breaker over this connection's probes.
    pub tracker: Tracker,
    /// Since when an operator has had it paused (`engine::pause`).
    pub paused_at: Option<UnixMs>,
    /// The at-risk forecast of the last snapshot (why, for the log and the store).
    pub risk: Option<predict::Risk>,
    /// The leader's forecast as the store holds it: refresh failures are counted by the
    /// process that refreshes, so a follower or a one-shot `status` shows the leader's word.
    pub leader_risk: Option<String>,
    /// The view the last snapshot showed; reused while nothing about the row changed.
    pub view: Option<Arc<ConnectionView>>,
    /// Something changed since `view` was built (set by every write through `Rows`).
    pub dirty: bool,
}

/// Every connection's row, in the fleet's order. Writes go through `get_mut` and `iter_mut`,
/// which mark what they touch, so a snapshot rebuilds only the rows that changed.
pub(crate) struct Rows {
    keys: Vec<ConnectionKey>,
    slots: Vec<Row>,
    index: Arc<HashMap<ConnectionKey, usize>>,
}

impl Rows {
    pub(crate) fn new(keys: &[ConnectionKey]) -> Self {
        Rows {
            keys: keys.to_vec(),
            slots: keys.iter().map(|_| Row::default()).collect(),
            index: Arc::new(
                keys.iter()
                    .enumerate()
                    .map(|(i, k)| (k.clone(), i))
                    .collect(),
            ),
        }
    }

    pub(crate) fn position(&self, key: &ConnectionKey) -> Option<usize> {
        self.index.get(key).copied()
    }

    pub(crate) fn get(&self, key: &ConnectionKey) -> Option<&Row> {
        self.slots.get(*self.index.get(key)?)
    }

    pub(crate) fn get_mut(&mut self, key: &ConnectionKey) -> Option<&mut Row> {
        let row = self.slots.get_mut(*self.index.get(key)?)?;
        row.dirty = true;
        Some(row)
    }

    /// Runs `f` on one row, marking it changed only if `f` says it changed something.
    pub(crate) fn update(&mut self, key: &ConnectionKey, f: impl FnOnce(&mut Row) -> bool) {
        if let Some(row) = self.index.get(key).and_then(|&i| self.slots.get_mut(i))
            && f(row)
        {
            row.dirty = true;
        }
    }

    /// Every row, each marked changed: for writes that may touch any of them (a history read).
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&ConnectionKey, &mut Row)> {
        self.keys.iter().zip(self.slots.iter_mut()).map(|(k, r)| {
            r.dirty = true;
            (k, r)
        })
    }

    /// Every row, unmarked: the caller marks (`Row::dirty`) only those it changes.
    pub(crate) fn iter_quiet(&mut self) -> impl Iterator<Item = (&ConnectionKey, &mut Row)> {
        self.keys.iter().zip(self.slots.iter_mut())
    }

    pub(crate) fn index(&self) -> Arc<HashMap<ConnectionKey, usize>> {
        self.index.clone()
    }

    pub(crate) fn mark_all(&mut self) {
        for r in &mut self.slots {
            r.dirty = true;
        }
    }
}

impl Row {
    /// Adds a probe result to the window and the tracker; a failed one is also the row's last
    /// error, whether this process probed or read it from the store (a follower, a one-shot
    /// `status`).
    pub(crate) fn record_probe(&mut self, result: ProbeResult, spec: &ConnectorSpec) {
        self.tracker.observe(
            result.ok(),
            result.at,
            spec.health.thresholds,
            spec.backoff(),
        );
        note_probe(&mut self.window, &mut self.last_error, result);
    }

    /// A start's replay: the window and last error were built from it while the config was
    /// read (they need no spec); the tracker, which does, sees each outcome in turn now.
    pub(crate) fn take_replay(&mut self, replay: super::preload::Replay, spec: &ConnectorSpec) {
        let (thresholds, backoff) = (spec.health.thresholds, spec.backoff());
        for (at, ok) in replay.outcomes {
            self.tracker.observe(ok, at, thresholds, backoff);
        }
        self.window = replay.window;
        self.last_error = replay.last_error;
    }
}

/// The part of recording a probe that needs no spec: into the window, and a failure (or a
/// fallback's primary failure) newer than the last error becomes it.
pub(crate) fn note_probe(
    window: &mut ProbeWindow,
    last_error: &mut Option<(UnixMs, Failure)>,
    result: ProbeResult,
) {
    if let Some(f) = result.failure.as_ref().or(result.primary_failure.as_ref())
        && last_error.as_ref().is_none_or(|(at, _)| result.at >= *at)
    {
        *last_error = Some((result.at, f.clone()));
    }
    window.push(result);
}

/// Private to the engine (the scheduler is a part of it): front-ends hold an `EngineHandle`.
pub struct Engine {
    pub(super) specs: super::fleet::Specs,
    pub(super) keys: Vec<ConnectionKey>,
    pub(super) broker: Arc<Broker>,
    pub(super) prober: Prober,
    pub(super) mcp: Arc<McpPool>,
    pub(super) store: Store,
    pub(super) rows: Mutex<Rows>,
    /// When snapshots were last built, and whether one is owed (`publish`'s rate bound).
    pub(super) pace: Mutex<super::publish::Pace>,
    /// Wakes the task that builds an owed snapshot once the rate bound allows.
    pub(super) publish_wake: Notify,
    pub(super) snapshot_tx: watch::Sender<Arc<Snapshot>>,
    pub(super) events_tx: broadcast::Sender<Event>,
    pub(super) leader: AtomicBool,
    /// Wakes the history reader for a read now: this process just became the leader, and the
    /// others wait for its published windows (`history.rs`).
    pub(super) history_now: Notify,
    /// A scheduled start read only the events' windows; the scheduler asks for the probes'
    /// once it knows whether this process leads (`Engine::load_event_history`).
    pub(super) probe_windows_wanted: AtomicBool,
    /// Woken whenever a token changes, so the refresh loop recomputes its next deadline.
    pub(super) rearm: Notify,
    /// Which connections' deadlines to recompute (`true`: all of them).
    pub(super) rearm_keys: Mutex<(bool, Vec<ConnectionKey>)>,
    /// Servers' requests for input waiting for a front-end's answer.
    pub(super) elicitations: Elicitations,
    /// What the leader keeps of observations (`[store]`).
    pub(super) retention: crate::store::history::Retention,
    /// Which connections this process schedules, when daemons share the fleet (`sharing`).
    pub(super) work: super::sharing::Work,
}

impl Engine {
    pub fn spec(&self, key: &ConnectionKey) -> Option<&ConnectorSpec> {
        self.specs.get(&key.connector)
    }

    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    /// Changes one row; the next snapshot rebuilds its view.
    pub(crate) fn with_row<R>(
        &self,
        key: &ConnectionKey,
        f: impl FnOnce(&mut Row) -> R,
    ) -> Option<R> {
        let mut rows = self.rows.lock().ok()?;
        rows.get_mut(key).map(f)
    }

    /// Reads one row without marking it changed.
    pub(crate) fn read_row<R>(&self, key: &ConnectionKey, f: impl FnOnce(&Row) -> R) -> Option<R> {
        let rows = self.rows.lock().ok()?;
        rows.get(key).map(f)
    }

    /// Whether the scheduler may probe now: not while the breaker of a down connection is open.
    /// A breaker whose wait is over lets one trial probe through (half-open).
    pub(crate) fn may_probe(&self, key: &ConnectionKey) -> bool {
        self.with_row(key, |r| r.tracker.may_probe(now_ms()))
            .unwrap_or(true)
    }

    /// Asks the refresh loop to recompute one connection's deadline.
    pub(crate) fn rearm_one(&self, key: &ConnectionKey) {
        if let Ok(mut q) = self.rearm_keys.lock() {
            q.1.push(key.clone());
        }
        self.rearm.notify_one();
    }

    /// Asks the refresh loop to recompute every deadline.
    pub(crate) fn rearm_all(&self) {
        if let Ok(mut q) = self.rearm_keys.lock() {
            q.0 = true;
            q.1.clear();
        }
        self.rearm.notify_one();
    }

    pub(super) fn take_rearm(&self) -> (bool, Vec<ConnectionKey>) {
        self.rearm_keys
            .lock()
            .map(|mut q| std::mem::take(&mut *q))
            .unwrap_or_default()
    }

    pub(super) fn key_index(&self, key: &ConnectionKey) -> Option<usize> {
        self.rows.lock().ok()?.position(key)
    }

    /// The refresh loop's deadline for the row; the row changes only if the deadline did.
    pub(super) fn set_next_refresh(&self, key: &ConnectionKey, at: Option<UnixMs>) {
        if let Ok(mut rows) = self.rows.lock() {
            rows.update(key, |r| std::mem::replace(&mut r.next_refresh_at, at) != at);
        }
    }

    /// Whether this process runs the scheduler; the scheduler says so as it leads or yields.
    pub(super) fn set_leader(&self, leading: bool) {
        self.leader.store(leading, Ordering::Relaxed);
    }

    /// Probe results another process recorded, oldest first: each newer than its row's last
    /// is added (a probe this process recorded itself is in its window already). `followed_to`
    /// (a store row id) moves past every one seen.
    pub(super) fn adopt_probes(
        &self,
        probes: Vec<(i64, ConnectionKey, ProbeResult)>,
        followed_to: &mut i64,
    ) {
        if let Some(last) = probes.iter().map(|p| p.0).max() {
            *followed_to = (*followed_to).max(last);
        }
        self.adopt_observed(probes.into_iter().map(|(_, key, p)| (key, p)));
    }

    /// Probe results observed elsewhere (the store, another host's feed), oldest first; one
    /// not newer than its row's last probe is already counted, or too late to matter.
    pub(super) fn adopt_observed(
        &self,
        probes: impl IntoIterator<Item = (ConnectionKey, ProbeResult)>,
    ) {
        let Ok(mut rows) = self.rows.lock() else {
            return;
        };
        for (key, p) in probes {
            if let Some(row) = rows.get_mut(&key)
                && let Some(spec) = self.specs.get(&key.connector)
                && row.window.last().is_none_or(|last| p.at > last.at)
            {
                row.record_probe(p, spec);
            }
        }
    }

    /// Refresh counts the leader stored; a row changes only if its figures did.
    pub(super) fn adopt_refresh_stats(&self, stats: Vec<(ConnectionKey, UnixMs, u64)>) {
        let Ok(mut rows) = self.rows.lock() else {
            return;
        };
        for (key, at, count) in stats {
            rows.update(&key, |r| {
                let changed = r.last_refresh_at != Some(at) || r.refresh_count != count;
                r.last_refresh_at = Some(at);
                r.refresh_count = count;
                changed
            });
        }
    }

    pub(crate) fn emit(&self, event: Event) {
        let _ = self.events_tx.send(event);
    }

    pub(super) fn unknown(&self, key: &ConnectionKey) -> Failure {
        let known: Vec<String> = self.specs.ids().cloned().collect();
        Failure::new(
            ErrorClass::Config,
            format!(
                "no connection `{key}`; configured connectors: {}",
                known.join(", ")
            ),
        )
    }

    /// Refreshes now through the broker (the only refresher). Coalesced: while one refresh of a
    /// connection runs, another request joins the broker's single flight rather than queueing.
    pub async fn refresh(&self, key: &ConnectionKey, actor: Actor) -> Result<TokenMeta, Failure> {
        let spec = self.spec(key).ok_or_else(|| self.unknown(key))?;
        if let Some(p) = super::ready::config_problem(spec) {
            return Err(p);
        }
        if self.is_paused(key) {
            return Err(super::ready::NotReady::Paused.failure(key));
        }
        self.with_row(key, |r| r.refreshing = true);
        self.emit(Event::RefreshStarted { key: key.clone() });
        self.publish();
        let result = self.broker.refresh_now(key, actor).await;
        self.with_row(key, |r| {
            r.refreshing = false;
            if let Err(f) = &result {
                r.last_error = Some((now_ms(), f.clone()));
            }
        });
        self.emit(Event::Refreshed {
            key: key.clone(),
            result: result.clone(),
        });
        self.rearm_one(key);
        self.publish_for(actor);
        result
    }

    /// Probes now, records the result, updates health.
    pub async fn probe(&self, key: &ConnectionKey, actor: Actor) -> Result<ProbeResult, Failure> {
        self.ready(key, super::ready::Need::Grant)?;
        let spec = self.spec(key).ok_or_else(|| self.unknown(key))?;
        self.with_row(key, |r| r.probing = true);
        self.emit(Event::ProbeStarted { key: key.clone() });
        self.publish();
        let result = self.prober.probe(key, &spec.plan, actor).await;
        let outcome = if result.ok() { "ok" } else { "failed" };
        let mut record =
            EventRecord::new(Some(key), "probe", actor, outcome).latency(result.latency_ms);
        if let Some(f) = &result.failure {
            record = record.failure(f);
        }
        if let Err(e) = self
            .store
            .record_observation(key, &result, Some(record))
            .await
        {
            tracing::warn!("could not record a probe of {key}: {e}");
        }
        self.with_row(key, |r| {
            r.probing = false;
            r.record_probe(result.clone(), spec);
        });
        self.emit(Event::Probed {
            key: key.clone(),
            result: result.clone(),
        });
        self.publish_for(actor);
        Ok(result)
    }

    pub(crate) fn notice(&self, level: Level, text: impl Into<String>) {
        let text = text.into();
        // The log is where a headless daemon's notices end up (the console shows them too).
        match level {
            Level::Info => tracing::info!("{text}"),
            _ => tracing::warn!("{text}"),
        }
        self.emit(Event::Notice { level, text });
    }
}
