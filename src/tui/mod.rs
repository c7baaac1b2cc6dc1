//! The console: terminal setup, event loop, state reducer, views, theme.
//!
//! The loop is the only place with I/O: it feeds terminal keys, engine snapshots, engine events
//! and a 1 s tick into the pure `App` reducer, performs the `Action`s it returns, and redraws
//! only when something changed, so an idle console sleeps in `select!`.

pub mod app;
pub mod editor;
pub mod form;
pub mod keymap;
pub mod panel_keys;
pub mod theme;
pub mod tools_panel;
pub mod view;

#[cfg(test)]
mod tests;

use std::time::Duration;

use anyhow::Context;
use crossterm::event::{
    DisableBracketedPaste, EnableBracketedPaste, Event as TermEvent, EventStream,
};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::MissedTickBehavior;

pub use app::{Action, App};
pub use theme::{Theme, ThemeError};

use crate::domain::now_ms;
use crate::engine::{Command, EngineHandle, Level};

/// Why the loop ended, so `run` can explain itself after the terminal is restored.
enum Exit {
    Quit,
    EngineStopped,
    InputClosed,
}

/// Owns the terminal until the operator quits. The terminal is restored on every path out,
/// errors included.
pub async fn run(engine: EngineHandle, theme: Theme) -> anyhow::Result<()> {
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
    let result = event_loop(&mut terminal, &engine, &theme).await;
    restore();
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
    let _ = crossterm::execute!(std::io::stdout(), DisableBracketedPaste);
    ratatui::restore();
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    engine: &EngineHandle,
    theme: &Theme,
) -> anyhow::Result<Exit> {
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

    let mut app = App::new(snapshots.borrow_and_update().clone());
    let mut dirty = true;
    loop {
        if dirty {
            let now = now_ms();
            terminal
                .draw(|frame| view::render(frame, &app, theme, now))
                .context("cannot draw to the terminal")?;
            dirty = false;
        }
        tokio::select! {
            input_event = input.next() => match input_event {
                Some(Ok(TermEvent::Key(key))) => {
                    match app.handle_key(key, now_ms()) {
                        Some(Action::Quit) => return Ok(Exit::Quit),
                        Some(Action::Send(command)) => send(engine, &mut app, command),
                        Some(Action::Copy(text)) => copy_osc52(&text),
                        None => {}
                    }
                    dirty = true;
                }
                Some(Ok(TermEvent::Paste(text))) => {
                    app.handle_paste(&text);
                    dirty = true;
                }
                Some(Ok(TermEvent::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err).context("cannot read terminal input"),
                None => return Ok(Exit::InputClosed),
            },
            changed = snapshots.changed() => match changed {
                Ok(()) => {
                    app.on_snapshot(snapshots.borrow_and_update().clone());
                    dirty = true;
                }
                Err(_) => return Ok(Exit::EngineStopped),
            },
            event = events.recv(), if events_open => match event {
                Ok(event) => {
                    // A request for input this console will not show is declined at once.
                    if let Some(Action::Send(command)) = app.on_event(&event, now_ms()) {
                        send(engine, &mut app, command);
                    }
                    dirty = true;
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
            _ = tick.tick() => {
                // Countdowns and the busy spinner move every second even when nothing else does.
                app.expire_flash(now_ms());
                dirty = true;
            }
        }
    }
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
