//! The console (TUI) and the daemon: the same engine, with and without a screen.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Exit, Outcome, start_engine};
use crate::cli::{DaemonArgs, EXIT_FAILED, EXIT_USAGE, Global, LogFormat};
use crate::config::Config;
use crate::engine::{Elicitor, EngineHandle, EngineOptions, Running, Workspace};
use crate::metrics::Exporter;
use crate::tui::{self, Theme, ThemeError};

pub async fn console(global: &Global, read_only: bool) -> Outcome {
    // Where the time to the first frame goes, in the log: at 10,000 connections each step
    // is worth knowing (BENCHMARKS.md, issue 16).
    let started = Instant::now();
    // The start's transient memory is reused, not faulted in again; the engine hands it back
    // once it runs (`engine::heap`).
    crate::engine::heap::hold();
    let engine_options = console_engine_options();
    let (config, workspace, preload) = super::load_and_open(global, &engine_options)?;
    let read_at = started.elapsed();
    let mut options = console_options(&config, workspace.data_dir())?;
    options.read_only = read_only;
    options.started = Some(started);
    let running = workspace
        .start_preloaded(&config, engine_options, preload)
        .await
        .map_err(|f| Exit::failed(&f))?;
    tracing::info!(
        connectors = config.connectors.len(),
        read_ms = ms(read_at),
        engine_ms = ms(started.elapsed() - read_at),
        "console starting: config read and store opened (together), engine started"
    );
    // A console that leads (no daemon running) sends the alerts too.
    let alerts =
        crate::alert::spawn(running.handle.clone(), &config).map_err(|f| Exit::failed(&f))?;
    let outcome = run_console(running, options).await;
    if let Some(alerts) = alerts {
        alerts.stop().await;
    }
    outcome
}

/// The console's theme (adapted to this terminal), where `:theme` looks for others, and the
/// lines its help shows about where the config and data live: `export` lines that make a
/// command pasted into another shell act on this same fleet.
pub fn console_options(config: &Config, data_dir: &Path) -> Result<tui::Options, Exit> {
    let terminal = tui::palette::Terminal::from_env();
    let theme = tui::palette::adapt(load_theme(config)?, &terminal);
    let mut about = Vec::new();
    if let Some(source) = &config.source {
        about.push(format!(
            "export SWITCHBOARD_CONFIG={}",
            shell_quote(&source.display().to_string())
        ));
    }
    about.push(format!(
        "export SWITCHBOARD_DATA_DIR={}",
        shell_quote(&data_dir.display().to_string())
    ));
    let keys = console_keys(config)?;
    Ok(tui::Options {
        theme,
        theme_dirs: theme_dirs(config),
        read_only: false,
        about,
        keys,
        started: None,
    })
}

/// `[keys]` merged over the defaults; a bad entry is an error at its line in the file.
pub fn console_keys(config: &Config) -> Result<tui::key_config::Keys, Exit> {
    tui::key_config::Keys::from_config(&config.keys).map_err(|e| {
        let key = format!("keys.{}", e.action);
        let text = match &config.source {
            Some(path) => crate::config::error_at(path, &key, e.message).to_string(),
            None => format!("{key}: {}", e.message),
        };
        Exit::new(EXIT_USAGE, text)
    })
}

/// Quoted for a POSIX shell when it needs to be, so the line works as pasted.
pub fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:@%=,".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The engine behind a console: scheduled, and a server's requests for input (elicitation)
/// go to its front-ends as `Event::ElicitationRequested`, which the tool panel answers.
pub async fn start_console_engine(config: &Config, workspace: &Workspace) -> Result<Running, Exit> {
    start_engine(config, workspace, console_engine_options()).await
}

fn console_engine_options() -> EngineOptions {
    EngineOptions {
        scheduler: true,
        elicit: Elicitor::for_front_ends(),
        ..EngineOptions::default()
    }
}

/// Runs the TUI over a started engine, then stops the engine.
pub async fn run_console(running: Running, options: tui::Options) -> Outcome {
    tui::install_panic_hook();
    let handle: EngineHandle = running.handle.clone();
    // `run` has restored the terminal by now: the shell is back before the engine is done.
    let result = tui::run(handle, options).await;
    let shutdown = running.shutdown();
    tokio::pin!(shutdown);
    let stopping = Instant::now();
    let quick = tokio::time::timeout(Duration::from_millis(300), &mut shutdown).await;
    if quick.is_err() {
        // In-flight probes and token requests are finishing; say so rather than look hung.
        eprintln!("switchboard: console closed; finishing in-flight work…");
        shutdown.await;
    }
    tracing::info!(
        shutdown_ms = ms(stopping.elapsed()),
        "console closed, engine stopped"
    );
    result
        .map(|_| 0)
        .map_err(|e| Exit::new(EXIT_FAILED, format!("{e:#}")))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Theme from `[console] theme`: `themes/` beside the config file, then the config directory,
/// then the working directory; `default` is built in.
pub fn load_theme(config: &Config) -> Result<Theme, Exit> {
    let name = if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
        && config.console.theme == "default"
    {
        "mono".to_string()
    } else {
        config.console.theme.clone()
    };
    match Theme::load(&name, &theme_dirs(config)) {
        Ok(t) => Ok(t),
        // NO_COLOR asked for mono but it is not installed: fall back rather than fail.
        Err(_) if name == "mono" && config.console.theme == "default" => {
            Ok(Theme::builtin_default())
        }
        Err(e) => Err(Exit::new(EXIT_USAGE, e.to_string())),
    }
}

fn theme_dirs(config: &Config) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = config.source.as_deref().and_then(Path::parent) {
        dirs.push(dir.join("themes"));
    }
    if let Some(p) = directories::ProjectDirs::from("", "", "switchboard") {
        dirs.push(p.config_dir().join("themes"));
    }
    dirs.push(PathBuf::from("themes"));
    dirs
}

