//! The store reads a start needs that do not depend on the config, begun before it.
//!
//! At 10,000 connections a start reads ~100,000 rows (the last minutes of probes, every
//! connection's windows) and parses a 1.2 MB config: each about 100 ms, on different threads
//! (the store's and the caller's). Begun first, the reads run while the config parses, and a
//! one-shot `status` or a console's first frame waits for the longer of the two, not both.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::start::REPLAY_MS;
use crate::domain::history::History;
use crate::domain::{ConnectionKey, Failure, UnixMs, now_ms};
use crate::health::ProbeWindow;
use crate::store::{Replayed, Store, StoreError, StoredConnection};

/// A read queued on the store's thread, and when it finished (for the start's step log).
type Pending<T> = JoinHandle<(Result<T, StoreError>, Instant)>;
type Windows = HashMap<ConnectionKey, Arc<History>>;

pub struct Preload {
    pub(super) replay_from: UnixMs,
    begun: Instant,
    /// When the last of the reads taken so far finished, after `begun`.
    pub(super) done_after: Duration,
    connections: Option<Pending<Vec<StoredConnection>>>,
    /// Each connection's probes, oldest first, grouped on the store's thread so the start
    /// looks each connection up once rather than once per probe, then made into windows.
    probes: Option<Pending<HashMap<ConnectionKey, Replay>>>,
    refresh_stats: Option<Pending<Vec<(ConnectionKey, UnixMs, u64)>>>,
    paused: Option<Pending<HashMap<ConnectionKey, UnixMs>>>,
    /// The leader's published windows, for an engine that shows them (see `history.rs`).
    windows: Option<Pending<Option<Windows>>>,
}

fn begin<T, F>(store: &Store, read: impl FnOnce(Store) -> F) -> Option<Pending<T>>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
{
    let read = read(store.clone());
    Some(tokio::spawn(async move { (read.await, Instant::now()) }))
}

impl Preload {
    /// Each read is taken once; a second take answers as a closed store would.
    async fn take<T>(
        &mut self,
        slot: fn(&mut Self) -> &mut Option<Pending<T>>,
    ) -> Result<T, StoreError> {
        let Some(pending) = slot(self).take() else {
            return Err(StoreError::Closed);
        };
        match pending.await {
            Ok((read, at)) => {
                self.done_after = self
                    .done_after
                    .max(at.saturating_duration_since(self.begun));
                read
            }
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Queues the reads on the store's thread; `windows`: the engine will show the windows.
    pub fn begin(store: &Store, windows: bool) -> Self {
        let replay_from = now_ms() - REPLAY_MS;
        Self {
            replay_from,
            begun: Instant::now(),
            done_after: Duration::ZERO,
            // Spawned in this order, so usually queued on the store's thread in it: the replay,
            // the longest read, first; the others (a few ms each) then run there while its
            // windows are built on a worker.
            probes: begin(store, move |s| async move {
                let runs = s.probes_since_by_key(replay_from).await?;
                Ok(runs
                    .into_iter()
                    .map(|(key, run)| (key, Replay::of(run)))
                    .collect())
            }),
            connections: begin(store, |s| async move { s.connections().await }),
            refresh_stats: begin(store, |s| async move { s.refresh_stats().await }),
            paused: begin(store, |s| async move { s.paused().await }),
            windows: windows
                .then(|| {
                    begin(
                        store,
                        |s| async move { s.published_windows(now_ms()).await },
                    )
                })
                .flatten(),
        }
    }

    pub(super) async fn connections(&mut self) -> Result<Vec<StoredConnection>, StoreError> {
        self.take(|p| &mut p.connections).await
    }

    pub(super) async fn probes(&mut self) -> Result<HashMap<ConnectionKey, Replay>, StoreError> {
        self.take(|p| &mut p.probes).await
    }

    pub(super) async fn refresh_stats(
        &mut self,
    ) -> Result<Vec<(ConnectionKey, UnixMs, u64)>, StoreError> {
        self.take(|p| &mut p.refresh_stats).await
    }

    pub(super) async fn paused(&mut self) -> Result<HashMap<ConnectionKey, UnixMs>, StoreError> {
        self.take(|p| &mut p.paused).await
    }

    /// The published windows if they were asked for and stand; a failed read is only a
    /// slower start (the windows are read again), so it is logged, not returned.
    pub(super) async fn windows(&mut self) -> Option<Windows> {
        self.windows.as_ref()?;
        match self.take(|p| &mut p.windows).await {
            Ok(w) => w,
            Err(e) => {
                tracing::debug!("reading the leader's published windows: {e}");
                None
            }
        }
    }
}

impl Drop for Preload {
    fn drop(&mut self) {
        // A start that failed part-way leaves nothing running behind it.
        let pending = [
            self.connections.as_ref().map(JoinHandle::abort_handle),
            self.probes.as_ref().map(JoinHandle::abort_handle),
            self.refresh_stats.as_ref().map(JoinHandle::abort_handle),
            self.paused.as_ref().map(JoinHandle::abort_handle),
            self.windows.as_ref().map(JoinHandle::abort_handle),
        ];
        for p in pending.into_iter().flatten() {
            p.abort();
        }
    }
}

/// One connection's replayed probes, made into its window and last error off the start's
/// critical path: they need no spec, and at 10,000 connections the 100,000 probes of five
/// minutes took 15–20 ms of the start after the config was read. The tracker's part, which
/// needs the connector's thresholds, is what stays (`Row::take_replay`).
pub struct Replay {
    pub(super) outcomes: Vec<(UnixMs, bool)>,
    pub(super) window: ProbeWindow,
    pub(super) last_error: Option<(UnixMs, Failure)>,
}

impl Replay {
    /// `run` oldest first.
    pub(super) fn of(run: Vec<Replayed>) -> Self {
        let mut window = ProbeWindow::default();
        window.reserve(run.len());
        let mut last_error = None;
        let mut outcomes = Vec::with_capacity(run.len());
        for p in run {
            let p = p.into_result();
            outcomes.push((p.at, p.ok()));
            super::core::note_probe(&mut window, &mut last_error, p);
        }
        Self {
            outcomes,
            window,
            last_error,
        }
    }
}

/// How long each step of a start took, for the log: at 10,000 connections each is worth
/// knowing (BENCHMARKS.md, issue 16).
pub(super) struct Steps {
    started: Instant,
    marks: Vec<(&'static str, Duration)>,
    last: Duration,
}

impl Steps {
    pub(super) fn new() -> Self {
        Self {
            started: Instant::now(),
            marks: Vec::new(),
            last: Duration::ZERO,
        }
    }

    pub(super) fn mark(&mut self, name: &'static str) {
        let at = self.started.elapsed();
        self.marks.push((name, at.saturating_sub(self.last)));
        self.last = at;
    }
}

impl std::fmt::Display for Steps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (name, d)) in self.marks.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{name} {} ms", d.as_millis())?;
        }
        write!(f, "; {} ms in all", self.last.as_millis())
    }
}
