//! The alert task: on its own tokio task, so a slow or dead receiver never holds up the
//! scheduler. Each tick, if this process leads, it turns the snapshot into notices (`rules`),
//! queues them in the store's outbox with the incidents they open or close (one transaction),
//! and delivers what is due, one task per channel, in order, with capped exponential backoff.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::rules::{Observation, Tracker};
use super::send::{self, Attempt};
use crate::config::AlertChannel;
use crate::domain::alert::{Delivery, Notice, OutboxItem, Settle};
use crate::domain::{ConnectionKey, Snapshot, UnixMs, now_ms};
use crate::engine::EngineHandle;
use crate::engine::alerts::{AlertAnswer, AlertOp, unexpected};

/// How often the task looks: the resolution of `min_duration` and of retries.
const TICK: Duration = Duration::from_millis(500);
/// Messages fetched per tick.
const BATCH: usize = 100;

pub(super) struct Dispatcher {
    pub handle: EngineHandle,
    pub channels: Arc<Vec<AlertChannel>>,
    /// Each connector's `tags`.
    pub tags: HashMap<String, Vec<String>>,
    pub http: reqwest::Client,
}

impl Dispatcher {
    pub async fn run(self, cancel: CancellationToken) {
        let mut tracker: Option<Tracker> = None;
        let mut sending: JoinSet<()> = JoinSet::new();
        // The channel each delivery task serves, by task id: also found when a task panics.
        let mut busy: HashMap<tokio::task::Id, String> = HashMap::new();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                Some(done) = sending.join_next_with_id(), if !sending.is_empty() => {
                    let id = match done {
                        Ok((id, ())) => id,
                        Err(e) => {
                            tracing::error!("alerts: a delivery task failed: {e}");
                            e.id()
                        }
                    };
                    busy.remove(&id);
                    continue;
                }
                _ = tick.tick() => {}
            }
            let snapshot = self.handle.snapshot();
            if !snapshot.leader {
                // Another process leads and sends; it owns the incidents until we lead.
                tracker = None;
                continue;
            }
            let now = now_ms();
            if tracker.is_none() {
                tracker = self.load().await;
            }
            if let Some(t) = tracker.as_mut()
                && !self.evaluate(t, &snapshot, now).await
            {
                // Not saved: read the store's incidents again rather than trust our own.
                tracker = None;
            }
            self.deliver_due(now, &mut sending, &mut busy).await;
        }
        // A send in flight either finishes within its timeout or is retried by the next leader.
        sending.abort_all();
    }

    async fn load(&self) -> Option<Tracker> {
        match self.handle.alerts(AlertOp::Incidents).await {
            Ok(AlertAnswer::Incidents(open)) => Some(Tracker::new(open)),
            Ok(other) => {
                tracing::error!("{}", unexpected(&other));
                None
            }
            Err(f) => {
                tracing::warn!("alerts: cannot read open incidents: {f}");
                None
            }
        }
    }

    /// Runs the rules and saves what they decided; false when it could not be saved.
    async fn evaluate(&self, tracker: &mut Tracker, snapshot: &Snapshot, now: UnixMs) -> bool {
        let fleet = observed(snapshot, &self.tags, |key| tracker.is_open(key));
        let step = tracker.observe(&self.channels, &fleet, now);
        if step.is_empty() {
            return true;
        }
        let mut messages = Vec::new();
        for (channel, notice) in &step.notices {
            match serde_json::to_string(notice) {
                Ok(payload) => messages.push((channel.clone(), notice.dedup_key.clone(), payload)),
                Err(e) => tracing::error!("alerts: cannot encode a notice: {e}"),
            }
            tracing::info!(
                channel = %channel,
                connection = %notice.key,
                event = notice.kind.as_str(),
                "alert queued: {}",
                super::render::summary(notice)
            );
        }
        let op = AlertOp::Apply {
            messages,
            open: step.open,
            closed: step.closed,
            now,
        };
        match self.handle.alerts(op).await {
            Ok(_) => true,
            Err(f) => {
                tracing::error!("alerts: cannot queue alerts in the store: {f}");
                false
            }
        }
    }

    async fn deliver_due(
        &self,
        now: UnixMs,
        sending: &mut JoinSet<()>,
        busy: &mut HashMap<tokio::task::Id, String>,
    ) {
        let due = match self.handle.alerts(AlertOp::Due { now, limit: BATCH }).await {
            Ok(AlertAnswer::Due(items)) => items,
            Ok(other) => {
                tracing::error!("{}", unexpected(&other));
                return;
            }
            Err(f) => {
                tracing::warn!("alerts: cannot read the outbox: {f}");
                return;
            }
        };
        let mut per_channel: HashMap<String, Vec<OutboxItem>> = HashMap::new();
        for item in due {
            per_channel
                .entry(item.channel.clone())
                .or_default()
                .push(item);
        }
        for (name, items) in per_channel {
            if busy.values().any(|b| *b == name) {
                continue;
            }
            let channel = self.channels.iter().find(|c| c.name == name).cloned();
            let (handle, http) = (self.handle.clone(), self.http.clone());
            let task = sending.spawn(async move {
                deliver_channel(&handle, &http, channel.as_ref(), items).await;
            });
            busy.insert(task.id(), name);
        }
    }
}

