//! Wiring: the engine owns the broker, the probes and the scheduler, takes `Command`s, emits
//! `Event`s and publishes a read-only `Snapshot`. Every front-end (console, daemon, one-shot
//! commands) runs the same engine.

pub mod adhoc;
pub mod alerts;
pub mod api;
mod audit;
pub mod authorize;
mod catalogue;
pub(crate) mod core;
mod elicit;
mod feed;
pub mod fleet;
pub mod heap;
mod history;
mod logging;
pub mod migrate;
pub mod open;
mod pause;
mod preload;
mod protocol;
mod publish;
pub mod ready;
mod requests;
mod scheduler;
pub mod shares;
mod sharing;
mod start;
mod token;
mod tools;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub(crate) use self::core::Engine;
pub use api::{Command, EngineHandle, Event, Level};
pub use elicit::ElicitationRequest;
pub use fleet::ConnectorSpec;
pub use logging::LOG_LEVELS;
// What front-ends send and read besides `Command`/`Event`: plain data, no I/O behind them.
pub use crate::auth::flows::Opener;
pub use crate::auth::revoke::Revoked;
pub use crate::mcp::Target as McpTarget;
pub use authorize::{ReauthMethod, ReauthOutcome, ReauthProgress, RevokeOutcome};
pub use open::{LogOptions, Opening, Workspace};
pub use preload::Preload;
use preload::Replay;
pub use ready::{Need, NotReady};
pub use requests::ToolCall;
pub use start::{start, start_preloaded};

use crate::domain::{ErrorClass, Failure, Snapshot};
pub use crate::mcp::elicit::{ElicitPolicy, Elicitor, Operator, OperatorAsk};
use crate::store::history::Retention;

#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Run (or stand by to run) the scheduler: refresh deadlines and probe schedules. One-shot
    /// commands leave it off and act only on what they are asked.
    pub scheduler: bool,
    /// How MCP sessions answer a server's `elicitation/create`. The default declines: a daemon
    /// has no one at a prompt; the console's engine passes `Elicitor::for_front_ends()` (its
    /// front-ends answer `Event::ElicitationRequested`); a one-shot `call` passes the
    /// operator's choice.
    pub elicit: Elicitor,
    /// How long the leader keeps raw observations and hourly rollups (`[store]`).
    pub retention: Retention,
    /// Read every connection's windows from the store at start, as `status` shows them. A
    /// scheduled engine always does; a one-shot `call` or `probe` need not pay for the read.
    pub history: bool,
    /// With the grants in a shared database (`[store] url`): take a share of the fleet's
    /// partitions and schedule only those (a daemon). A console leaves it off: it probes what
    /// it shows, and the daemons refresh.
    pub share_work: bool,
    /// How long a refresh lease lasts unless renewed (`[store] refresh_lease`).
    pub refresh_lease: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            scheduler: false,
            elicit: Elicitor::default(),
            retention: Retention::default(),
            history: false,
            share_work: false,
            refresh_lease: crate::auth::LEASE_TTL,
        }
    }
}

/// The store's retention as `[store]` configures it.
pub fn retention(config: &crate::config::StoreConfig) -> Retention {
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    Retention {
        raw_ms: ms(config.raw_retention),
        rollup_ms: ms(config.rollup_retention),
    }
}

/// How long the engine's own tasks get to stop, together.
const STOP_WITHIN: Duration = Duration::from_millis(1500);

