//! Alerts as plain data: what the alert front-end queues, what the store keeps of it, and the
//! last delivery per channel that `alerts list`, `status` and the console show.

use serde::{Deserialize, Serialize};

use super::{ConnectionKey, UnixMs};

/// The state an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Down,
    AtRisk,
    NeedsReauth,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Down => "down",
            Condition::AtRisk => "at_risk",
            Condition::NeedsReauth => "needs_reauth",
        }
    }

    pub fn parse(s: &str) -> Option<Condition> {
        match s {
            "down" => Some(Condition::Down),
            "at_risk" => Some(Condition::AtRisk),
            "needs_reauth" => Some(Condition::NeedsReauth),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Condition::Down => "down",
            Condition::AtRisk => "at risk",
            Condition::NeedsReauth => "needs re-auth",
        }
    }
}

/// Why a message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The condition has held for the channel's `min_duration` (or changed to another one).
    Trigger,
    /// Still unresolved after `remind_every`.
    Remind,
    /// Healthy again.
    Resolve,
    /// `switchboard alerts test`.
    Test,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Trigger => "trigger",
            NoticeKind::Remind => "remind",
            NoticeKind::Resolve => "resolve",
            NoticeKind::Test => "test",
        }
    }
}

/// One alert message, as queued and as every channel renders it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub kind: NoticeKind,
    pub key: ConnectionKey,
    /// The connector's display name.
    pub name: String,
    /// For a resolve, the condition that ended.
    pub condition: Condition,
    /// When the condition started.
    pub since: UnixMs,
    /// When this notice was made.
    pub at: UnixMs,
    /// Stable for the life of the incident: PagerDuty's `dedup_key`, a receiver's grouping key.
    pub incident: String,
    /// Unique per message: a receiver that sees it twice drops the second (at-least-once).
    pub dedup_key: String,
    /// The token's expiry, if known: "time left" in the message.
    pub expires_at: Option<UnixMs>,
    /// The health detail ("3 probes failed: connection refused").
    pub detail: Option<String>,
    /// The command that fixes it, when one does.
    pub fix: Option<String>,
}

/// An open incident of one channel for one connection, kept in the store so a restarted or
/// new leader neither fires it again nor forgets to resolve it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub channel: String,
    pub key: ConnectionKey,
    pub condition: Condition,
    pub since: UnixMs,
    pub incident: String,
    pub last_sent_at: UnixMs,
    pub reminders: u32,
}

/// A queued message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: i64,
    pub channel: String,
    pub dedup_key: String,
    /// The `Notice` as JSON.
    pub payload: String,
    pub created_at: UnixMs,
    pub attempts: u32,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub channel: String,
    pub at: UnixMs,
    pub ok: bool,
    /// The receiver's HTTP status (or SMTP code), when it answered.
    pub status: Option<u16>,
    /// What happened, and on failure what to do.
    pub message: String,
    pub dedup_key: Option<String>,
    pub latency_ms: u64,
}

/// What becomes of a queued message after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    Sent,
    /// Try again at this instant.
    Retry {
        next_at: UnixMs,
    },
    /// Past `give_up_after`, or the channel is gone: dropped.
    Dropped,
}

/// One channel's line in `alerts list` and `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelState {
    pub channel: String,
    /// Messages waiting to be delivered.
    pub queued: u64,
    pub last: Option<Delivery>,
}
