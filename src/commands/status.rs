//! `switchboard status`: the fleet once, as a table or JSON; `--check` turns its health into
//! an exit code for cron and CI; `--watch` redraws it until Ctrl-C.

use std::fmt::Write as _;

use super::oneshot::rfc3339;
use super::{Exit, Outcome};
use crate::cli::{EXIT_FAILED, EXIT_HUMAN, EXIT_OK, Global, StatusArgs};
use crate::domain::{Health, Snapshot, format_duration_ms, format_expires_in, now_ms};
use crate::engine::EngineOptions;
use serve::Format;

mod ask;
mod json;
pub mod serve;

/// What `status` shows: a one-shot engine's snapshot with the store's windows, where the vault
/// key comes from, and a line per alert channel with its last delivery.
struct Read {
    snapshot: std::sync::Arc<Snapshot>,
    vault: String,
    /// With a shared database, how the fleet is split (`Workspace::sharing`).
    sharing: Option<String>,
    alerts: Vec<String>,
}

/// `alerts`: whether the alert channels' lines are wanted (the table shows them; JSON does not);
/// `exiting`: the process exits after this read (not `--watch`).
async fn read(global: &Global, alerts: bool, exiting: bool) -> Result<Read, Exit> {
    let options = EngineOptions {
        history: true,
        ..EngineOptions::default()
    };
    let (running, workspace) = super::oneshot_engine_with(global, options).await?;
    let snapshot = running.handle.snapshot();
    let alerts = if alerts {
        super::alerts::status_lines(&running.handle).await
    } else {
        Vec::new()
    };
    if exiting {
        running.shutdown_before_exit().await;
    } else {
        running.shutdown().await;
    }
    Ok(Read {
        snapshot,
        sharing: workspace.sharing().await,
        vault: workspace.vault_source(),
        alerts,
    })
}

pub async fn status(global: &Global, args: StatusArgs) -> Outcome {
    if args.watch {
        return watch(global, args.interval, !args.no_daemon).await;
    }
    if !args.no_daemon {
        let format = match (
            args.json,
            std::io::IsTerminal::is_terminal(&std::io::stdout()),
        ) {
            (false, _) => Format::Table,
            (true, true) => Format::JsonPretty,
            (true, false) => Format::Json,
        };
        if let Some(answered) = from_daemon(global, format, args.check).await {
            json::stdout_result(print_body(&answered.body))?;
            if !args.check {
                return Ok(EXIT_OK);
            }
            if answered.code != EXIT_OK {
                eprintln!("status --check: {}", answered.check);
            }
            return Ok(answered.code);
        }
    }
    let Read {
        snapshot,
        vault,
        sharing,
        alerts,
    } = read(global, !args.json, true).await?;
    // JSON stays an array of connections: its consumers parse exactly that.
    if args.json {
        json::write(&snapshot)?;
    } else {
        print!(
            "{}",
            table_screen(&snapshot, &vault, sharing.as_deref(), &alerts)
        );
    }
    if !args.check {
        return Ok(EXIT_OK);
    }
    let (code, why) = check(&snapshot);
    if code != EXIT_OK {
        eprintln!("status --check: {why}");
    }
    Ok(code)
}

/// A daemon on this data directory running this very config answers from what it holds
/// (`serve.rs`): at 10,000 connections that is a tenth of the CPU of reading it all here.
async fn from_daemon(global: &Global, format: Format, check: bool) -> Option<ask::Answered> {
    let data_dir = crate::engine::open::data_dir(global.data_dir.as_deref());
    ask::ask(&data_dir, &super::config_path(global), format, check).await
}

fn print_body(body: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(body)?;
    out.flush()
}

/// `--check`'s verdict: 3 when a human must re-authorize something, else 1 when something is
/// down or at risk, else 0; with the connections that decided it.
pub fn check(snapshot: &Snapshot) -> (i32, String) {
    let named = |healths: &[Health]| -> Vec<String> {
        snapshot
            .connections
            .iter()
            .filter(|c| healths.contains(&c.health))
            .map(|c| format!("{} {}", c.key, c.health.label()))
            .collect()
    };
    let human = named(&[Health::NeedsReauth]);
    let failing = named(&[Health::Down, Health::AtRisk]);
    let all: Vec<String> = human.iter().chain(&failing).cloned().collect();
    let code = if !human.is_empty() {
        EXIT_HUMAN
    } else if !failing.is_empty() {
        EXIT_FAILED
    } else {
        EXIT_OK
    };
    (code, all.join(", "))
}

/// Redraws in place: home the cursor, clear, print; plain terminal codes, no full-screen UI.
/// Each redraw asks the daemon first, as a single `status` does.
async fn watch(global: &Global, every: std::time::Duration, daemon: bool) -> Outcome {
    let every = every.max(std::time::Duration::from_millis(200));
    loop {
        let answered = if daemon {
            from_daemon(global, Format::Table, false).await
        } else {
            None
        };
        let body = match answered {
            Some(answered) => String::from_utf8_lossy(&answered.body).into_owned(),
            None => {
                let Read {
                    snapshot,
                    vault,
                    sharing,
                    alerts,
                } = read(global, true, false).await?;
                table_screen(&snapshot, &vault, sharing.as_deref(), &alerts)
            }
        };
        let mut screen = String::from("\x1b[H\x1b[2J");
        let _ = writeln!(
            screen,
            "{}  (every {}; Ctrl-C stops)",
            rfc3339(now_ms()),
            humantime::format_duration(every)
        );
        screen.push_str(&body);
        print!("{screen}");
        let _ = std::io::Write::flush(&mut std::io::stdout());
        tokio::time::sleep(every).await;
    }
}

/// The table as `status` prints it: the shared store's line, the table, the alert channels.
fn table_screen(
    snapshot: &Snapshot,
    vault: &str,
    sharing: Option<&str>,
    alerts: &[String],
) -> String {
    let mut out = String::new();
    if let Some(line) = sharing {
        let _ = writeln!(out, "{line}");
    }
    out.push_str(&table(snapshot, vault));
    for line in alerts {
        let _ = writeln!(out, "{line}");
    }
    out
}

fn table(snapshot: &Snapshot, vault: &str) -> String {
    let mut out = String::new();
    let now = now_ms();
    let _ = writeln!(out, "vault key: {vault}");
    let _ = writeln!(
        out,
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
            // Degraded by the hour's success rate alone: say so rather than show nothing.
            (None, None) => match (c.health, c.success_rate_1h) {
                (Health::Degraded, Some(r)) => format!(
                    "{:.0}% of the last hour's {} probes passed",
                    r * 100.0,
                    c.probes_1h
                ),
                _ => "—".into(),
            },
        };
        let _ = writeln!(
            out,
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
    out
}
