//! `switchboard alerts list|test`: the alert channels of `[[alerts]]`, their queues and last
//! deliveries (kept in the store, read through the engine), and a test message on demand.

use serde_json::json;

use super::{Exit, Outcome, load_config, oneshot_engine_with};
use crate::cli::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, Global};
use crate::config::AlertChannel;
use crate::domain::alert::{ChannelState, Delivery};
use crate::engine::{EngineHandle, EngineOptions};

fn when(d: &Delivery) -> String {
    crate::alert::render::rfc3339(d.at)
}

fn outcome(d: &Delivery) -> String {
    format!(
        "{} at {}: {}",
        if d.ok { "delivered" } else { "failed" },
        when(d),
        crate::text::printable(&d.message, false)
    )
}

/// Where a channel sends, without the URL (a Slack URL is a credential).
fn target(c: &AlertChannel) -> String {
    match (&c.smtp_host, c.target_url()) {
        (Some(host), _) => format!("smtp {host}:{}", c.smtp_port()),
        (None, Some(url)) => crate::alert::send::host_of(&url),
        (None, None) => "—".into(),
    }
}

/// The lines `status` prints under the fleet: one per channel with its last delivery.
pub async fn status_lines(handle: &EngineHandle) -> Vec<String> {
    let Ok(states) = handle.alert_channels().await else {
        return Vec::new();
    };
    states
        .iter()
        .map(|s| {
            let last = s
                .last
                .as_ref()
                .map(outcome)
                .unwrap_or_else(|| "nothing sent yet".into());
            format!("alerts {}: {} queued; last {last}", s.channel, s.queued)
        })
        .collect()
}

pub async fn list(global: &Global, json: bool) -> Outcome {
    let config = load_config(global)?;
    let (running, _workspace) = oneshot_engine_with(global, EngineOptions::default()).await?;
    let states = running.handle.alert_channels().await;
    running.shutdown().await;
    let states = states.map_err(|f| Exit::failed(&f))?;
    let state = |name: &str| states.iter().find(|s| s.channel == name);
    if json {
        let rows: Vec<_> = config
            .alerts
            .iter()
            .map(|c| {
                let s: Option<&ChannelState> = state(&c.name);
                json!({
                    "channel": c.name,
                    "kind": c.kind.as_str(),
                    "on": c.on.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
                    "target": target(c),
                    "configured": c.is_configured(),
                    "missing_env": c.missing_env,
                    "queued": s.map_or(0, |s| s.queued),
                    "last": s.and_then(|s| s.last.clone()),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(EXIT_OK);
    }
    if config.alerts.is_empty() {
        println!(
            "no alert channels; add [[alerts]] to the config (see `switchboard config example`)"
        );
        return Ok(EXIT_OK);
    }
    for c in &config.alerts {
        let s = state(&c.name);
        let on: Vec<_> = c.on.iter().map(|o| o.as_str()).collect();
        println!(
            "{:<16} {:<9} {:<28} on {}",
            c.name,
            c.kind.as_str(),
            target(c),
            on.join(",")
        );
        if !c.is_configured() {
            println!("    off: set {}", c.missing_env.join(", "));
        }
        println!("    queued: {}", s.map_or(0, |s| s.queued));
        match s.and_then(|s| s.last.as_ref()) {
            Some(d) => println!("    last: {}", outcome(d)),
            None => println!("    last: nothing sent yet"),
        }
    }
    Ok(EXIT_OK)
}

pub async fn test(global: &Global, name: &str, json: bool) -> Outcome {
    let config = load_config(global)?;
    let Some(channel) = config.alerts.iter().find(|c| c.name == name) else {
        let known: Vec<_> = config.alerts.iter().map(|c| c.name.as_str()).collect();
        return Err(Exit::new(
            EXIT_USAGE,
            if known.is_empty() {
                format!("no alert channel `{name}`: the config has no [[alerts]]")
            } else {
                format!(
                    "no alert channel `{name}`; the config has {}",
                    known.join(", ")
                )
            },
        ));
    };
    let (running, _workspace) = oneshot_engine_with(global, EngineOptions::default()).await?;
    let result = crate::alert::test(&running.handle, channel).await;
    running.shutdown().await;
    let d = result.map_err(|f| Exit::failed(&f))?;
    if json {
        println!("{}", json!(d));
    } else {
        println!(
            "{}: {} in {} ms{}: {}",
            d.channel,
            if d.ok { "delivered" } else { "NOT delivered" },
            d.latency_ms,
            d.status
                .map(|s| format!(" (status {s})"))
                .unwrap_or_default(),
            crate::text::printable(&d.message, false)
        );
    }
    Ok(if d.ok { EXIT_OK } else { EXIT_FAILED })
}
