//! The engine's shared state and its operations: refresh, probe, and publishing snapshots.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, broadcast, watch};

use super::api::{Event, Level};
use super::elicit::Elicitations;
use super::fleet::ConnectorSpec;
use crate::auth::{AuthSpec, Broker};
use crate::domain::history::History;
use crate::domain::{
    Actor, ConnectionKey, ConnectionView, ErrorClass, Failure, ProbeResult, Snapshot, TokenMeta,
    UnixMs, now_ms,
};
use crate::health::machine::{Breaker, Tracker};
use crate::health::{ProbeWindow, Standing, endpoint_stats, predict, verdict};
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
    pub history: Option<History>,
    /// Hysteresis and the circuit breaker over this connection's probes.
    pub tracker: Tracker,
    /// Since when an operator has had it paused (`engine::pause`).
    pub paused_at: Option<UnixMs>,
    /// The at-risk forecast of the last snapshot (why, for the log and the store).
    pub risk: Option<predict::Risk>,
    /// The leader's forecast as the store holds it: refresh failures are counted by the
    /// process that refreshes, so a follower or a one-shot `status` shows the leader's word.
    pub leader_risk: Option<String>,
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
        if let Some(f) = result.failure.as_ref().or(result.primary_failure.as_ref())
            && self
                .last_error
                .as_ref()
                .is_none_or(|(at, _)| result.at >= *at)
        {
            self.last_error = Some((result.at, f.clone()));
        }
        self.window.push(result);
    }
}

/// Private to the engine (the scheduler is a part of it): front-ends hold an `EngineHandle`.
pub struct Engine {
    pub(super) specs: HashMap<String, ConnectorSpec>,
    pub(super) keys: Vec<ConnectionKey>,
    pub(super) broker: Arc<Broker>,
    pub(super) prober: Prober,
    pub(super) mcp: Arc<McpPool>,
    pub(super) store: Store,
    pub(super) rows: Mutex<HashMap<ConnectionKey, Row>>,
    pub(super) snapshot_tx: watch::Sender<Arc<Snapshot>>,
    pub(super) events_tx: broadcast::Sender<Event>,
    pub(super) leader: AtomicBool,
    /// Woken whenever a token changes, so the refresh loop recomputes its next deadline.
    pub(super) rearm: Notify,
    /// Servers' requests for input waiting for a front-end's answer.
    pub(super) elicitations: Elicitations,
    /// What the leader keeps of observations (`[store]`).
    pub(super) retention: crate::store::history::Retention,
}

impl Engine {
    pub fn spec(&self, key: &ConnectionKey) -> Option<&ConnectorSpec> {
        self.specs.get(&key.connector)
    }

    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    pub(crate) fn with_row<R>(
        &self,
        key: &ConnectionKey,
        f: impl FnOnce(&mut Row) -> R,
    ) -> Option<R> {
        let mut rows = self.rows.lock().ok()?;
        rows.get_mut(key).map(f)
    }

    /// Whether the scheduler may probe now: not while the breaker of a down connection is open.
    /// A breaker whose wait is over lets one trial probe through (half-open).
    pub(crate) fn may_probe(&self, key: &ConnectionKey) -> bool {
        self.with_row(key, |r| r.tracker.may_probe(now_ms()))
            .unwrap_or(true)
    }

    /// Whether this process runs the scheduler; the scheduler says so as it leads or yields.
    pub(super) fn set_leader(&self, leading: bool) {
        self.leader.store(leading, Ordering::Relaxed);
    }

