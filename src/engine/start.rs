//! Starting an engine: the fleet from the config and the store, the last minutes of probes
//! replayed, the windows read, the first snapshot, then the engine's tasks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::core::{self, Engine};
use super::{
    ConnectorSpec, EngineHandle, EngineOptions, Preload, Replay, Running, command_loop, elicit,
    fleet, history, http_client, preload, protocol, publish, scheduler,
};
use crate::auth::Broker;
use crate::domain::{Actor, ConnectionKey, DEFAULT_ACCOUNT, ErrorClass, Failure, Snapshot};
use crate::mcp::McpPool;
use crate::probe::Prober;
use crate::store::{Grants, Store};

/// How much of the probe log a starting engine replays into its windows.
pub(super) const REPLAY_MS: i64 = 5 * 60_000;
/// How many of its last probes a connection with none in the replay takes instead: enough for
/// every threshold of the health machine (`DOWN_AFTER` failures in a row and the like).
const LAST_PROBES: u32 = 8;

pub(super) fn store_failure(e: crate::store::StoreError) -> Failure {
    Failure::new(ErrorClass::Config, e.to_string())
}

/// Loads the fleet from the store and starts the engine.
pub async fn start(
    store: Store,
    specs: Vec<ConnectorSpec>,
    opts: EngineOptions,
) -> Result<Running, Failure> {
    let preload = Preload::begin(&store, opts.scheduler || opts.history);
    let grants = Grants::Local(store.clone());
    start_preloaded(store, grants, specs, opts, preload).await
}

/// `start`, with the store's reads begun earlier (`Preload`: while the config was parsed),
/// and the grants where `[store] url` says.
pub async fn start_preloaded(
    store: Store,
    grants: Grants,
    specs: Vec<ConnectorSpec>,
    opts: EngineOptions,
    mut preload: Preload,
) -> Result<Running, Failure> {
    let mut steps = preload::Steps::new();
    let http = http_client()?;
    let shared = grants.is_shared();
    let broker = Broker::with_grants(
        store.clone(),
        grants.clone(),
        http.clone(),
        opts.refresh_lease,
    );
    if shared {
        // From the start: what a one-shot command does is news to the other hosts too.
        store.start_feed();
    }
    let mut stored = preload.connections().await.map_err(store_failure)?;
    // Accounts and re-auth marks are the shared database's, like the tokens.
    if shared {
        stored = grants.connections().await.map_err(store_failure)?;
    }
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
    // store's windows (`ProbeWindow::forget_counted`).
    let mut replayed = preload.probes().await.map_err(store_failure)?;
    steps.mark("replay read");
    // One pass in the fleet's order, one lookup a row; a connection with nothing in the
    // replay still shows its last probes, whenever they ran.
    let mut quiet = Vec::new();
    for (key, row) in rows.iter_mut() {
        match (replayed.remove(key), spec_of.get(key.connector.as_str())) {
            (Some(replay), Some(spec)) => row.take_replay(replay, spec),
            (None, Some(_)) => quiet.push(key.clone()),
            _ => {}
        }
    }
    drop(replayed);
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
        for (key, run) in older {
            if let Some(row) = rows.get_mut(&key)
                && let Some(spec) = spec_of.get(key.connector.as_str())
            {
                row.take_replay(Replay::of(run), spec);
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
        probe_windows_wanted: AtomicBool::new(false),
        rearm_keys: Mutex::new((false, Vec::new())),
        elicitations: elicit::Elicitations::default(),
        retention: opts.retention,
        work: super::sharing::Work::new(shared, opts.share_work),
    });
    // The windows before the first snapshot, even for a scheduled engine: besides the rates
    // shown, each connection's refresh plan rests on its token endpoint's figures in them.
    // The leader's published read if it stands (one row per connection); else the store's:
    // all of it for a one-shot `status`, which shows it and exits; for a process that stays,
    // the token endpoints' figures now and the probes' from its history reader at once (an
    // hour of a 10,000-connection fleet is 1.2 million raw probes, most of a second; until
    // then the rates shown are the replay's).
    if opts.scheduler || opts.history {
        match preload.windows().await {
            Some(all) => engine.take_history(all),
            None if opts.scheduler => engine.load_event_history().await,
            None => {
                engine.load_history().await;
            }
        }
        engine.load_leader_risk().await;
    }
    if let Grants::Shared(db) = &grants {
        match engine.store.feed_origin().await {
            Ok(origin) => engine.work.set_origin(&origin),
            Err(e) => tracing::warn!(
                "cannot read this data directory's id for the shared feed: {e}; this host's probes are not shown elsewhere"
            ),
        }
        // Before the scheduler's first round: a console beside running daemons probes
        // nothing on schedule, not even once, and `status` shows what they probed.
        if !engine.work.is_member()
            && let Ok(n) = super::shares::live_members(&grants).await
        {
            engine.work.daemons_probe.store(n > 0, Ordering::Relaxed);
        }
        // A one-shot `status` shows what the daemons probed in the last minutes; a console
        // takes it in as it starts listening, after its first frame.
        if !opts.scheduler && opts.history {
            super::feed::take_probes(&engine, db).await;
        }
    }
    let reads_took = preload.done_after;
    drop(preload);
    steps.mark("history");
    engine.publish_now();
    steps.mark("snapshot");
    tracing::debug!(
        connections = engine.keys.len(),
        "engine started: {steps} (its store reads took {} ms from when they began)",
        reads_took.as_millis()
    );

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
    if let Grants::Shared(db) = &grants {
        tasks.push((
            "shared database listener",
            tokio::spawn(super::sharing::listen(engine.clone(), cancel.clone())),
        ));
        tasks.push((
            "feed publisher",
            tokio::spawn(super::feed::publish(
                engine.clone(),
                db.clone(),
                cancel.clone(),
            )),
        ));
        if opts.scheduler && !engine.work.is_member() {
            tasks.push((
                "daemon watcher",
                tokio::spawn(super::feed::watch_members(
                    engine.clone(),
                    super::sharing::SHARE_STEP,
                    cancel.clone(),
                )),
            ));
        }
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
    // A process that stays hands its start-up's transient memory back, off the way to its
    // first frame (a trim walks the whole heap); a one-shot command (no scheduler) is about
    // to exit and would only fault it in again.
    if opts.scheduler {
        tokio::task::spawn_blocking(super::heap::release);
    }
    Ok(Running {
        handle,
        engine,
        cancel,
        tasks,
    })
}
