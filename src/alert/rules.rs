//! When an alert fires: pure, over (channel, connection, health, time). A condition fires once it
//! has held for the channel's `min_duration`; while it lasts a reminder goes out every
//! `remind_every`; a change to another condition re-triggers the same incident; health held for
//! `min_duration` resolves it. Open incidents come from and go to the store, so a restarted or
//! new leader carries on where the last one stopped.

use std::collections::HashMap;

use crate::config::{AlertChannel, AlertKind, AlertOn};
use crate::domain::alert::{Condition, Incident, Notice, NoticeKind};
use crate::domain::{ConnectionKey, Health, UnixMs};

/// What the rules see of one connection at one instant.
#[derive(Debug, Clone)]
pub struct Observation {
    pub key: ConnectionKey,
    pub name: String,
    pub health: Health,
    pub detail: Option<String>,
    pub expires_at: Option<UnixMs>,
    /// The connector's `tags`.
    pub tags: Vec<String>,
}

/// An alerting condition, health (which resolves), or a state that says nothing either way
/// (pending, never authorized, not configured, paused): those change nothing, so a paused
/// connection neither fires nor reminds.
enum Seen {
    Bad(Condition),
    Fine,
    Silent,
}

fn classify(health: Health) -> Seen {
    match health {
        Health::NeedsReauth => Seen::Bad(Condition::NeedsReauth),
        Health::AtRisk => Seen::Bad(Condition::AtRisk),
        Health::Down => Seen::Bad(Condition::Down),
        Health::Up | Health::Degraded => Seen::Fine,
        _ => Seen::Silent,
    }
}

fn on(condition: Condition) -> AlertOn {
    match condition {
        Condition::Down => AlertOn::Down,
        Condition::AtRisk => AlertOn::AtRisk,
        Condition::NeedsReauth => AlertOn::NeedsReauth,
    }
}

/// The command that fixes `condition` for `key`, for the message.
pub fn fix(condition: Condition, key: &ConnectionKey) -> String {
    let flag = crate::domain::account_flag(key);
    match condition {
        Condition::NeedsReauth => crate::domain::auth_command(key),
        Condition::AtRisk => format!("switchboard refresh {}{flag}", key.connector),
        Condition::Down => format!("switchboard probe {}{flag}", key.connector),
    }
}

/// Whether `channel` covers the connection: every one when it names neither connectors nor
/// tags, else those it names and those carrying one of its tags.
pub fn covers(channel: &AlertChannel, o: &Observation) -> bool {
    if channel.connectors.is_empty() && channel.tags.is_empty() {
        return true;
    }
    channel.connectors.contains(&o.key.connector) || o.tags.iter().any(|t| channel.tags.contains(t))
}

/// What one evaluation decided: messages to queue and incidents to keep or forget. Applied to
/// the store in one transaction.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    pub notices: Vec<(String, Notice)>,
    pub open: Vec<Incident>,
    pub closed: Vec<(String, ConnectionKey)>,
}

impl Step {
    pub fn is_empty(&self) -> bool {
        self.notices.is_empty() && self.open.is_empty() && self.closed.is_empty()
    }
}

type Slot = (String, ConnectionKey);

#[derive(Debug, Default)]
pub struct Tracker {
    /// What each channel last saw of each connection (`None`: fine) and since when.
    seen: HashMap<Slot, (Option<Condition>, UnixMs)>,
    open: HashMap<Slot, Incident>,
}

impl Tracker {
    /// Carries on from the incidents the store holds open.
    pub fn new(open: Vec<Incident>) -> Tracker {
        Tracker {
            seen: HashMap::new(),
            open: open
                .into_iter()
                .map(|i| ((i.channel.clone(), i.key.clone()), i))
                .collect(),
        }
    }

    pub fn open_incidents(&self) -> usize {
        self.open.len()
    }

    /// Whether any channel has an incident open for `key`.
    pub fn is_open(&self, key: &ConnectionKey) -> bool {
        !self.open.is_empty() && self.open.keys().any(|(_, k)| k == key)
    }