/// The wait before retry number `attempt` (1 for the first retry): `retry_initial` doubled per
/// attempt, capped at `retry_max`; a receiver's `Retry-After` is honoured up to `retry_max`.
pub fn backoff(channel: &AlertChannel, attempt: u32, retry_after_ms: Option<u64>) -> Duration {
    let cap = channel.retry_max;
    if let Some(ms) = retry_after_ms {
        return Duration::from_millis(ms)
            .min(cap)
            .max(Duration::from_millis(100));
    }
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
    channel.retry_initial.saturating_mul(factor).min(cap)
}

/// Delivers one channel's due messages in order; stops at the first that fails, so a resolve
/// never overtakes its trigger.
async fn deliver_channel(
    handle: &EngineHandle,
    http: &reqwest::Client,
    channel: Option<&AlertChannel>,
    items: Vec<OutboxItem>,
) {
    for item in items {
        let now = now_ms();
        let record = |ok, status, message: String, latency_ms| Delivery {
            channel: item.channel.clone(),
            at: now,
            ok,
            status,
            message,
            dedup_key: Some(item.dedup_key.clone()),
            latency_ms,
        };
        let Some(channel) = channel else {
            let msg = format!(
                "channel {} is no longer in the config; its queued message {} was dropped",
                item.channel, item.dedup_key
            );
            drop_item(handle, item.id, record(false, None, msg, 0)).await;
            continue;
        };
        if !channel.is_configured() {
            // Kept: it goes out once the variables are set and switchboard restarts.
            return;
        }
        let age = u128::try_from(now.saturating_sub(item.created_at)).unwrap_or(0);
        if age > channel.give_up_after.as_millis() {
            let msg = format!(
                "gave up on {} after {} ({} attempts); the receiver never took it",
                item.dedup_key,
                humantime::format_duration(channel.give_up_after),
                item.attempts
            );
            tracing::error!(channel = %channel.name, "alert dropped: {msg}");
            drop_item(handle, item.id, record(false, None, msg, 0)).await;
            continue;
        }
        let notice: Notice = match serde_json::from_str(&item.payload) {
            Ok(n) => n,
            Err(e) => {
                let msg = format!(
                    "queued message {} is unreadable ({e}); dropped",
                    item.dedup_key
                );
                drop_item(handle, item.id, record(false, None, msg, 0)).await;
                continue;
            }
        };
        let attempt: Attempt = send::deliver(http, channel, &notice).await;
        let settled = if attempt.ok {
            tracing::info!(channel = %channel.name, dedup_key = %item.dedup_key, "alert delivered: {}", attempt.message);
            Settle::Sent
        } else if attempt.permanent {
            tracing::error!(channel = %channel.name, dedup_key = %item.dedup_key, "alert dropped: {}", attempt.message);
            Settle::Dropped
        } else {
            let wait = backoff(channel, item.attempts + 1, attempt.retry_after_ms);
            tracing::warn!(
                channel = %channel.name,
                dedup_key = %item.dedup_key,
                "alert not delivered (attempt {}), retrying in {}: {}",
                item.attempts + 1,
                humantime::format_duration(wait),
                attempt.message
            );
            Settle::Retry {
                next_at: now_ms()
                    .saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)),
            }
        };
        let failed = !attempt.ok && !attempt.permanent;
        let delivery = record(
            attempt.ok,
            attempt.status,
            attempt.message,
            attempt.latency_ms,
        );
        settle(handle, item.id, settled, delivery).await;
        if failed {
            return;
        }
    }
}

