//! `switchboard status`: the fleet once, as a table or JSON; `--check` turns its health into
//! an exit code for cron and CI; `--watch` redraws it until Ctrl-C.

use std::fmt::Write as _;

use serde::Serialize;

use super::oneshot::rfc3339;
use super::{Exit, Outcome};
use crate::cli::{EXIT_FAILED, EXIT_HUMAN, EXIT_OK, Global, StatusArgs};
use crate::domain::{
    ConnectionView, Failure, Health, Snapshot, format_duration_ms, format_expires_in, now_ms,
};
use crate::engine::EngineOptions;

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
        history: c.history.as_deref(),
    }
}

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
        return watch(global, args.interval).await;
    }
    let Read {
        snapshot,
        vault,
        sharing,
        alerts,
    } = read(global, !args.json, true).await?;
    // JSON stays an array of connections: its consumers parse exactly that.
    if args.json {
        write_json(&snapshot)?;
    } else {
        if let Some(line) = sharing {
            println!("{line}");
        }
        print!("{}", table(&snapshot, &vault));
        for line in alerts {
            println!("{line}");
        }
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

/// The rows straight onto stdout, which need not sit in memory first; indented for a person at
/// a terminal, compact for a program (at 10,000 connections with their windows that is 9 MB
/// instead of 25 MB, written in a third of the time). A reader that stops early (`| head`) is
/// not an error.
fn write_json(snapshot: &Snapshot) -> Result<(), Exit> {
    struct Rows<'a>(&'a [std::sync::Arc<ConnectionView>]);
    impl Serialize for Rows<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().map(|c| row(c)))
        }
    }
    let stdout = std::io::stdout();
    let terminal = std::io::IsTerminal::is_terminal(&stdout);
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let written = if terminal {
        serde_json::to_writer_pretty(&mut out, &Rows(&snapshot.connections))
            .map_err(std::io::Error::from)
    } else {
        write_compact(&mut out, &snapshot.connections)
    };
    let written = written
        .and_then(|()| std::io::Write::write_all(&mut out, b"\n"))
        .and_then(|()| std::io::Write::flush(&mut out));
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Exit::new(
            EXIT_FAILED,
            format!("could not write the status to stdout: {e}"),
        )),
        _ => Ok(()),
    }
}

/// The compact array, its rows serialized on every core in runs of `RUN` and written in order:
/// at 10,000 connections serializing them is a fifth of a `status`, and nothing else is left
/// to do by then. Each run waits in memory only until its turn (about 1 MB).
fn write_compact(
    out: &mut impl std::io::Write,
    rows: &[std::sync::Arc<ConnectionView>],
) -> std::io::Result<()> {
    const RUN: usize = 512;
    let serialize = |run: &[std::sync::Arc<ConnectionView>]| -> std::io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(run.len() * 1024);
        for (i, c) in run.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            serde_json::to_writer(&mut buf, &row(c))?;
        }
        Ok(buf)
    };
    let runs: Vec<_> = rows.chunks(RUN).collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, 4);
    out.write_all(b"[")?;
    if workers == 1 || runs.len() < 2 {
        for (i, run) in runs.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            out.write_all(&serialize(run)?)?;
        }
        return out.write_all(b"]");
    }
    // Workers take runs in turn and hand each back by its index; this thread writes them in
    // order as they come. A bounded channel keeps at most a few runs waiting.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, std::io::Result<Vec<u8>>)>(workers * 2);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (tx, next, runs, serialize) = (tx.clone(), &next, &runs, &serialize);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(run) = runs.get(i) else { break };
                    if tx.send((i, serialize(run))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut waiting = std::collections::BTreeMap::new();
        let mut due = 0;
        for (i, buf) in rx {
            waiting.insert(i, buf);
            while let Some(buf) = waiting.remove(&due) {
                if due > 0 {
                    out.write_all(b",")?;
                }
                out.write_all(&buf?)?;
                due += 1;
            }
        }
        // Dropping the receiver on an early return (a closed pipe) stops the workers.
        Ok::<(), std::io::Error>(())
    })?;
    out.write_all(b"]")
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
async fn watch(global: &Global, every: std::time::Duration) -> Outcome {
    let every = every.max(std::time::Duration::from_millis(200));
    loop {
        let Read {
            snapshot,
            vault,
            sharing,
            alerts,
        } = read(global, true, false).await?;
        let mut screen = String::from("\x1b[H\x1b[2J");
        let _ = writeln!(
            screen,
            "{}  (every {}; Ctrl-C stops)",
            rfc3339(now_ms()),
            humantime::format_duration(every)
        );
        if let Some(line) = sharing {
            let _ = writeln!(screen, "{line}");
        }
        screen.push_str(&table(&snapshot, &vault));
        for line in alerts {
            let _ = writeln!(screen, "{line}");
        }
        print!("{screen}");
        let _ = std::io::Write::flush(&mut std::io::stdout());
        tokio::time::sleep(every).await;
    }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::tui::tests::fixtures::conn;

    fn view(i: usize) -> Arc<ConnectionView> {
        let health = if i.is_multiple_of(7) {
            Health::Down
        } else {
            Health::Up
        };
        let name = format!("Connector \"{i}\"");
        let mut c = conn(&format!("c{i:05}"), "default", &name, health);
        c.detail = i.is_multiple_of(3).then(|| format!("detail {i}"));
        c.next_refresh_at = Some(1_700_000_000_000 + i as i64);
        c.success_rate_1h = Some(i as f64 / 10_000.0);
        c.probes_1h = i as u32;
        Arc::new(c)
    }

    #[test]
    fn the_compact_array_holds_every_row_in_order_whatever_the_runs() {
        for n in [0, 1, 511, 512, 513, 2_000] {
            let rows: Vec<_> = (0..n).map(view).collect();
            let mut out = Vec::new();
            write_compact(&mut out, &rows).expect("written");
            let parsed: Vec<serde_json::Value> =
                serde_json::from_slice(&out).expect("one JSON array");
            let expected: Vec<serde_json::Value> = rows
                .iter()
                .map(|c| serde_json::to_value(row(c)).expect("a row"))
                .collect();
            assert_eq!(parsed, expected, "{n} rows");
        }
    }

    /// A reader that goes away (`| head`) ends the write with its error; the serializing
    /// threads stop rather than wait forever to hand over their runs.
    #[test]
    fn a_closed_reader_ends_the_write_without_hanging() {
        struct Closed(usize);
        impl std::io::Write for Closed {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                if self.0 == 0 {
                    return Err(std::io::ErrorKind::BrokenPipe.into());
                }
                self.0 -= 1;
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let rows: Vec<_> = (0..20_000).map(view).collect();
        let err = write_compact(&mut Closed(3), &rows).expect_err("the pipe closed");
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    }
}
