//! The console: terminal setup, event loop, state reducer, views, theme.
//!
//! The loop is the only place with I/O: it feeds terminal keys, engine snapshots, engine events
//! and a 1 s tick into the pure `App` reducer, performs the `Action`s it returns, and redraws
//! only when something changed, so an idle console sleeps in `select!`.

pub mod app;
pub mod command;
pub mod editor;
pub mod fleet;
pub mod form;
pub mod key_config;
pub mod keymap;
pub mod log;
mod mouse;
pub mod palette;
pub mod panel_keys;
pub mod popup;
mod screen_keys;
mod selection;
pub mod theme;
pub mod tools_panel;
pub mod view;
pub mod view_keys;
pub mod views;

#[cfg(test)]
pub(crate) mod tests;

use std::time::Duration;

use anyhow::Context;
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    Event as TermEvent, EventStream,
};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{MissedTickBehavior, sleep_until};

pub use app::{Action, App};
pub use theme::{Theme, ThemeError};

use crate::domain::events::EventQuery;
use crate::domain::now_ms;
use crate::engine::{Command, EngineHandle, Level};

/// Why the loop ended, so `run` can explain itself after the terminal is restored.
enum Exit {
    Quit,
    EngineStopped,
    InputClosed,
}

/// How the console was started: its theme and where to find others, `--read-only`, and what
/// the help says about where its config and data live.
#[derive(Debug, Clone)]
pub struct Options {
    pub theme: Theme,
    pub theme_dirs: Vec<std::path::PathBuf>,
    pub read_only: bool,
    pub about: Vec<String>,
    pub keys: key_config::Keys,
    /// When the process began, for the log line that says how long the first frame took.
    pub started: Option<std::time::Instant>,
}

/// Owns the terminal until the operator quits. The terminal is restored on every path out,
/// errors included.
pub async fn run(engine: EngineHandle, options: Options) -> anyhow::Result<()> {
    let mut terminal = match ratatui::try_init() {
        Ok(terminal) => terminal,
        Err(err) => {
            // Setup can fail halfway (raw mode on, alternate screen refused): undo what took.
            restore();
            return Err(err).context("cannot set up the terminal");
        }
    };
    // Without bracketed paste a pasted JSON document arrives as keys, and its first newline
    // (Enter) would send a half-pasted call. A terminal that cannot do it still works.
    if let Err(err) = crossterm::execute!(std::io::stdout(), EnableBracketedPaste) {
        tracing::debug!(%err, "bracketed paste unavailable");
    }
    if let Err(err) = crossterm::execute!(std::io::stdout(), EnableMouseCapture) {
        tracing::debug!(%err, "mouse unavailable");
    }
    let result = event_loop(&mut terminal, &engine, options).await;
    // The shell comes back before anything else: the engine stops after (`run_console`).
    restore();
    tracing::info!("console: terminal restored");
    match result? {
        Exit::Quit => {}
        Exit::EngineStopped => eprintln!("switchboard: the engine stopped; console closed"),
        Exit::InputClosed => eprintln!("switchboard: terminal input closed; console closed"),
    }
    Ok(())
}

/// Restores the terminal before the default hook prints, so a panic message is readable and
/// the shell is not left in raw mode.
pub fn install_panic_hook() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        default_hook(info);
    }));
}

