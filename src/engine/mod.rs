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
pub mod fleet;
mod history;
mod logging;
pub mod open;
mod pause;
mod preload;
mod protocol;
mod publish;
pub mod ready;
mod requests;
mod scheduler;
mod token;
mod tools;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, mpsc, watch};
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
pub use ready::{Need, NotReady};
pub use requests::ToolCall;

use crate::auth::Broker;
use crate::domain::{Actor, ConnectionKey, DEFAULT_ACCOUNT, ErrorClass, Failure, Snapshot};
use crate::mcp::McpPool;
pub use crate::mcp::elicit::{ElicitPolicy, Elicitor, Operator, OperatorAsk};
use crate::probe::Prober;
use crate::store::Store;
use crate::store::history::Retention;

#[derive(Debug, Clone, Default)]
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
}

/// The store's retention as `[store]` configures it.
pub fn retention(config: &crate::config::StoreConfig) -> Retention {
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    Retention {
        raw_ms: ms(config.raw_retention),
        rollup_ms: ms(config.rollup_retention),
    }
}

/// How much of the probe log a starting engine replays into its windows.
const REPLAY_MS: i64 = 5 * 60_000;
/// How many of its last probes a connection with none in the replay takes instead: enough for
/// every threshold of the health machine (`DOWN_AFTER` failures in a row and the like).
const LAST_PROBES: u32 = 8;

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

fn store_failure(e: crate::store::StoreError) -> Failure {
    Failure::new(ErrorClass::Config, e.to_string())
}

/// Loads the fleet from the store and starts the engine.
pub async fn start(
    store: Store,
    specs: Vec<ConnectorSpec>,
    opts: EngineOptions,
) -> Result<Running, Failure> {
    let preload = Preload::begin(&store, opts.scheduler || opts.history);
    start_preloaded(store, specs, opts, preload).await
}

