//! Console state and its pure reducer: keys, engine events and snapshots in; state changes and
//! `Action`s out. Nothing here does I/O or reads a clock; the loop passes `now` in.

use std::collections::HashSet;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};

use super::fleet::Fleet;
use super::keymap::{self, Intent};
use super::popup::Popup;
use super::tools_panel::{PanelOutcome, ToolPanel};
use super::views::{Input, Screen};
use crate::domain::{Actor, ConnectionKey, Snapshot, UnixMs, format_expires_in};
use crate::engine::{Command, ElicitationRequest, Event, Level};
use crate::toolkit::elicit::prompt::Answer;

/// What the loop must do on the reducer's behalf.
#[derive(Debug)]
pub enum Action {
    Quit,
    Send(Command),
    /// Several commands at once (`:refresh all`).
    Batch(Vec<Command>),
    /// Read the event log for a view; the loop answers each with `App::on_log`.
    ReadLog(Vec<super::views::LogRequest>),
    /// Load and apply a theme by name (`:theme NAME`).
    Theme(String),
    /// Put the text on the terminal's clipboard (OSC 52).
    Copy(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub level: Level,
    pub text: String,
    pub until: UnixMs,
}

/// How long a flash stays; errors linger so a glance away does not miss them.
fn flash_ttl_ms(level: Level) -> i64 {
    match level {
        Level::Info => 4_000,
        Level::Warn => 8_000,
        Level::Error => 15_000,
    }
}

#[derive(Debug, Default)]
pub struct App {
    pub(super) snapshot: Arc<Snapshot>,
    /// Selection is a key, not an index, so it follows its row when the engine reorders.
    pub(super) selected: Option<ConnectionKey>,
    /// Where the selection was, for when its row disappears.
    pub(super) selected_index: usize,
    /// The selection's index in the snapshot, to find it again without a search.
    pub(super) selected_row: usize,
    flash: Option<Flash>,
    help_visible: bool,
    /// Operations this console asked for: their successes are worth a flash, whereas the
    /// scheduler's routine ones would be noise.
    requested_refresh: HashSet<ConnectionKey>,
    requested_probe: HashSet<ConnectionKey>,
    /// The tool panel, while open; it takes every key but Ctrl-C.
    tools: Option<ToolPanel>,
    /// Sort, filter and grouping of the fleet table, with the order they give.
    pub(super) fleet: Fleet,
    /// Which full screen shows: the fleet, a connection's detail, the event log.
    pub(super) screen: Screen,
    /// The filter or command line being typed, which takes the keys while open.
    pub(super) input: Option<Input>,
    pub(super) popup: Option<Popup>,
    /// `--read-only`: every action that changes something is hidden and refused.
    pub(super) read_only: bool,
    /// Lines the help shows about where this console's config and data live.
    pub(super) about: Vec<String>,
    /// Names `:theme` completes.
    pub(super) themes: Vec<String>,
    /// The fleet's keys, `[keys]` merged over the defaults.
    pub(super) keys: super::key_config::Keys,
    /// Each connection's past calls from the tool panel, kept while the console runs.
    histories: std::collections::HashMap<ConnectionKey, Vec<crate::tui::tools_panel::PastCall>>,
    /// The alert channels and their last delivery, as last read (`on_alert_channels`).
    alert_channels: Vec<crate::domain::alert::ChannelState>,
}

impl App {
    pub fn new(snapshot: Arc<Snapshot>) -> Self {
        let mut app = App::default();
        app.on_snapshot(snapshot);
        app
    }

    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    pub fn with_keys(mut self, keys: super::key_config::Keys) -> Self {
        self.keys = keys;
        self
    }

    pub fn keys(&self) -> &super::key_config::Keys {
        &self.keys
    }

    pub fn with_about(mut self, about: Vec<String>, themes: Vec<String>) -> Self {
        self.about = about;
        self.themes = themes;
        self
    }

    /// The alert channels as the store last said: the header shows each one's last delivery.
    pub fn on_alert_channels(&mut self, channels: Vec<crate::domain::alert::ChannelState>) -> bool {
        let changed = channels != self.alert_channels;
        self.alert_channels = channels;
        changed
    }