/// Leaves the terminal as the shell expects it, paste mode included.
fn restore() {
    let _ = crossterm::execute!(
        std::io::stdout(),
        DisableBracketedPaste,
        DisableMouseCapture
    );
    ratatui::restore();
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    engine: &EngineHandle,
    options: Options,
) -> anyhow::Result<Exit> {
    let mut theme = options.theme;
    let (log_tx, mut log_rx) = tokio::sync::mpsc::channel(16);
    let mut input = EventStream::new();
    let mut snapshots = engine.watch();
    let mut events = engine.subscribe();
    let mut events_open = true;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // After a suspend, one catch-up redraw is enough; a burst would only burn CPU.
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);

    // SIGTERM quits like `q`: the terminal is restored and the caller cleans up after
    // (the demo removes its temporary directory); killed by default, it did neither.
    let mut terminate = signal(SignalKind::terminate()).ok();

    let themes = Theme::available(&options.theme_dirs);
    let mut app = App::new(snapshots.borrow_and_update().clone())
        .read_only(options.read_only)
        .with_about(options.about, themes)
        .with_keys(options.keys);
    let mut alert_channels = watch_alert_channels(engine);
    let mut frames = Frames::new(tokio::time::Instant::now());
    let mut first_frame = options.started;
    loop {
        let now = tokio::time::Instant::now();
        if frames.due(now) {
            // The newest snapshot only: the ones published since the last frame were never
            // seen, so taking each in would be work for nothing.
            if frames.snapshot_waiting {
                app.on_snapshot(snapshots.borrow_and_update().clone());
            }
            let wall = now_ms();
            terminal
                .draw(|frame| view::render(frame, &app, &theme, wall))
                .context("cannot draw to the terminal")?;
            frames.drawn(now);
            if let Some(started) = first_frame.take() {
                tracing::info!(
                    ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    connections = app.snapshot().connections.len(),
                    "console: first frame"
                );
            }
        }
        let next_frame = frames.next(now);
        tokio::select! {
            () = sleep_until(next_frame) => {}
            input_event = input.next() => match input_event {
                Some(Ok(TermEvent::Key(key))) => {
                    let action = app.handle_key(key, now_ms());
                    if perform(action, engine, &mut app, &mut theme, &options.theme_dirs, &log_tx) {
                        return Ok(Exit::Quit);
                    }
                    frames.now();
                }
                Some(Ok(TermEvent::Mouse(mouse))) => {
                    let size = terminal.size().context("cannot read the terminal size")?;
                    let area = ratatui::layout::Rect::new(0, 0, size.width, size.height);
                    if app.handle_mouse(mouse, area) {
                        frames.now();
                    }
                }
                Some(Ok(TermEvent::Paste(text))) => {
                    app.handle_paste(&text);
                    frames.now();
                }
                Some(Ok(TermEvent::Resize(..))) => frames.now(),
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err).context("cannot read terminal input"),
                None => return Ok(Exit::InputClosed),
            },
            changed = snapshots.changed() => match changed {
                Ok(()) => {
                    // Marked seen, taken in at the next frame: a burst of snapshots costs one
                    // intake and one frame.
                    snapshots.borrow_and_update();
                    frames.snapshot_waiting = true;
                    frames.soon();
                }
                Err(_) => return Ok(Exit::EngineStopped),
            },
            event = events.recv(), if events_open => match event {
                Ok(event) => {
                    // A request for input this console will not show is declined at once.
                    if let Some(Action::Send(command)) = app.on_event(&event, now_ms()) {
                        send(engine, &mut app, command);
                    }
                    frames.soon();
                }
                // Events only feed flash messages; the snapshot carries the state, so missing
                // some loses nothing that matters.
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "console lagged behind engine events");
                }
                Err(RecvError::Closed) => events_open = false,
            },
            Some(()) = async {
                match terminate.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            } => return Ok(Exit::Quit),
            Some((request, result)) = log_rx.recv() => {
                app.on_log(&request, result);
                frames.now();
            }
            Ok(()) = alert_channels.changed() => {
                let channels = alert_channels.borrow_and_update().clone();
                if app.on_alert_channels(channels) {
                    frames.soon();
                }
            }
            _ = tick.tick() => {
                // Countdowns and the busy spinner move every second even when nothing else does.
                app.expire_flash(now_ms());
                frames.soon();
            }
        }
    }
}

/// When to draw. What the operator does (a key, a paste, a resize) is drawn at once; what the
/// engine does (snapshots, events, the tick) is coalesced into at most one frame per
/// `DATA_FRAME`: at 10,000 connections the engine publishes several times a second and sends
/// hundreds of events, and drawing each would keep a core busy for nothing a person can see.
struct Frames {
    /// A frame is owed at once.
    urgent: bool,
    /// A frame is owed at the next slot of the bounded rate.
    stale: bool,
    /// The engine published a snapshot the console has not taken in yet.
    snapshot_waiting: bool,
    last: tokio::time::Instant,
}

/// The fastest the console redraws for the engine's sake (10 a second).
const DATA_FRAME: Duration = Duration::from_millis(100);
/// How long the loop sleeps when nothing is owed; anything that arrives wakes it first.
const IDLE: Duration = Duration::from_secs(3600);