/// `start`, with the store's reads begun earlier (`Preload`: while the config was parsed).
pub async fn start_preloaded(
    store: Store,
    specs: Vec<ConnectorSpec>,
    opts: EngineOptions,
    mut preload: Preload,
) -> Result<Running, Failure> {
    let mut steps = preload::Steps::new();
    let http = http_client()?;
    let broker = Broker::new(store.clone(), http.clone());
    let stored = preload.connections().await.map_err(store_failure)?;
    // By connector once: a search of every stored connection per connector was 10^8 string
    // comparisons at 10,000 authorized connections.
    let mut stored_of: HashMap<&str, Vec<_>> = HashMap::new();
    for c in &stored {
        stored_of
            .entry(c.key.connector.as_str())
            .or_default()
            .push(c);
    }
    steps.mark("connections");

    let mut keys = Vec::new();
    let mut entries = Vec::new();
    for spec in &specs {
        let mut accounts = stored_of.remove(spec.id.as_str()).unwrap_or_default();
        accounts.sort_by_key(|c| (c.key.account != DEFAULT_ACCOUNT, c.key.account.clone()));
        let accounts_of: Vec<(ConnectionKey, bool)> = if accounts.is_empty() {
            vec![(ConnectionKey::new(spec.id.clone(), DEFAULT_ACCOUNT), false)]
        } else {
            accounts
                .iter()
                .map(|c| (c.key.clone(), c.needs_reauth))
                .collect()
        };
        for (key, needs_reauth) in accounts_of {
            entries.push((key.clone(), spec.auth.clone(), needs_reauth));
            keys.push(key);
        }
    }
    broker.register_all(entries).await?;
    steps.mark("tokens");

    let mut rows = core::Rows::new(&keys);
    let spec_of: HashMap<&str, &ConnectorSpec> = specs.iter().map(|s| (s.id.as_str(), s)).collect();
    // The last minutes, not the hour: enough for the hysteresis and the last probe, and a
    // start costs the same at steady state as on a fresh store (an hour of 10,000
    // connections probed every 30 s is 1.2 million rows). The hour's rate comes from the
    // store's windows until the window holds a whole hour.
    for (_, row) in rows.iter_mut() {
        row.window.set_complete_from(preload.replay_from);
    }
    let mut replayed = preload.probes().await.map_err(store_failure)?;
    // A connection with nothing in the replay still shows its last probes, whenever they ran.
    let quiet: Vec<ConnectionKey> = keys
        .iter()
        .filter(|k| !replayed.contains_key(*k))
        .cloned()
        .collect();
    if !quiet.is_empty() {
        // Enough for the strictest threshold configured (bounded: each is a lookup's rows).
        let per = specs
            .iter()
            .map(|s| {
                s.health
                    .thresholds
                    .down_after
                    .max(s.health.thresholds.up_after)
            })
            .max()
            .unwrap_or(0)
            .clamp(LAST_PROBES, 64);
        let older = store
            .last_probes(quiet, per, preload.replay_from)
            .await
            .map_err(store_failure)?;
        replayed.extend(older);
    }
    for (key, probes) in replayed {
        if let Some(row) = rows.get_mut(&key)
            && let Some(spec) = spec_of.get(key.connector.as_str())
        {
            for p in probes {
                row.record_probe(p, spec);
            }
        }
    }

    steps.mark("replay");
    for (key, at, count) in preload.refresh_stats().await.map_err(store_failure)? {
        if let Some(row) = rows.get_mut(&key) {
            row.last_refresh_at = Some(at);
            row.refresh_count = count;
        }
    }
    for (key, at) in preload.paused().await.map_err(store_failure)? {
        if let Some(row) = rows.get_mut(&key) {
            row.paused_at = Some(at);
        }
    }

    let (elicit, asks) = opts.elicit.clone().connect_front_ends();
    let (events_tx, _) = broadcast::channel(512);
    let mcp = Arc::new(
        McpPool::new(broker.clone(), store.clone(), http.clone())
            .with_elicitor(elicit)
            .with_transcripts(protocol::transcripts(events_tx.clone()))
            // Without a scheduler this is a one-shot command's engine: whatever its sessions
            // do, someone at the command line asked for it.
            .with_actor(if opts.scheduler {
                Actor::Scheduler
            } else {
                Actor::Cli
            })
            .with_protocols(
                specs
                    .iter()
                    .filter_map(|s| Some((s.id.clone(), s.protocol_version.clone()?))),
            )
            .with_roots(
                specs
                    .iter()
                    .filter(|s| !s.roots.is_empty())
                    .map(|s| (s.id.clone(), s.roots.clone())),
            ),
    );
    drop(spec_of);
    let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(Snapshot::default()));
    let (commands_tx, commands_rx) = mpsc::channel(256);
    let engine = Arc::new(Engine {
        specs: fleet::Specs::new(specs),
        keys,
        prober: Prober::new(broker.clone(), mcp.clone(), http),
        broker,
        mcp,
        store,
        rows: Mutex::new(rows),
        pace: Mutex::new(publish::Pace::default()),
        publish_wake: Notify::new(),
        snapshot_tx,
        events_tx: events_tx.clone(),
        leader: AtomicBool::new(false),
        rearm: Notify::new(),
        history_now: Notify::new(),
        rearm_keys: Mutex::new((false, Vec::new())),
        elicitations: elicit::Elicitations::default(),
        retention: opts.retention,
    });
    // The windows before the first snapshot, even for a scheduled engine: besides the rates
    // shown, each connection's refresh plan rests on its token endpoint's figures in them.
    // The leader's published read if it stands (one row per connection); else the store's.
    if opts.scheduler || opts.history {
        match preload.windows().await {
            Some(all) => engine.take_history(all),
            None => {
                engine.load_history().await;
            }
        }
        engine.load_leader_risk().await;
    }
    drop(preload);
    steps.mark("history");
    engine.publish_now();
    steps.mark("snapshot");
    tracing::debug!(connections = engine.keys.len(), "engine started: {steps}");

    let cancel = CancellationToken::new();
    let mut tasks = vec![(
        "command loop",
        tokio::spawn(command_loop(engine.clone(), commands_rx, cancel.clone())),
    )];
    if opts.scheduler {
        let holder = crate::store::lease::holder_id();
        tasks.push((
            "scheduler",
            tokio::spawn(scheduler::run(engine.clone(), holder, cancel.clone(), true)),
        ));
    }
    if let Some(asks) = asks {
        tasks.push((
            "elicitation relay",
            tokio::spawn(elicit::relay(engine.clone(), asks, cancel.clone())),
        ));
    }
    tasks.push((
        "publisher",
        tokio::spawn(publish::run(engine.clone(), cancel.clone())),
    ));
    // Keeps the windows (rates and percentiles, from the store) current even when nothing happens.
    tasks.push((
        "history reader",
        tokio::spawn(history::republish(engine.clone(), cancel.clone())),
    ));
    let handle = EngineHandle::from_parts(commands_tx, snapshot_rx, events_tx);
    history::trim_heap();
    Ok(Running {
        handle,
        engine,
        cancel,
        tasks,
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
