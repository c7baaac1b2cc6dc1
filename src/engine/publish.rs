//! From rows to snapshots. A snapshot is rebuilt only for the rows that changed (the others keep
//! their `Arc`), and at a bounded rate: a fleet of 10,000 connections probed every 30 s changes
//! hundreds of times a second, and rebuilding the whole fleet per event was O(N) per event
//! (issue 16 found 98% of a saturated daemon's time there).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::core::{Engine, Row};
use super::fleet::ConnectorSpec;
use crate::auth::AuthSpec;
use crate::domain::{Actor, ConnectionKey, ConnectionView, Health, Snapshot, UnixMs, now_ms};
use crate::health::machine::Breaker;
use crate::health::{Standing, endpoint_stats, predict, verdict};

/// The least time between two snapshots built for the scheduler's own work: ten a second is
/// more than a person reads, and bounds the cost whatever the fleet's event rate.
pub(super) const MIN_GAP: Duration = Duration::from_millis(100);
/// Every row is looked at again this often, changed or not: forecasts (at risk), windows and
/// countdown-driven states move with the clock alone.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(crate) struct Pace {
    last: Instant,
    owed: bool,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            // Long enough ago that the first publish builds at once.
            last: Instant::now()
                .checked_sub(MIN_GAP)
                .unwrap_or_else(Instant::now),
            owed: false,
        }
    }
}

/// A connection entering or leaving at risk, found while its row was rebuilt.
pub(super) struct RiskChange {
    pub view: Arc<ConnectionView>,
    pub reason: Option<String>,
    pub entered: bool,
}

impl Engine {
    /// Publishes what changed, at most once per `MIN_GAP`: at once when the last build is older,
    /// else the publisher task builds when the gap is over (everything changed meanwhile in one
    /// snapshot).
    pub fn publish(&self) {
        let Ok(mut pace) = self.pace.lock() else {
            return;
        };
        if pace.owed {
            return;
        }
        if pace.last.elapsed() >= MIN_GAP {
            pace.last = Instant::now();
            drop(pace);
            self.publish_now();
        } else {
            pace.owed = true;
            drop(pace);
            self.publish_wake.notify_one();
        }
    }

    /// A front-end waiting on a reply reads the snapshot next: it must already say what
    /// happened. The scheduler's own work goes through the rate bound.
    pub(super) fn publish_for(&self, actor: Actor) {
        if actor == Actor::Scheduler {
            self.publish();
        } else {
            self.publish_now();
        }
    }

    /// Marks one row changed (a broker-side change the row did not see) and publishes.
    pub(crate) fn touch(&self, key: &ConnectionKey) {
        self.with_row(key, |_| ());
        self.publish();
    }

    /// Marks every row changed and publishes: for fleet-wide changes (leadership, a history read).
    pub(crate) fn touch_all(&self) {
        if let Ok(mut rows) = self.rows.lock() {
            rows.mark_all();
        }
        self.publish();
    }

    /// Rebuilds the changed rows and hands the snapshot to every watcher now.
    pub fn publish_now(&self) {
        let changes = {
            let Ok(mut rows) = self.rows.lock() else {
                return;
            };
            if let Ok(mut pace) = self.pace.lock() {
                pace.last = Instant::now();
            }
            let now = now_ms();
            let mut changes = Vec::new();
            let mut connections = Vec::with_capacity(self.keys.len());
            let index = rows.index();
            for (key, row) in rows.iter_quiet() {
                let Some(spec) = self.spec(key) else { continue };
                connections.push(self.current_view(key, spec, row, now, &mut changes));
            }
            let snapshot = Arc::new(Snapshot {
                generated_at: now,
                connections,
                leader: self.is_leader(),
                index,
            });
            // Sent under the rows lock, so two builders cannot publish out of order.
            self.snapshot_tx.send_replace(snapshot);
            changes
        };
        self.log_risk_changes(changes);
    }

    /// The row's view, rebuilt if the row changed; an unchanged result keeps the old `Arc`.
    fn current_view(
        &self,
        key: &ConnectionKey,
        spec: &ConnectorSpec,
        row: &mut Row,
        now: UnixMs,
        changes: &mut Vec<RiskChange>,
    ) -> Arc<ConnectionView> {
        if let (false, Some(view)) = (row.dirty, &row.view) {
            return view.clone();
        }
        row.dirty = false;
        let fresh = self.view(key, spec, row, now);
        let before = row.view.as_ref().map(|v| v.health);
        let view = match &row.view {
            Some(old) if **old == fresh => old.clone(),
            _ => Arc::new(fresh),
        };
        let (is, was) = (
            view.health == Health::AtRisk,
            before == Some(Health::AtRisk),
        );
        // A first build tells nothing: the process has just started, not the connection.
        if is != was && (is || before.is_some()) {
            changes.push(RiskChange {
                view: view.clone(),
                reason: row.risk.as_ref().map(|r| r.reason.clone()),
                entered: is,
            });
        }
        row.view = Some(view.clone());
        view
    }

