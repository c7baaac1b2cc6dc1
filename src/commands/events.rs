//! `switchboard events`: the event log as text or JSON lines, through the engine's
//! `read_events`; `--follow` polls for rows after the last id it printed. `events prune` is
//! the log's one deletion path (retention).

use std::io::Write;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::oneshot::engine_for;
use super::{Exit, Outcome};
use crate::cli::{EXIT_FAILED, EXIT_OK, EventsArgs, EventsCommand, Global};
use crate::domain::events::{EventEntry, EventQuery};
use crate::domain::{Actor, ConnectionKey, ErrorClass, UnixMs};
use crate::engine::EngineHandle;

/// How often `--follow` asks for new rows.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// One JSON line. `at` is RFC 3339 to the millisecond, so a line parses back to the same
/// instant the store holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    pub id: i64,
    pub at: String,
    pub connection: Option<String>,
    pub connector: Option<String>,
    pub account: Option<String>,
    pub kind: String,
    pub actor: Actor,
    pub outcome: String,
    pub latency_ms: Option<u64>,
    pub class: Option<ErrorClass>,
    pub detail: Option<String>,
}

fn rfc3339_ms(ms: UnixMs) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

impl From<&EventEntry> for EventLine {
    fn from(e: &EventEntry) -> Self {
        EventLine {
            id: e.id,
            at: rfc3339_ms(e.at),
            connection: e.key.as_ref().map(ConnectionKey::to_string),
            connector: e.key.as_ref().map(|k| k.connector.clone()),
            account: e.key.as_ref().map(|k| k.account.clone()),
            kind: e.kind.clone(),
            actor: e.actor,
            outcome: e.outcome.clone(),
            latency_ms: e.latency_ms,
            class: e.class,
            detail: e.detail.clone(),
        }
    }
}

fn text_line(e: &EventEntry) -> String {
    let connection = e
        .key
        .as_ref()
        .map(ConnectionKey::to_string)
        .unwrap_or_else(|| "—".into());
    let latency = e
        .latency_ms
        .map(|ms| format!("{ms} ms"))
        .unwrap_or_default();
    let detail = match (&e.class, &e.detail) {
        (Some(c), Some(d)) => format!("{c}: {d}"),
        (None, Some(d)) => d.clone(),
        (Some(c), None) => c.to_string(),
        (None, None) => String::new(),
    };
    // Details quote servers (error descriptions): control characters are made visible.
    format!(
        "{}  {:<24} {:<14} {:<8} {:<9} {:>8}  {}",
        rfc3339_ms(e.at),
        connection,
        e.kind,
        e.outcome,
        e.actor.as_str(),
        latency,
        crate::text::printable(&detail, false)
    )
}

/// Prints rows; false when stdout has gone (a closed pipe: `events | head`).
fn print(rows: &[EventEntry], json: bool) -> bool {
    let mut out = std::io::stdout().lock();
    for e in rows {
        let line = if json {
            serde_json::to_string(&EventLine::from(e)).unwrap_or_default()
        } else {
            text_line(e)
        };
        if writeln!(out, "{line}").is_err() {
            return false;
        }
    }
    out.flush().is_ok()
}

pub async fn events(global: &Global, args: EventsArgs) -> Outcome {
    if let Some(EventsCommand::Prune { older_than }) = args.command {
        return prune(global, older_than).await;
    }
    let running = engine_for(global).await?;
    let query = EventQuery {
        connector: args.connector.clone(),
        account: args.account.clone(),
        since: args.since,
        after_id: None,
        kinds: args.kinds.clone(),
        limit: args.limit as usize,
    };
    let result = read_and_follow(&running.handle, query, args.json, args.follow).await;
    running.shutdown().await;
    result
}

async fn read_and_follow(
    handle: &EngineHandle,
    mut query: EventQuery,
    json: bool,
    follow: bool,
) -> Outcome {
    let read = |q: EventQuery| async move {
        handle
            .read_events(q)
            .await
            .map_err(|f| Exit::new(EXIT_FAILED, f.message))
    };
    let rows = read(query.clone()).await?;
    if !print(&rows, json) || !follow {
        return Ok(EXIT_OK);
    }
    let mut last = rows.last().map(|e| e.id);
    if last.is_none() {
        // Nothing matched yet: start from the newest row of all, not from the beginning.
        let newest = read(EventQuery {
            limit: 1,
            ..EventQuery::default()
        })
        .await?;
        last = Some(newest.last().map(|e| e.id).unwrap_or(0));
    }
    // A follow reads everything new, however much arrives between two polls.
    query.limit = EventQuery::MAX_LIMIT;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(EXIT_OK),
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
        }
        query.after_id = last;
        let rows = read(query.clone()).await?;
        if let Some(e) = rows.last() {
            last = Some(e.id);
        }
        if !print(&rows, json) {
            return Ok(EXIT_OK);
        }
    }
}

async fn prune(global: &Global, before: UnixMs) -> Outcome {
    let running = engine_for(global).await?;
    let result = running.handle.prune_events(before, Actor::Cli).await;
    running.shutdown().await;
    let n = result.map_err(|f| Exit::new(EXIT_FAILED, f.message))?;
    println!(
        "pruned {n} event{} written before {}",
        if n == 1 { "" } else { "s" },
        rfc3339_ms(before)
    );
    Ok(EXIT_OK)
}
