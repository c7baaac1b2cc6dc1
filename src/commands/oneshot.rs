//! One-shot commands: the same engine, no scheduler, one answer, an exit code.

use serde::Serialize;

use super::{Exit, Outcome, config_path, load_config, oneshot_engine};
use crate::cli::{EXIT_FAILED, EXIT_HUMAN, EXIT_OK, EXIT_USAGE, Global};
use crate::domain::{
    Actor, ConnectionKey, ConnectionView, ErrorClass, Failure, Health, UnixMs, auth_command,
    format_duration_ms, format_expires_in, now_ms,
};
use crate::engine::{EngineHandle, EngineOptions, Running};

pub fn config_check(global: &Global) -> Outcome {
    let path = config_path(global);
    // A bad config exits 2 whichever command reads it; `config check --help` says so.
    let config = load_config(global)?;
    if let Err(why) = super::console::check_theme(&config) {
        let e = crate::config::error_at(&path, "console.theme", why);
        return Err(Exit::new(EXIT_USAGE, e.to_string()));
    }
    super::console::console_keys(&config)?;
    let n = config.connectors.len();
    println!(
        "ok: {}: {n} connector{}",
        path.display(),
        if n == 1 { "" } else { "s" }
    );
    for c in &config.connectors {
        if let Some(why) = c.not_configured() {
            match &c.missing_env_at {
                Some(at) => println!("warning: connector {} is {why} ({at})", c.id),
                None => println!("warning: connector {} is {why}", c.id),
            }
        }
    }
    Ok(EXIT_OK)
}

pub(crate) async fn engine_for(global: &Global) -> Result<Running, Exit> {
    Ok(oneshot_engine(global, Default::default()).await?.0)
}

/// The key, if the engine knows it; else a usage error naming what it knows.
pub(crate) fn known_key(
    handle: &EngineHandle,
    connector: &str,
    account: &str,
) -> Result<ConnectionKey, Exit> {
    let key = ConnectionKey::new(connector, account);
    let snapshot = handle.snapshot();
    if snapshot.connections.iter().any(|c| c.key == key) {
        return Ok(key);
    }
    let known: Vec<String> = snapshot
        .connections
        .iter()
        .map(|c| c.key.to_string())
        .collect();
    let hint = if snapshot
        .connections
        .iter()
        .any(|c| c.key.connector == connector)
    {
        format!("authorize it first: `{}`", auth_command(&key))
    } else {
        format!("known connections: {}", known.join(", "))
    };
    Err(Exit::new(
        EXIT_USAGE,
        format!("no connection `{key}`; {hint}"),
    ))
}

/// Exit 3 when an auth failure only a human can fix: the grant is gone, or an OAuth connection
/// was never authorized. Decided from the engine's snapshot (which it publishes before it
/// answers), not only the message's wording.
pub(crate) fn exit_for(handle: &EngineHandle, key: &ConnectionKey, f: &Failure) -> i32 {
    let standing = handle
        .snapshot()
        .connections
        .iter()
        .find(|c| &c.key == key)
        .map(|c| c.health);
    // A 403 for missing scope needs a human as much as a dead grant: only a new consent adds
    // scopes.
    let human =
        f.needs_human() || matches!(standing, Some(Health::NeedsReauth | Health::Unauthorized));
    if f.class == ErrorClass::Auth && human {
        EXIT_HUMAN
    } else {
        EXIT_FAILED
    }
}

#[derive(Serialize)]
struct StatusRow<'a> {
    connection: String,
    connector: &'a str,
    account: &'a str,
    name: &'a str,
    health: Health,
    detail: Option<&'a str>,
    transport: &'a str,
    auth: &'a str,
    expires_at: Option<String>,
    next_refresh_at: Option<String>,
    /// Why the refresh is planned then: "in 4m12s: lead 6m = 3 attempts at ...".
    next_refresh_why: Option<&'a str>,
    /// While a down connection's probes back off: when the next one runs.
    next_probe_at: Option<String>,
    /// Paused by an operator: neither probed nor refreshed until resumed.
    paused: bool,
    last_refresh_at: Option<String>,
    success_rate: Option<f64>,
    probes_1h: u32,
    last_latency_ms: Option<u64>,
    last_error: Option<&'a Failure>,
    /// Success rates and p50/p95/p99 latency over 5m / 1h / 24h / 7d, from the store.
    history: Option<&'a crate::domain::history::History>,
}

fn rfc3339(ms: UnixMs) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn row(c: &ConnectionView) -> StatusRow<'_> {
    StatusRow {
        connection: c.key.to_string(),
        connector: &c.key.connector,
        account: &c.key.account,
        name: &c.name,
        health: c.health,
        detail: c.detail.as_deref(),
        transport: c.transport.label(),
        auth: c.auth.label(),
        expires_at: c.token.as_ref().and_then(|t| t.expires_at).map(rfc3339),
        next_refresh_at: c.next_refresh_at.map(rfc3339),
        next_refresh_why: c.next_refresh_why.as_deref(),
        next_probe_at: c.next_probe_at.map(rfc3339),
        paused: c.paused,
        last_refresh_at: c.last_refresh_at.map(rfc3339),
        success_rate: c.success_rate_1h,
        probes_1h: c.probes_1h,
        last_latency_ms: c.last_probe.as_ref().map(|p| p.latency_ms),
        last_error: c.last_error.as_ref(),
        history: c.history.as_ref(),
    }
}