impl Frames {
    fn new(now: tokio::time::Instant) -> Self {
        Frames {
            urgent: true,
            stale: false,
            snapshot_waiting: false,
            last: now,
        }
    }

    fn now(&mut self) {
        self.urgent = true;
    }

    fn soon(&mut self) {
        self.stale = true;
    }

    fn due(&self, now: tokio::time::Instant) -> bool {
        self.urgent || (self.stale && now >= self.last + DATA_FRAME)
    }

    fn drawn(&mut self, now: tokio::time::Instant) {
        self.urgent = false;
        self.stale = false;
        self.snapshot_waiting = false;
        self.last = now;
    }

    /// When the loop must wake to draw what is owed, if nothing else wakes it first.
    fn next(&self, now: tokio::time::Instant) -> tokio::time::Instant {
        if self.stale {
            self.last + DATA_FRAME
        } else {
            now + IDLE
        }
    }
}

/// The alert channels and their last delivery, read off the loop every few seconds (the store
/// answers; a frame never waits on it). The sender's task ends with the engine.
fn watch_alert_channels(
    engine: &EngineHandle,
) -> tokio::sync::watch::Receiver<Vec<crate::domain::alert::ChannelState>> {
    let (tx, rx) = tokio::sync::watch::channel(Vec::new());
    let engine = engine.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        while !engine.is_stopped() && !tx.is_closed() {
            every.tick().await;
            if let Ok(channels) = engine.alert_channels().await {
                tx.send_if_modified(|now| {
                    let changed = *now != channels;
                    *now = channels;
                    changed
                });
            }
        }
    });
    rx
}

/// Does what the reducer asked; true to quit.
fn perform(
    action: Option<Action>,
    engine: &EngineHandle,
    app: &mut App,
    theme: &mut Theme,
    theme_dirs: &[std::path::PathBuf],
    log_tx: &LogSender,
) -> bool {
    match action {
        None => {}
        Some(Action::Quit) => return true,
        Some(Action::Send(command)) => send(engine, app, command),
        Some(Action::Copy(text)) => copy_osc52(&text),
        Some(Action::Batch(commands)) => {
            for command in commands {
                send(engine, app, command);
            }
        }
        Some(Action::ReadLog(requests)) => {
            for request in requests {
                read_log(engine, request, log_tx.clone());
            }
        }
        Some(Action::Theme(name)) => match Theme::load(&name, theme_dirs) {
            Ok(loaded) => {
                *theme = palette::adapt(loaded, &palette::Terminal::from_env());
                app.replace_flash(Level::Info, format!("theme {name}"), now_ms());
            }
            // A broken theme file says where; the current theme stays.
            Err(e) => app.replace_flash(Level::Error, e.to_string(), now_ms()),
        },
    }
    false
}

type LogSender = tokio::sync::mpsc::Sender<(views::LogRequest, Result<Vec<log::LogLine>, String>)>;

/// Reads the event log off the loop, so a slow store never stalls a frame.
fn read_log(engine: &EngineHandle, request: views::LogRequest, tx: LogSender) {
    let engine = engine.clone();
    tokio::spawn(async move {
        let query = EventQuery {
            connector: request.key.as_ref().map(|k| k.connector.clone()),
            account: request.key.as_ref().map(|k| k.account.clone()),
            since: request.since,
            after_id: None,
            kinds: request.kinds.clone(),
            limit: request.limit,
        };
        let result = engine
            .read_events(query)
            .await
            .map(|entries| entries.into_iter().map(log::LogLine::from_entry).collect())
            .map_err(|f| f.to_string());
        let _ = tx.send((request, result)).await;
    });
}

fn send(engine: &EngineHandle, app: &mut App, command: Command) {
    if !engine.send(command) {
        let text = "the engine is not accepting commands (busy or stopped)";
        app.set_flash(Level::Error, text.to_owned(), now_ms());
    }
}

/// Puts text on the clipboard of the terminal (and of the terminal the SSH session runs in)
/// with OSC 52. Terminals cap the sequence, so a very long text is not sent; the flash
/// already shows it to copy by hand.
fn copy_osc52(text: &str) {
    use base64::Engine as _;
    use std::io::Write as _;
    const OSC52_LIMIT: usize = 74_994;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    if encoded.len() > OSC52_LIMIT {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "\x1b]52;c;{encoded}\x07");
    let _ = out.flush();
}