    pub fn alert_channels(&self) -> &[crate::domain::alert::ChannelState] {
        &self.alert_channels
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    pub fn selected_key(&self) -> Option<&ConnectionKey> {
        self.selected.as_ref()
    }

    /// Position of the selection among the visible rows.
    pub fn selected_index(&self) -> Option<usize> {
        self.selected.as_ref()?;
        Some(self.selected_index)
    }

    pub fn tool_panel(&self) -> Option<&ToolPanel> {
        self.tools.as_ref()
    }

    pub fn help_visible(&self) -> bool {
        self.help_visible
    }

    /// The flash message, if it has not expired at `now`.
    pub fn flash(&self, now: UnixMs) -> Option<&Flash> {
        self.flash.as_ref().filter(|f| f.until > now)
    }

    /// A server's request for input (MCP elicitation). It belongs to a call the tool panel
    /// is running; anything else this console declines at once rather than leave the server
    /// waiting for an answer nobody will give.
    fn on_elicitation(
        &mut self,
        id: u64,
        key: Option<&ConnectionKey>,
        request: &ElicitationRequest,
        now: UnixMs,
    ) -> Option<Action> {
        let shown = self
            .tools
            .as_mut()
            .is_some_and(|panel| panel.on_elicitation(id, key, request));
        if shown {
            return None;
        }
        let text = format!(
            "{} asked for input outside a call from this panel; declined",
            request.server
        );
        self.set_flash(Level::Warn, text, now);
        Some(Action::Send(Command::AnswerElicitation {
            id,
            answer: Answer::Decline,
        }))
    }

    pub fn handle_key(&mut self, key: KeyEvent, now: UnixMs) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        if let Some(panel) = &mut self.tools {
            if keymap::lookup(&key) == Some(Intent::Quit) && key.code != KeyCode::Char('q') {
                return Some(Action::Quit);
            }
            return match panel.handle_key(key)? {
                PanelOutcome::Close => {
                    // The panel may have asked the engine for something to stop on close.
                    let panel = self.tools.take()?;
                    let goodbye = panel.closing();
                    self.histories.insert(panel.key, panel.history);
                    goodbye.map(Action::Send)
                }
                PanelOutcome::Send(command) => Some(Action::Send(command)),
                PanelOutcome::Copy(text) => {
                    // Shown as well: a terminal without OSC 52 copies nothing, silently.
                    let shown = format!("copied (OSC 52): {text}");
                    self.set_flash(Level::Info, shown, now);
                    Some(Action::Copy(text))
                }
            };
        }
        if let Some(outcome) = self.handle_view_key(key, now) {
            return outcome;
        }
        let intent = self.keys.lookup(&key)?;
        if self.help_visible {
            // The popup is modal: acting on a row the operator cannot see would surprise them.
            return match intent {
                Intent::Quit => Some(Action::Quit),
                Intent::Help | Intent::Close => {
                    self.help_visible = false;
                    None
                }
                _ => None,
            };
        }
        if self.read_only && keymap::mutates(intent) {
            self.set_flash(Level::Warn, "read-only console: no actions".into(), now);
            return None;
        }
        let last = self.fleet.len().saturating_sub(1);
        match intent {
            Intent::Quit => return Some(Action::Quit),
            Intent::Up => self.select(self.selected_index.saturating_sub(1)),
            Intent::Down => self.select((self.selected_index + 1).min(last)),
            Intent::Top => self.select(0),
            Intent::Bottom => self.select(last),
            Intent::Help => self.help_visible = true,
            Intent::Close if !self.fleet.filter.is_empty() => self.set_filter(String::new()),
            Intent::Close => self.flash = None,
            Intent::Refresh | Intent::Probe => return self.request(intent, now),
            Intent::Tools => return self.open_tools(now),
            other => return self.fleet_intent(other, now),
        }
        None
    }

    /// Pasted text goes to the argument editor when it is open; elsewhere a paste has no
    /// meaning, and replaying it as keys would fire whatever each character is bound to.
    pub fn handle_paste(&mut self, text: &str) {
        if let Some(panel) = &mut self.tools {
            panel.handle_paste(text);
        }
    }

