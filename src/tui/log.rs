//! Event-log lines as the console shows them, from the stored log (`EngineHandle::read_events`)
//! and from the live `Event` feed, and the events view's state.

use std::collections::VecDeque;

use crate::domain::events::EventEntry;
use crate::domain::{ConnectionKey, UnixMs};
use crate::engine::{Event, ReauthProgress};

/// One line of the log, however it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub at: UnixMs,
    pub key: Option<ConnectionKey>,
    pub kind: String,
    pub actor: String,
    pub outcome: String,
    pub latency_ms: Option<u64>,
    pub message: Option<String>,
}

impl LogLine {
    /// A stored row of the event log.
    pub fn from_entry(e: EventEntry) -> LogLine {
        LogLine {
            at: e.at,
            key: e.key,
            kind: e.kind,
            actor: e.actor.as_str().to_owned(),
            outcome: e.outcome,
            latency_ms: e.latency_ms,
            message: e.detail,
        }
    }

    pub fn ok(&self) -> bool {
        matches!(self.outcome.as_str(), "ok" | "success" | "done" | "")
    }

    /// The text a filter matches: connection, kind, outcome, message.
    pub fn matches(&self, needle: &str) -> bool {
        let key = self
            .key
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        [
            key.as_str(),
            &self.kind,
            &self.outcome,
            &self.actor,
            self.message.as_deref().unwrap_or(""),
        ]
        .iter()
        .any(|h| h.to_lowercase().contains(needle))
    }

    /// What the live feed adds to the log; `None` for steps that are not log lines (starts,
    /// tool progress, requests for input).
    pub fn from_event(event: &Event, now: UnixMs) -> Option<LogLine> {
        let line = |key: &ConnectionKey, kind: &str, outcome: &str| LogLine {
            at: now,
            key: Some(key.clone()),
            kind: kind.to_owned(),
            actor: "live".to_owned(),
            outcome: outcome.to_owned(),
            latency_ms: None,
            message: None,
        };
        Some(match event {
            Event::Refreshed { key, result } => match result {
                Ok(_) => line(key, "refresh", "ok"),
                Err(f) => LogLine {
                    message: Some(f.to_string()),
                    ..line(key, "refresh", "failed")
                },
            },
            Event::Probed { key, result } => LogLine {
                at: result.at,
                latency_ms: Some(result.latency_ms),
                message: result.failure.as_ref().map(ToString::to_string),
                ..line(key, "probe", if result.ok() { "ok" } else { "failed" })
            },
            Event::NeedsReauth { key } => line(key, "needs_reauth", "failed"),
            Event::Reauth { key, progress } => match progress {
                ReauthProgress::Done(_) => line(key, "auth", "ok"),
                ReauthProgress::Failed(f) => LogLine {
                    message: Some(f.to_string()),
                    ..line(key, "auth", "failed")
                },
                ReauthProgress::Cancelled => line(key, "auth", "cancelled"),
                _ => return None,
            },
            Event::ToolResult { key, tool, result } => LogLine {
                message: Some(tool.clone()),
                ..line(
                    key,
                    "tool_call",
                    if result.is_ok() { "ok" } else { "failed" },
                )
            },
            Event::Notice { text, .. } => LogLine {
                at: now,
                key: None,
                kind: "notice".to_owned(),
                actor: "live".to_owned(),
                outcome: String::new(),
                latency_ms: None,
                message: Some(text.clone()),
            },
            _ => return None,
        })
    }
}

/// The most lines the events view keeps; older ones scroll out.
pub const EVENTS_KEPT: usize = 5_000;

#[derive(Debug, Default)]
pub struct EventsLog {
    pub lines: VecDeque<LogLine>,
    /// Indexes into `lines` that pass the filter, oldest first.
    pub shown: Vec<usize>,
    pub filter: String,
    /// Position in `shown`.
    pub selected: usize,
    /// Stay on the newest line as lines arrive.
    pub follow: bool,
    pub loaded: bool,
    pub error: Option<String>,
}

impl EventsLog {
    pub fn new() -> Self {
        EventsLog {
            follow: true,
            ..EventsLog::default()
        }
    }

    /// The stored log arrived (oldest first); live lines received meanwhile stay after it.
    pub fn backfill(&mut self, mut older: Vec<LogLine>) {
        older.sort_by_key(|l| l.at);
        let live = std::mem::take(&mut self.lines);
        self.lines = older.into_iter().chain(live).collect();
        self.loaded = true;
        self.trim();
        self.refilter();
    }

    pub fn push(&mut self, line: LogLine) {
        self.lines.push_back(line);
        if self.trim() {
            self.refilter();
            return;
        }
        let i = self.lines.len() - 1;
        if self.passes(&self.lines[i]) {
            self.shown.push(i);
        }
        if self.follow {
            self.selected = self.shown.len().saturating_sub(1);
        }
    }

    fn trim(&mut self) -> bool {
        let over = self.lines.len().saturating_sub(EVENTS_KEPT);
        self.lines.drain(..over);
        over > 0
    }

    fn passes(&self, line: &LogLine) -> bool {
        self.filter.is_empty() || line.matches(&self.filter.to_lowercase())
    }

    pub fn set_filter(&mut self, filter: String) {
        self.filter = filter;
        self.refilter();
    }

    fn refilter(&mut self) {
        let needle = self.filter.to_lowercase();
        self.shown = (0..self.lines.len())
            .filter(|&i| needle.is_empty() || self.lines[i].matches(&needle))
            .collect();
        if self.follow || self.selected >= self.shown.len() {
            self.selected = self.shown.len().saturating_sub(1);
        }
    }

    pub fn selected_line(&self) -> Option<&LogLine> {
        self.lines.get(*self.shown.get(self.selected)?)
    }

    pub fn up(&mut self) {
        self.follow = false;
        self.selected = self.selected.saturating_sub(1);
    }

    pub fn down(&mut self) {
        self.selected = (self.selected + 1).min(self.shown.len().saturating_sub(1));
    }
}
