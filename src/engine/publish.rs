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

/// Snapshots built per second at most, on average: ten a second is more than a person reads,
/// and bounds the cost whatever the fleet's event rate.
const PER_SECOND: f64 = 10.0;

/// Builds allowed back to back before the rate bound applies: a small fleet's events (a probe
/// starting, then ending) each get their snapshot at once, as a front-end waiting on one
/// expects; only a sustained rate is coalesced.
const BURST: f64 = 10.0;
/// Every row is looked at again this often, changed or not: forecasts (at risk), windows and
/// countdown-driven states move with the clock alone.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// A token bucket over snapshot builds, and whether one is owed to the publisher task.
#[derive(Debug)]
pub(crate) struct Pace {
    tokens: f64,
    refilled: Instant,
    owed: bool,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            tokens: BURST,
            refilled: Instant::now(),
            owed: false,
        }
    }
}

impl Pace {
    fn refill(&mut self, now: Instant) {
        let gained = now.duration_since(self.refilled).as_secs_f64() * PER_SECOND;
        self.tokens = (self.tokens + gained).min(BURST);
        self.refilled = now;
    }

    /// Takes a build if the bucket has one.
    fn take(&mut self) -> bool {
        self.take_at(Instant::now())
    }

    fn take_at(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until the bucket holds a build.
    fn wait(&mut self) -> Duration {
        self.wait_at(Instant::now())
    }

    fn wait_at(&mut self, now: Instant) -> Duration {
        self.refill(now);
        Duration::from_secs_f64(((1.0 - self.tokens) / PER_SECOND).max(0.0))
    }
}

/// A connection entering or leaving at risk, found while its row was rebuilt.
pub(super) struct RiskChange {
    pub view: Arc<ConnectionView>,
    pub reason: Option<String>,
    pub entered: bool,
}

impl Engine {
    /// Publishes what changed: at once while the rate bound allows, else the publisher task
    /// builds when it does (everything changed meanwhile in one snapshot).
    pub fn publish(&self) {
        let Ok(mut pace) = self.pace.lock() else {
            return;
        };
        if pace.owed {
            return;
        }
        if pace.take() {
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
        let hour_rate = crate::health::stored_hour(&mut row.window, row.history.as_deref(), now);
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
            probed_elsewhere: self.work.probed_elsewhere(key),
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
                    .map(|mut p| p.wait())
                    .unwrap_or(Duration::from_millis(100));
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
                if let Ok(mut pace) = engine.pace.lock() {
                    pace.owed = false;
                    pace.take();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_built_at_once_and_a_sustained_rate_is_bounded() {
        let mut pace = Pace::default();
        let mut now = pace.refilled;
        for _ in 0..BURST as usize {
            assert!(pace.take_at(now), "a burst is built at once");
        }
        assert!(!pace.take_at(now), "then the bound applies");
        assert_eq!(pace.wait_at(now), Duration::from_millis(100));
        now += Duration::from_millis(100);
        assert!(pace.take_at(now));
        assert!(!pace.take_at(now));
        // A thousand requests over ten seconds get about a hundred builds.
        let mut built = 0;
        for _ in 0..1000 {
            now += Duration::from_millis(10);
            built += pace.take_at(now) as u32;
        }
        assert!((99..=101).contains(&built), "{built}");
    }
}