    /// An engine event; an `Action` when the console must answer it (a request for input).
    pub fn on_event(&mut self, event: &Event, now: UnixMs) -> Option<Action> {
        if let Event::ElicitationRequested { id, key, request } = event {
            return self.on_elicitation(*id, key.as_ref(), request, now);
        }
        if let Some(panel) = &mut self.tools {
            panel.on_event(event);
        }
        self.on_view_event(event, now);
        match event {
            Event::Refreshed { key, result } => {
                let ours = self.requested_refresh.remove(key);
                match result {
                    Err(failure) => self.set_flash(
                        Level::Error,
                        format!("{key}: refresh failed: {failure}"),
                        now,
                    ),
                    Ok(meta) if ours => {
                        let expiry = meta.expires_at.map_or_else(
                            || "no expiry".to_owned(),
                            |at| format!("expires in {}", format_expires_in(at, now)),
                        );
                        self.set_flash(Level::Info, format!("{key}: refreshed, {expiry}"), now)
                    }
                    Ok(_) => {}
                }
            }
            Event::Probed { key, result } => {
                if !self.requested_probe.remove(key) {
                    return None;
                }
                let text = match &result.failure {
                    None => format!("{key}: probe ok in {} ms", result.latency_ms),
                    Some(failure) => format!("{key}: probe failed: {failure}"),
                };
                let level = if result.ok() {
                    Level::Info
                } else {
                    Level::Warn
                };
                // The operator asked for this one: it replaces whatever older message shows.
                self.replace_flash(level, text, now);
            }
            Event::NeedsReauth { key } => self.set_flash(
                Level::Error,
                format!("{key}: grant lost; select it and press a to re-authorize"),
                now,
            ),
            Event::Notice { level, text } => self.set_flash(*level, text.clone(), now),
            // The tool panel shows these itself.
            Event::RefreshStarted { .. }
            | Event::ProbeStarted { .. }
            | Event::ToolsListed { .. }
            | Event::ToolProgress { .. }
            | Event::ToolResult { .. }
            | Event::ElicitationRequested { .. }
            | Event::ElicitationClosed { .. }
            | Event::ResourceRead { .. }
            | Event::PromptGot { .. }
            | Event::Transcript { .. }
            | Event::Protocol { .. }
            | Event::Reauth { .. } => {}
        }
        None
    }

    /// Flashes a message unless it would hide a more severe one that is still showing.
    pub fn set_flash(&mut self, level: Level, text: String, now: UnixMs) {
        let rank = |l: Level| match l {
            Level::Info => 0,
            Level::Warn => 1,
            Level::Error => 2,
        };
        if let Some(current) = self.flash(now)
            && rank(current.level) > rank(level)
        {
            return;
        }
        let until = now + flash_ttl_ms(level);
        self.flash = Some(Flash { level, text, until });
    }

    /// Flashes the answer to something the operator just did, whatever showed before.
    pub fn replace_flash(&mut self, level: Level, text: String, now: UnixMs) {
        let until = now + flash_ttl_ms(level);
        self.flash = Some(Flash { level, text, until });
    }

    /// Drops an expired flash; returns true when that changed what is on screen.
    pub fn expire_flash(&mut self, now: UnixMs) -> bool {
        let expired = self.flash.as_ref().is_some_and(|f| f.until <= now);
        if expired {
            self.flash = None;
        }
        expired
    }

    pub(super) fn open_tools(&mut self, now: UnixMs) -> Option<Action> {
        let row = self.selected.as_ref().and_then(|k| self.snapshot.get(k));
        let Some(row) = row else {
            self.set_flash(Level::Warn, "no connection selected".to_owned(), now);
            return None;
        };
        if !row.transport.has_tools() {
            let text = format!("{}: a REST connection has no tools", row.key);
            self.set_flash(Level::Warn, text, now);
            return None;
        }
        let (mut panel, command) = ToolPanel::open(row.key.clone());
        panel.history = self.histories.remove(&row.key).unwrap_or_default();
        self.tools = Some(panel);
        Some(Action::Send(command))
    }

    pub(super) fn request(&mut self, intent: Intent, now: UnixMs) -> Option<Action> {
        let Some(key) = self.selected.clone() else {
            self.set_flash(Level::Warn, "no connection selected".to_owned(), now);
            return None;
        };
        let (verb, command) = if intent == Intent::Refresh {
            self.requested_refresh.insert(key.clone());
            let command = Command::Refresh {
                key: key.clone(),
                actor: Actor::Console,
                reply: None,
            };
            ("refreshing", command)
        } else {
            self.requested_probe.insert(key.clone());
            let command = Command::Probe {
                key: key.clone(),
                actor: Actor::Console,
                reply: None,
            };
            ("probing", command)
        };
        self.replace_flash(Level::Info, format!("{key}: {verb}…"), now);
        Some(Action::Send(command))
    }
}
