//! The protocol transcript of an MCP session: every JSON-RPC message sent and received, with
//! the time, as the console's protocol tab shows it. Pure: the tap in `mcp` feeds it values,
//! the engine hands out copies.
//!
//! Bodies are pretty-printed, redacted and capped before they are kept: a transcript is for
//! reading on a screen someone may be sharing, and a server can send megabytes.

use std::collections::VecDeque;

use serde_json::Value;

use crate::domain::UnixMs;

/// The longest body kept for one message; the rest is cut with a note of how much.
pub const BODY_CAP: usize = 16 * 1024;
/// Messages kept per connection, oldest dropped first.
pub const RING_ENTRIES: usize = 300;
/// Bytes of bodies kept per connection: a few huge results must not hold a fleet's memory.
pub const RING_BYTES: usize = 256 * 1024;

const REDACTED: &str = "‹redacted›";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Increases by one per message of the connection, across sessions.
    pub seq: u64,
    pub at: UnixMs,
    pub direction: Direction,
    /// `request`, `response`, `error` or `notification`.
    pub kind: &'static str,
    /// The method of a request or notification.
    pub method: Option<String>,
    /// The JSON-RPC id of a request, response or error.
    pub id: Option<String>,
    /// Pretty-printed, redacted, capped.
    pub body: String,
}

impl Entry {
    /// One message as the tap saw it.
    pub fn new(seq: u64, at: UnixMs, direction: Direction, message: &Value) -> Entry {
        let method = message
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_string);
        let id = message.get("id").filter(|v| !v.is_null()).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let kind = match (&method, &id) {
            (Some(_), Some(_)) => "request",
            (Some(_), None) => "notification",
            (None, _) if message.get("error").is_some() => "error",
            (None, _) => "response",
        };
        let mut redacted = message.clone();
        redact(&mut redacted);
        let pretty = serde_json::to_string_pretty(&redacted).unwrap_or_default();
        Entry {
            seq,
            at,
            direction,
            kind,
            method,
            id,
            body: cap(pretty),
        }
    }

    /// `→ request tools/call #3`, the line the list shows.
    pub fn headline(&self) -> String {
        let arrow = match self.direction {
            Direction::Sent => "→",
            Direction::Received => "←",
        };
        let mut line = format!("{arrow} {}", self.kind);
        if let Some(m) = &self.method {
            line.push(' ');
            line.push_str(m);
        }
        if let Some(id) = &self.id {
            line.push_str(&format!(" #{id}"));
        }
        line
    }
}

/// A server's log message (`notifications/message`), as the log tab shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: String,
    pub logger: Option<String>,
    /// The message's `data`: a string as it is, anything else as JSON.
    pub text: String,
}

impl Entry {
    /// The log message this entry carries, if it is one. Read back from the kept body, so it
    /// is redacted too; a body cut short by the cap shows as it was kept.
    pub fn log_line(&self) -> Option<LogLine> {
        if self.direction != Direction::Received
            || self.method.as_deref() != Some("notifications/message")
        {
            return None;
        }
        let Ok(message) = serde_json::from_str::<Value>(&self.body) else {
            return Some(LogLine {
                level: "?".into(),
                logger: None,
                text: self.body.clone(),
            });
        };
        let params = &message["params"];
        let text = match &params["data"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Some(LogLine {
            level: params["level"].as_str().unwrap_or("?").to_string(),
            logger: params["logger"].as_str().map(str::to_string),
            text,
        })
    }
}

/// Object keys whose values are secrets wherever they appear in a message.
fn secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace(['-', '_'], "");
    matches!(
        k.as_str(),
        "authorization"
            | "proxyauthorization"
            | "cookie"
            | "setcookie"
            | "password"
            | "passwd"
            | "secret"
            | "clientsecret"
            | "token"
            | "accesstoken"
            | "refreshtoken"
            | "idtoken"
            | "apikey"
            | "xapikey"
            | "privatekey"
            | "bearer"
            | "sessiontoken"
            | "assertion"
            | "clientassertion"
    )
}

/// Replaces secret values: those under a secret-named key, `Bearer …` credentials and JWTs
/// wherever they appear in a string.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if secret_key(k) && !v.is_null() && !v.is_object() && !v.is_array() {
                    *v = Value::String(REDACTED.into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::String(s) => {
            if let Some(clean) = redact_text(s) {
                *s = clean;
            }
        }
        _ => {}
    }
}

/// A string with its credentials replaced, or `None` when it holds none.
fn redact_text(text: &str) -> Option<String> {
    let mut changed = false;
    let mut out: Vec<String> = Vec::new();
    let mut after_scheme = false;
    for word in text.split(' ') {
        let bare = word.trim_matches(|c: char| matches!(c, '"' | '\'' | ',' | ';' | ')' | '('));
        if after_scheme && !bare.is_empty() {
            out.push(word.replace(bare, REDACTED));
            changed = true;
            after_scheme = false;
            continue;
        }
        after_scheme = bare.eq_ignore_ascii_case("bearer") || bare.eq_ignore_ascii_case("basic");
        if looks_like_jwt(bare) {
            out.push(word.replace(bare, REDACTED));
            changed = true;
        } else {
            out.push(word.to_string());
        }
    }
    changed.then(|| out.join(" "))
}

fn looks_like_jwt(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() == 3
        && word.starts_with("eyJ")
        && parts.iter().take(2).all(|p| p.len() >= 8)
        && parts.iter().all(|p| {
            p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

fn cap(body: String) -> String {
    if body.len() <= BODY_CAP {
        return body;
    }
    let mut end = BODY_CAP;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n… {} more bytes not kept",
        &body[..end],
        body.len() - end
    )
}

/// One connection's transcript: the last messages, within [`RING_ENTRIES`] and [`RING_BYTES`].
#[derive(Debug, Default, Clone)]
pub struct Ring {
    entries: VecDeque<Entry>,
    bytes: usize,
    next: u64,
}

impl Ring {
    /// Records a message; returns the entry as kept.
    pub fn push(&mut self, at: UnixMs, direction: Direction, message: &Value) -> Entry {
        self.next += 1;
        let entry = Entry::new(self.next, at, direction, message);
        self.bytes += entry.body.len();
        self.entries.push_back(entry.clone());
        while self.entries.len() > RING_ENTRIES || self.bytes > RING_BYTES {
            match self.entries.pop_front() {
                Some(old) => self.bytes -= old.body.len(),
                None => break,
            }
        }
        entry
    }

    pub fn entries(&self) -> Vec<Entry> {
        self.entries.iter().cloned().collect()
    }
}

#[cfg(test)]
#[path = "tests_transcript.rs"]
mod tests;