pub struct Running {
    pub handle: EngineHandle,
    engine: Arc<Engine>,
    cancel: CancellationToken,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Running {
    /// Stops the scheduler and every session; releases the leader lease.
    /// Every task gets one shared deadline (`STOP_WITHIN`), not one each: the scheduler, the
    /// publisher and the command loop stop together. Token requests already sent are the
    /// exception: they finish and are saved (`auth::critical`), within the token request's own
    /// timeout; the scheduler stops sending new ones at once.
    pub async fn shutdown(self) {
        drop(self.stop().await);
    }

    /// `shutdown` for a command that exits next: its rows and specs (10,000 of each at fleet
    /// scale, each in many small allocations) go with the process rather than one free at a
    /// time, which was 4 % of a `status`'s CPU at 10,000 connections. What holds a file, a
    /// socket or the store's thread is dropped as usual. Not for a loop (`status --watch`):
    /// each turn would keep its rows.
    pub async fn shutdown_before_exit(self) {
        if let Ok(engine) = Arc::try_unwrap(self.stop().await) {
            let Engine {
                rows, specs, keys, ..
            } = engine;
            std::mem::forget((rows, specs, keys));
        }
    }

    async fn stop(self) -> Arc<Engine> {
        let started = tokio::time::Instant::now();
        self.cancel.cancel();
        let deadline = started + STOP_WITHIN;
        for (name, t) in self.tasks {
            let abort = t.abort_handle();
            if tokio::time::timeout_at(deadline, t).await.is_err() {
                tracing::warn!("the engine's {name} did not stop in time; abandoned");
                abort.abort();
            }
        }
        let _ = tokio::time::timeout_at(deadline, self.engine.mcp.close_all()).await;
        let waiting = crate::auth::critical::in_flight();
        if waiting > 0 {
            tracing::info!("waiting for {waiting} token request(s) in flight to be saved");
        }
        // A refresh whose request is out must be saved before the process goes.
        if !crate::auth::critical::drain(Duration::from_secs(30)).await {
            tracing::error!(
                "a token request was still running at shutdown; its connection may need re-auth"
            );
        }
        tracing::info!("engine stopped in {} ms", started.elapsed().as_millis());
        self.engine
    }

    pub fn cancelled(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Builds a snapshot now, without publishing it: what the benchmarks time. Front-ends
    /// read `handle.snapshot()`.
    pub fn build_snapshot(&self, now: crate::domain::UnixMs) -> Snapshot {
        self.engine.build_snapshot(now)
    }

    /// Marks every row changed and rebuilds the snapshot, as the periodic sweep does: what the
    /// benchmarks time for the steady state.
    pub fn publish_all(&self) {
        if let Ok(mut rows) = self.engine.rows.lock() {
            rows.mark_all();
        }
        self.engine.publish_now();
    }
}

pub fn http_client() -> Result<reqwest::Client, Failure> {
    crate::net::client_builder().build().map_err(|e| {
        Failure::new(
            ErrorClass::Config,
            format!("cannot build the HTTP client: {e}"),
        )
    })
}

async fn command_loop(
    engine: Arc<Engine>,
    mut rx: mpsc::Receiver<Command>,
    cancel: CancellationToken,
) {
    loop {
        let command = tokio::select! {
            _ = cancel.cancelled() => break,
            c = rx.recv() => match c { Some(c) => c, None => break },
        };
        match command {
            Command::Refresh { key, actor, reply } => {
                let engine = engine.clone();
                tokio::spawn(async move {
                    let result = engine.refresh(&key, actor).await;
                    if let Err(f) = &result {
                        engine.notice(Level::Warn, format!("{key}: {f}"));
                    }
                    if let Some(reply) = reply {
                        let _ = reply.send(result);
                    }
                });
            }
            Command::Probe { key, actor, reply } => {
                let engine = engine.clone();
                tokio::spawn(async move {
                    let result = engine.probe(&key, actor).await;
                    if let Err(f) = &result {
                        engine.notice(Level::Warn, format!("{key}: {f}"));
                    }
                    if let Some(reply) = reply {
                        let _ = reply.send(result);
                    }
                });
            }
            Command::ListTools { key, refresh } => {
                let engine = engine.clone();
                tokio::spawn(async move {
                    let _ = engine.list_tools(&key, refresh).await;
                });
            }
            Command::AnswerElicitation { id, answer } => {
                engine.answer_elicitation(id, answer);
            }
            Command::Alerts { op, reply } => {
                tokio::spawn(alerts::run(engine.store.clone(), op, reply));
            }
            Command::Shutdown => {
                cancel.cancel();
                break;
            }
            other => requests::handle(engine.clone(), other),
        }
    }
}