    /// Looks at every connection through every channel at `now`.
    pub fn observe(
        &mut self,
        channels: &[AlertChannel],
        fleet: &[Observation],
        now: UnixMs,
    ) -> Step {
        let mut step = Step::default();
        for channel in channels.iter().filter(|c| c.is_configured()) {
            for o in fleet.iter().filter(|o| covers(channel, o)) {
                self.one(channel, o, now, &mut step);
            }
        }
        step
    }

    fn one(&mut self, channel: &AlertChannel, o: &Observation, now: UnixMs, step: &mut Step) {
        let state = match classify(o.health) {
            Seen::Silent => return,
            Seen::Fine => None,
            // A condition the channel does not fire on counts as fine for it.
            Seen::Bad(c) => Some(c).filter(|c| channel.fires_on(on(*c))),
        };
        let slot = (channel.name.clone(), o.key.clone());
        let seen = self.seen.entry(slot.clone()).or_insert((state, now));
        if seen.0 != state {
            *seen = (state, now);
        }
        let since = seen.1;
        let min = i64::try_from(channel.min_duration.as_millis()).unwrap_or(i64::MAX);
        if now.saturating_sub(since) < min {
            return;
        }
        let remind = i64::try_from(channel.remind_every.as_millis()).unwrap_or(i64::MAX);
        let notice = |kind, condition, incident: &Incident, dedup_key: String| Notice {
            kind,
            key: o.key.clone(),
            name: o.name.clone(),
            condition,
            since: incident.since,
            at: now,
            incident: incident.incident.clone(),
            dedup_key,
            expires_at: o.expires_at,
            detail: o.detail.clone(),
            fix: (kind != NoticeKind::Resolve).then(|| fix(condition, &o.key)),
        };
        match (state, self.open.get_mut(&slot)) {
            (Some(condition), None) => {
                let incident = Incident {
                    channel: channel.name.clone(),
                    key: o.key.clone(),
                    condition,
                    since,
                    incident: format!(
                        "switchboard/{}/{}/{}/{since}",
                        channel.name, o.key.connector, o.key.account
                    ),
                    last_sent_at: now,
                    reminders: 0,
                };
                let dedup = format!("{}/trigger/{}", incident.incident, condition.as_str());
                step.notices.push((
                    channel.name.clone(),
                    notice(NoticeKind::Trigger, condition, &incident, dedup),
                ));
                step.open.push(incident.clone());
                self.open.insert(slot, incident);
            }
            (Some(condition), Some(incident)) if incident.condition != condition => {
                // Another condition on the same connection: the same incident, updated.
                incident.condition = condition;
                incident.last_sent_at = now;
                incident.reminders = 0;
                let dedup = format!("{}/trigger/{}/{now}", incident.incident, condition.as_str());
                step.notices.push((
                    channel.name.clone(),
                    notice(NoticeKind::Trigger, condition, incident, dedup),
                ));
                step.open.push(incident.clone());
            }
            (Some(condition), Some(incident))
                if remind > 0 && now.saturating_sub(incident.last_sent_at) >= remind =>
            {
                incident.reminders += 1;
                incident.last_sent_at = now;
                let dedup = format!("{}/remind/{}", incident.incident, incident.reminders);
                step.notices.push((
                    channel.name.clone(),
                    notice(NoticeKind::Remind, condition, incident, dedup),
                ));
                step.open.push(incident.clone());
            }
            (None, Some(_)) => {
                let Some(incident) = self.open.remove(&slot) else {
                    return;
                };
                // PagerDuty incidents stay open until resolved, whatever `on` says.
                if channel.fires_on(AlertOn::Recovered) || channel.kind == AlertKind::Pagerduty {
                    let dedup = format!("{}/resolve", incident.incident);
                    step.notices.push((
                        channel.name.clone(),
                        notice(NoticeKind::Resolve, incident.condition, &incident, dedup),
                    ));
                }
                step.closed.push(slot);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