/// Gives up on a queued message that can never go out; `why` is its last delivery.
async fn drop_item(handle: &EngineHandle, id: i64, why: Delivery) {
    settle(handle, id, Settle::Dropped, why).await;
}

async fn settle(handle: &EngineHandle, id: i64, settle: Settle, delivery: Delivery) {
    if let Err(f) = handle
        .alerts(AlertOp::Settle {
            id: Some(id),
            settle,
            delivery,
        })
        .await
    {
        // The message stays pending and goes out again: at least once.
        tracing::warn!("alerts: cannot record a delivery: {f}");
    }
}

/// What the rules look at: every connection this process probes. One another daemon probes
/// (shared grants) is that daemon's to alert on, and a console beside daemons alerts on none;
/// but an incident this process opened stays its own until it resolves (`is_open`), from the
/// feed's view of the connection, so every trigger it sent gets its resolve even after the
/// connection's partition moved. (The new holder, which cannot see this incident, may trigger
/// its own: incidents are per data directory.)
fn observed(
    snapshot: &Snapshot,
    tags: &HashMap<String, Vec<String>>,
    is_open: impl Fn(&ConnectionKey) -> bool,
) -> Vec<Observation> {
    snapshot
        .connections
        .iter()
        .filter(|c| !c.probed_elsewhere || is_open(&c.key))
        .map(|c| Observation {
            key: c.key.clone(),
            name: c.name.clone(),
            health: c.health,
            detail: c.detail.clone(),
            expires_at: c.token.as_ref().and_then(|t| t.expires_at),
            tags: tags.get(&c.key.connector).cloned().unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_this_process_probes_is_alerted_on() {
        use crate::domain::Health;
        use crate::tui::tests::fixtures::conn;
        let mut here = conn("jira", "default", "Jira", Health::Down);
        let mut there = conn("zoom", "default", "Zoom", Health::Down);
        here.probed_elsewhere = false;
        there.probed_elsewhere = true;
        let snapshot = Snapshot::new(0, vec![here, there], true);
        let tags = HashMap::from([("jira".to_string(), vec!["team-a".to_string()])]);
        let seen = observed(&snapshot, &tags, |_| false);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].key.connector, "jira");
        assert_eq!(seen[0].tags, ["team-a"]);
        // Its own incident, opened before the partition moved, it follows to the resolve.
        let seen = observed(&snapshot, &tags, |k| k.connector == "zoom");
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn backoff_doubles_up_to_retry_max_and_a_receivers_retry_after_is_capped_there_too() {
        let text = "[[alerts]]\nname = \"h\"\nkind = \"slack\"\nurl = \"https://h.example/x\"\nretry_initial = \"5s\"\nretry_max = \"5m\"\n";
        let config = crate::config::parse_str(text, None, &|_| None).expect("config");
        let c = &config.alerts[0];
        let secs = |d: Duration| d.as_secs();
        assert_eq!(
            [1, 2, 3, 7, 30, u32::MAX].map(|a| secs(backoff(c, a, None))),
            [5, 10, 20, 300, 300, 300]
        );
        assert_eq!(secs(backoff(c, 1, Some(3_600_000))), 300);
        assert_eq!(secs(backoff(c, 1, Some(42_000))), 42);
        assert_eq!(backoff(c, 1, Some(0)), Duration::from_millis(100));
    }
}