    /// The connections with a refresh running now.
    pub(super) fn refreshing(&self) -> Vec<ConnectionKey> {
        self.rows
            .lock()
            .map(|rows| {
                rows.iter()
                    .filter(|(_, r)| r.refreshing)
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Probe results another process recorded, oldest first: each newer than its row's last
    /// is added (a probe this process recorded itself is in its window already). `followed_to`
    /// moves past every one seen.
    /// Probes another process stored, by row id (`followed_to` is the last id seen).
    pub(super) fn adopt_probes(
        &self,
        probes: Vec<(i64, ConnectionKey, ProbeResult)>,
        followed_to: &mut i64,
    ) {
        let Ok(mut rows) = self.rows.lock() else {
            return;
        };
        for (id, key, p) in probes {
            *followed_to = (*followed_to).max(id);
            if let Some(row) = rows.get_mut(&key)
                && let Some(spec) = self.specs.get(&key.connector)
                && row.window.last().is_none_or(|last| p.at > last.at)
            {
                row.record_probe(p, spec);
            }
        }
    }

    pub(crate) fn emit(&self, event: Event) {
        let _ = self.events_tx.send(event);
    }

    pub(super) fn unknown(&self, key: &ConnectionKey) -> Failure {
        let known: Vec<String> = self.specs.keys().cloned().collect();
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
        self.rearm.notify_one();
        self.publish();
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
        if let Err(e) = self.store.record_probe(key, &result).await {
            tracing::warn!("could not record a probe of {key}: {e}");
        }
        let outcome = if result.ok() { "ok" } else { "failed" };
        let mut record =
            EventRecord::new(Some(key), "probe", actor, outcome).latency(result.latency_ms);
        if let Some(f) = &result.failure {
            record = record.failure(f);
        }
        if let Err(e) = self.store.append_event(record).await {
            tracing::warn!("could not record an event: {e}");
        }
        self.with_row(key, |r| {
            r.probing = false;
            r.record_probe(result.clone(), spec);
        });
        self.emit(Event::Probed {
            key: key.clone(),
            result: result.clone(),
        });
        self.publish();
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

    /// Rebuilds the snapshot and hands it to every watcher.
    pub fn publish(&self) {
        let snapshot = Arc::new(self.build_snapshot(now_ms()));
        let previous = self.snapshot_tx.send_replace(snapshot.clone());
        self.log_risk_changes(&previous, &snapshot);
    }

    pub fn build_snapshot(&self, now: UnixMs) -> Snapshot {
        let Ok(mut rows) = self.rows.lock() else {
            return Snapshot::default();
        };
        let mut connections = Vec::with_capacity(self.keys.len());
        for key in &self.keys {
            let Some(spec) = self.spec(key) else { continue };
            let row = rows.entry(key.clone()).or_default();
            row.window.prune(now);
            let meta = self.broker.meta(key).map(|(m, _)| m);
            let needs_reauth = self.broker.needs_reauth(key);
            let standing = Standing {
                missing_env: match &spec.problem {
                    Some(p) => vec![p.clone()],
                    None => spec.missing_env.clone(),
                },
                needs_reauth,
                unauthorized: matches!(spec.auth, AuthSpec::OAuth(_)) && meta.is_none(),
                connector: key.connector.clone(),
                account_flag: crate::domain::account_flag(key),
                phase: row.tracker.phase(),
                breaker: row.tracker.breaker(),
                paused_at: row.paused_at,
                at_risk: None,
            };
            let expires_at = meta.as_ref().and_then(|m| m.expires_at);
            row.risk = if needs_reauth || row.paused_at.is_some() {
                None
            } else {
                predict::at_risk(
                    now,
                    expires_at,
                    self.broker.retry_at(key),
                    self.broker.failures_in_row(key),
                    &spec.refresh_policy(),
                    &endpoint_stats(row.history.as_ref()),
                )
                .or_else(|| {
                    let reason = row.leader_risk.clone().filter(|_| !self.is_leader())?;
                    let left = expires_at?.saturating_sub(now);
                    (left > 0).then_some(predict::Risk {
                        time_left_ms: left,
                        reason,
                    })
                })
            };
            let standing = Standing {
                at_risk: row.risk.clone(),
                ..standing
            };
            let (health, mut detail) = verdict(&standing, &row.window, now);
            if needs_reauth && let Some(reason) = self.broker.unreadable_reason(key) {
                detail = Some(reason);
            }
            if spec.problem.is_some() {
                detail = spec.problem.as_ref().map(|p| format!("config: {p}"));
            }
            let (rate, n) = row.window.success_rate(now);
            let plan = self.broker.meta(key).and_then(|(m, generation)| {
                super::scheduler::refresh_due(
                    &m,
                    &spec.refresh_policy(),
                    &endpoint_stats(row.history.as_ref()),
                    row.last_refresh_at,
                    key,
                    generation,
                )
            });
            connections.push(ConnectionView {
                key: key.clone(),
                name: spec.name.clone(),
                transport: spec.transport(),
                auth: spec.auth.kind(),
                health,
                detail,
                // A grant that needs re-auth has no live token, whatever its expiry said.
                token: if needs_reauth { None } else { meta },
                // Followers and one-shot commands run no refresh loop: derive the deadline.
                next_refresh_at: if needs_reauth || row.paused_at.is_some() {
                    None
                } else {
                    row.next_refresh_at.or_else(|| plan.map(|p| p.at))
                },
                last_refresh_at: row.last_refresh_at,
                refresh_count: row.refresh_count,
                success_rate_1h: rate,
                probes_1h: n,
                last_probe: row.window.last().cloned(),
                last_error: row.last_error.as_ref().map(|(_, f)| f.clone()),
                busy: row.refreshing || row.probing,
                history: row.history.clone(),
                next_refresh_why: if needs_reauth || row.paused_at.is_some() {
                    None
                } else {
                    plan.map(|p| p.explain(now))
                },
                next_probe_at: match row.tracker.breaker() {
                    Breaker::Open { until } => Some(until),
                    _ => None,
                },
                paused: row.paused_at.is_some(),
            });
        }
        Snapshot {
            generated_at: now,
            connections,
            leader: self.is_leader(),
        }
    }
}