    /// Every row rebuilt now, without publishing: what the benchmarks time.
    pub fn build_snapshot(&self, now: UnixMs) -> Snapshot {
        let Ok(mut rows) = self.rows.lock() else {
            return Snapshot::default();
        };
        let index = rows.index();
        let connections = rows
            .iter_quiet()
            .filter_map(|(key, row)| {
                let spec = self.spec(key)?;
                Some(Arc::new(self.view(key, spec, row, now)))
            })
            .collect();
        Snapshot {
            generated_at: now,
            connections,
            leader: self.is_leader(),
            index,
        }
    }

    fn view(
        &self,
        key: &ConnectionKey,
        spec: &ConnectorSpec,
        row: &mut Row,
        now: UnixMs,
    ) -> ConnectionView {
        row.window.prune(now);
        let meta = self.broker.meta(key);
        let generation = meta.as_ref().map(|(_, g)| *g);
        let meta = meta.map(|(m, _)| m);
        let needs_reauth = self.broker.needs_reauth(key);
        let stats = endpoint_stats(row.history.as_deref());
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
                &stats,
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
        // A process replays only the last minutes of probes at start (an hour of a large fleet
        // is millions of rows); until its window holds the hour, the store's figure for the
        // hour (read with the windows) is the exact one.
        let hour_rate = match &row.history {
            Some(h) if !row.window.holds_hour(now) && h.probes.hour.samples > 0 => Some((
                h.probes.hour.success_rate,
                u32::try_from(h.probes.hour.samples).unwrap_or(u32::MAX),
            )),
            _ => None,
        };
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
            at_risk: row.risk.clone(),
            hour_rate,
        };
        let (health, mut detail) = verdict(&standing, &row.window, now);
        if needs_reauth && let Some(reason) = self.broker.unreadable_reason(key) {
            detail = Some(reason);
        }
        if spec.problem.is_some() {
            detail = spec.problem.as_ref().map(|p| format!("config: {p}"));
        }
        let (rate, n) = hour_rate.unwrap_or_else(|| row.window.success_rate(now));
        let plan = match (&meta, generation) {
            (Some(m), Some(generation)) => super::scheduler::refresh_due(
                m,
                &spec.refresh_policy(),
                &stats,
                row.last_refresh_at,
                key,
                generation,
            ),
            _ => None,
        };
        let planned = !needs_reauth && row.paused_at.is_none();
        ConnectionView {
            key: key.clone(),
            name: spec.name.clone(),
            transport: spec.transport(),
            auth: spec.auth.kind(),
            health,
            detail,
            // A grant that needs re-auth has no live token, whatever its expiry said.
            token: if needs_reauth { None } else { meta },
            // Followers and one-shot commands run no refresh loop: derive the deadline.
            next_refresh_at: if planned {
                row.next_refresh_at.or_else(|| plan.map(|p| p.at))
            } else {
                None
            },
            last_refresh_at: row.last_refresh_at,
            refresh_count: row.refresh_count,
            success_rate_1h: rate,
            probes_1h: n,
            last_probe: row.window.last().cloned(),
            last_error: row.last_error.as_ref().map(|(_, f)| f.clone()),
            busy: row.refreshing || row.probing,
            history: row.history.clone(),
            // Why, not when: the when is `next_refresh_at`, which front-ends count down
            // themselves, so an unchanged plan leaves the view unchanged.
            next_refresh_why: if planned {
                plan.map(|p| p.reason())
            } else {
                None
            },
            next_probe_at: match row.tracker.breaker() {
                Breaker::Open { until } => Some(until),
                _ => None,
            },
            paused: row.paused_at.is_some(),
        }
    }
}

/// Builds an owed snapshot when the rate bound allows, and looks at every row every
/// `SWEEP_EVERY` whether or not anything happened.
pub(super) async fn run(engine: Arc<Engine>, cancel: CancellationToken) {
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sweep.tick().await;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = engine.publish_wake.notified() => {
                let wait = engine
                    .pace
                    .lock()
                    .map(|p| MIN_GAP.saturating_sub(p.last.elapsed()))
                    .unwrap_or(MIN_GAP);
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
                if let Ok(mut pace) = engine.pace.lock() {
                    pace.owed = false;
                }
                engine.publish_now();
            }
            _ = sweep.tick() => {
                if let Ok(mut rows) = engine.rows.lock() {
                    rows.mark_all();
                }
                engine.publish_now();
            }
        }
    }
}
