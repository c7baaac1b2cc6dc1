//! One-shot commands: the same engine, no scheduler, one answer, an exit code.

use super::{Exit, Outcome, config_path, load_config, oneshot_engine};
use crate::cli::{EXIT_FAILED, EXIT_HUMAN, EXIT_OK, EXIT_USAGE, Global};
use crate::domain::{
    Actor, ConnectionKey, ErrorClass, Failure, Health, UnixMs, auth_command, format_expires_in,
    now_ms,
};
use crate::engine::{EngineHandle, Running};

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

pub fn config_init(global: &Global, force: bool) -> Outcome {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = config_path(global);
    if path.exists() && !force {
        return Err(Exit::new(
            EXIT_USAGE,
            format!(
                "{}: a config file is already there; edit it, or pass --force to replace it with the example",
                path.display()
            ),
        ));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Exit::new(EXIT_FAILED, format!("cannot create {}: {e}", dir.display())))?;
    }
    // 0600 from the start: a config may come to hold client secrets.
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(crate::EXAMPLE_CONFIG.as_bytes()));
    written.map_err(|e| Exit::new(EXIT_FAILED, format!("cannot write {}: {e}", path.display())))?;
    println!(
        "wrote {}: the documented example; edit its connectors, then `switchboard config check`",
        path.display()
    );
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

/// RFC 3339 in UTC to the second: the one time format every command prints.
pub(crate) fn rfc3339(ms: UnixMs) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
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
    // The health the engine derived (hysteresis: one failed probe is not yet "down").
    let health = handle.snapshot().get(&key).map(|c| c.health);
    running.shutdown().await;
    let result = result?;
    if json {
        // The same words and time format as `status --json`: RFC 3339, snake_case health.
        let mut v =
            serde_json::to_value(&result).map_err(|e| Exit::new(EXIT_FAILED, e.to_string()))?;
        if let Some(o) = v.as_object_mut() {
            o.insert("at".into(), rfc3339(result.at).into());
            o.insert("connection".into(), key.to_string().into());
            o.insert("ok".into(), result.ok().into());
            if let Some(h) = health {
                o.insert("health".into(), serde_json::to_value(h).unwrap_or_default());
            }
        }
        println!("{v}");
    }
    let health = health.map(|h| h.label()).unwrap_or("unknown");
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
                    "{key}: up via {} in {} ms{mcp_down}; health: {health}",
                    result.via.label(),
                    result.latency_ms
                );
            }
            Ok(EXIT_OK)
        }
        Some(f) => Err(Exit::new(
            down_code.unwrap_or(EXIT_FAILED),
            format!(
                "{key}: probe failed after {} ms: {f}; health: {health}",
                result.latency_ms
            ),
        )),
    }
}