/// `config check`'s word on `[console] theme`: the console refuses to start without it.
pub fn check_theme(config: &Config) -> Result<(), String> {
    let dirs = theme_dirs(config);
    match Theme::load(&config.console.theme, &dirs) {
        Ok(_) => Ok(()),
        Err(e @ ThemeError::NotFound { .. }) => Err(format!(
            "{e}; themes that exist: {}",
            Theme::available(&dirs).join(", ")
        )),
        Err(e) => Err(e.to_string()),
    }
}

pub async fn daemon(global: &Global, args: DaemonArgs) -> Outcome {
    let (config, fingerprint) = super::load_config_fingerprinted(global)?;
    let workspace = super::open_workspace_logging(
        global,
        crate::engine::LogOptions {
            json: args.log_format == LogFormat::Json,
            level: args.log_level,
        },
    )?;
    // Bound before the engine starts: a port in use stops the daemon at once, and a service
    // manager sees /healthz answer while /readyz waits for the engine.
    let exporter = match args.listen.or(config.metrics.listen) {
        Some(addr) => Some(
            Exporter::bind(addr)
                .await
                .map_err(|e| Exit::new(EXIT_USAGE, e))?,
        ),
        None => None,
    };
    let listening = exporter.as_ref().and_then(Exporter::local_addr);
    let serving = exporter.map(Exporter::start);
    let options = EngineOptions {
        share_work: true,
        ..scheduled()
    };
    let running = start_engine(&config, &workspace, options).await?;
    if let Some(serving) = &serving {
        serving.attach(&running.handle);
        serving.outbox_depth(outbox_depth(&running.handle));
    }
    let alerts =
        crate::alert::spawn(running.handle.clone(), &config).map_err(|f| Exit::failed(&f))?;
    let workspace = std::sync::Arc::new(workspace);
    let answering =
        super::status::serve::answer(workspace.clone(), running.handle.clone(), fingerprint).await;
    let connectors = config.connectors.len();
    // The engine and the alerts hold what they need; the parsed file is megabytes at scale.
    drop(config);
    eprintln!(
        "switchboard daemon: {connectors} connectors, data in {}{}; SIGTERM or Ctrl-C stops it",
        workspace.data_dir().display(),
        listening
            .map(|a| format!(", metrics on http://{a}/metrics"))
            .unwrap_or_default()
    );
    wait_for_stop(&running).await;
    tracing::info!("daemon stopping");
    drop(answering);
    if let Some(alerts) = alerts {
        alerts.stop().await;
    }
    running.shutdown().await;
    drop(serving);
    eprintln!("switchboard daemon: stopped");
    Ok(0)
}

/// The alert outbox's depth for `/metrics`: a scrape must not wait on the store, so a task
/// reads it every few seconds and the gauge reports the last reading.
fn outbox_depth(handle: &crate::engine::EngineHandle) -> crate::metrics::OutboxDepth {
    let depth = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let (reader, handle) = (depth.clone(), handle.clone());
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(2));
        loop {
            every.tick().await;
            match handle.alert_channels().await {
                Ok(channels) => {
                    let queued: u64 = channels.iter().map(|c| c.queued).sum();
                    depth.store(
                        i64::try_from(queued).unwrap_or(i64::MAX),
                        std::sync::atomic::Ordering::Relaxed,
                    );
                }
                // The engine stopped: so does the reading.
                Err(_) if handle.is_stopped() => break,
                Err(e) => tracing::debug!("reading the alert outbox for /metrics: {e}"),
            }
        }
    });
    std::sync::Arc::new(move || reader.load(std::sync::atomic::Ordering::Relaxed))
}

/// A headless engine that runs the scheduler; a server's questions are declined (nobody is
/// there to answer them).
pub fn scheduled() -> EngineOptions {
    EngineOptions {
        scheduler: true,
        ..EngineOptions::default()
    }
}

/// Until SIGTERM, SIGINT or the engine stopping on its own.
pub async fn wait_for_stop(running: &Running) {
    let cancelled = running.cancelled();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term_fut = async {
        match term.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term_fut => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = cancelled.cancelled() => {}
    }
}