pub async fn status(global: &Global, json: bool) -> Outcome {
    let options = EngineOptions {
        history: true,
        ..EngineOptions::default()
    };
    let (running, workspace) = super::oneshot_engine_with(global, options).await?;
    let snapshot = running.handle.snapshot();
    let alerts = super::alerts::status_lines(&running.handle).await;
    running.shutdown().await;
    // JSON stays an array of connections: its consumers parse exactly that.
    if json {
        let rows: Vec<_> = snapshot.connections.iter().map(row).collect();
        let text = serde_json::to_string_pretty(&rows)
            .map_err(|e| Exit::new(EXIT_FAILED, e.to_string()))?;
        println!("{text}");
        return Ok(EXIT_OK);
    }
    let now = now_ms();
    println!("vault key: {}", workspace.vault_source());
    println!(
        "{:<24} {:<15} {:<20} {:<14} {:<13} {:>7}  LAST ERROR",
        "CONNECTION", "HEALTH", "TRANSPORT", "EXPIRES IN", "NEXT REFRESH", "SUCCESS"
    );
    for c in &snapshot.connections {
        let expires = match c.token.as_ref() {
            Some(t) => t
                .expires_at
                .map(|e| format_expires_in(e, now))
                .unwrap_or_else(|| "no expiry".into()),
            None => "—".into(),
        };
        let next = c
            .next_refresh_at
            .map(|t| {
                if t <= now {
                    "due".to_string()
                } else {
                    format!("in {}", format_duration_ms((t - now) as u64))
                }
            })
            .unwrap_or_else(|| "—".into());
        let rate = c
            .success_rate_1h
            .map(|r| format!("{:.0}%", r * 100.0))
            .unwrap_or_else(|| "—".into());
        let error = match (&c.detail, &c.last_error) {
            (Some(d), _) => crate::text::printable(d, false),
            (None, Some(e)) => crate::text::printable(&e.to_string(), false),
            (None, None) => "—".into(),
        };
        println!(
            "{:<24} {:<15} {:<20} {:<14} {:<13} {:>7}  {}",
            c.key.to_string(),
            c.health.label(),
            c.transport,
            expires,
            next,
            rate,
            error
        );
    }
    for line in alerts {
        println!("{line}");
    }
    Ok(EXIT_OK)
}

pub async fn refresh(global: &Global, connector: &str, account: &str, json: bool) -> Outcome {
    let running = engine_for(global).await?;
    let key = known_key(&running.handle, connector, account)?;
    let result = running.handle.refresh(key.clone(), Actor::Cli).await;
    let code = match &result {
        Ok(_) => EXIT_OK,
        Err(f) => exit_for(&running.handle, &key, f),
    };
    running.shutdown().await;
    match result {
        Ok(meta) => {
            if json {
                let v = serde_json::json!({"connection": key.to_string(), "ok": true, "expires_at": meta.expires_at.map(rfc3339)});
                println!("{v}");
            } else {
                let expiry = meta
                    .expires_at
                    .map(|e| format!("expires in {}", format_expires_in(e, now_ms())))
                    .unwrap_or_else(|| "no expiry".into());
                println!("refreshed {key}: {expiry}");
            }
            Ok(EXIT_OK)
        }
        Err(f) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"connection": key.to_string(), "ok": false, "error": f})
                );
            }
            Err(Exit::new(code, format!("{key}: {f}")))
        }
    }
}

/// `pause` / `resume`: the store keeps it, so a daemon beside this command follows within
/// seconds.
pub async fn set_paused(global: &Global, connector: &str, account: &str, paused: bool) -> Outcome {
    let running = engine_for(global).await?;
    let key = known_key(&running.handle, connector, account)?;
    let result = running
        .handle
        .set_paused(key.clone(), paused, Actor::Cli)
        .await;
    running.shutdown().await;
    match result {
        Ok(()) if paused => {
            println!(
                "paused {key}: no probes or refreshes until `switchboard resume {}{}`",
                key.connector,
                crate::domain::account_flag(&key)
            );
            Ok(EXIT_OK)
        }
        Ok(()) => {
            println!("resumed {key}");
            Ok(EXIT_OK)
        }
        Err(f) => Err(Exit::new(EXIT_FAILED, format!("{key}: {f}"))),
    }
}

pub async fn probe(global: &Global, connector: &str, account: &str, json: bool) -> Outcome {
    let running = engine_for(global).await?;
    let handle = &running.handle;
    let key = known_key(handle, connector, account)?;
    let result = handle.probe(key.clone(), Actor::Cli).await;
    let result = result.map_err(|f| Exit::new(exit_for(handle, &key, &f), format!("{key}: {f}")));
    // A probe that found the grant gone (401, then a refused refresh) needs a human too.
    let down_code = match &result {
        Ok(r) => r.failure.as_ref().map(|f| exit_for(handle, &key, f)),
        Err(_) => None,
    };
    running.shutdown().await;
    let result = result?;
    if json {
        let text =
            serde_json::to_string(&result).map_err(|e| Exit::new(EXIT_FAILED, e.to_string()))?;
        println!("{text}");
    }
    match &result.failure {
        None => {
            if !json {
                let mcp_down = match &result.primary_failure {
                    Some(f) => format!(
                        " (MCP down: {})",
                        crate::text::printable(&f.to_string(), false)
                    ),
                    None => String::new(),
                };
                println!(
                    "{key}: up via {} in {} ms{mcp_down}",
                    result.via.label(),
                    result.latency_ms
                );
            }
            Ok(EXIT_OK)
        }
        Some(f) => Err(Exit::new(
            down_code.unwrap_or(EXIT_FAILED),
            format!("{key}: down ({f}) after {} ms", result.latency_ms),
        )),
    }
}
