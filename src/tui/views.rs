//! The console's screens beyond the fleet table (detail, events), its input line (filter,
//! command) and popups: state, and the part of the reducer that drives them.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{Action, App};
use super::keymap::{Intent, lookup_in};
use super::log::{EventsLog, LogLine};
use super::popup::{Method, Popup, Reauth};
use super::view_keys::{self, PopupIntent};
use crate::domain::history::{HOUR_MS, MINUTE_MS};
use crate::domain::{Actor, ConnectionKey, UnixMs};
use crate::engine::{Command, Event, Level, Opener, ReauthMethod};

#[derive(Debug, Default)]
pub enum Screen {
    #[default]
    Fleet,
    Detail(Detail),
    Events(EventsLog),
}

/// One connection's detail: what the snapshot says, plus its lines of the event log.
#[derive(Debug)]
pub struct Detail {
    pub key: ConnectionKey,
    /// Charts over the last day rather than the last hour.
    pub day: bool,
    /// Its probes over the span (oldest first), for the charts.
    pub probes: Option<Result<Vec<LogLine>, String>>,
    /// Its recent events of every kind (newest last); refreshes are picked from these.
    pub recent: Option<Result<Vec<LogLine>, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogPurpose {
    DetailProbes,
    DetailRecent,
    Events,
}

/// What the loop must read from the event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRequest {
    pub purpose: LogPurpose,
    pub key: Option<ConnectionKey>,
    pub since: Option<UnixMs>,
    pub kinds: Vec<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Filter,
    EventsFilter,
    Command,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub kind: InputKind,
    pub text: String,
}

impl Detail {
    pub(super) fn requests(&self, now: UnixMs) -> Vec<LogRequest> {
        let span = if self.day { 24 * HOUR_MS } else { HOUR_MS };
        vec![
            LogRequest {
                purpose: LogPurpose::DetailProbes,
                key: Some(self.key.clone()),
                since: Some(now - span),
                kinds: vec!["probe".into()],
                limit: 2_000,
            },
            LogRequest {
                purpose: LogPurpose::DetailRecent,
                key: Some(self.key.clone()),
                since: Some(now - 7 * 24 * HOUR_MS),
                kinds: vec![],
                limit: 200,
            },
        ]
    }
}

/// The events view starts with the last hour of the stored log.
const EVENTS_BACKFILL_MS: i64 = 60 * MINUTE_MS;

impl App {
    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    pub fn input(&self) -> Option<&Input> {
        self.input.as_ref()
    }

    pub fn popup(&self) -> Option<&Popup> {
        self.popup.as_ref()
    }

    pub fn fleet(&self) -> &super::fleet::Fleet {
        &self.fleet
    }

    /// The selected connection, found through the order (no search over the fleet).
    pub fn selected_row(&self) -> Option<&crate::domain::ConnectionView> {
        let i = self.fleet.row(self.selected_index()?)?;
        self.snapshot().connections.get(i).map(|c| &**c)
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub fn about(&self) -> &[String] {
        &self.about
    }

    /// The stored log answered a `LogRequest`.
    pub fn on_log(&mut self, request: &LogRequest, result: Result<Vec<LogLine>, String>) {
        match (&mut self.screen, request.purpose) {
            (Screen::Detail(d), LogPurpose::DetailProbes)
                if request.key.as_ref() == Some(&d.key) =>
            {
                d.probes = Some(result)
            }
            (Screen::Detail(d), LogPurpose::DetailRecent)
                if request.key.as_ref() == Some(&d.key) =>
            {
                d.recent = Some(result)
            }
            (Screen::Events(log), LogPurpose::Events) => match result {
                Ok(lines) => log.backfill(lines),
                Err(e) => {
                    log.error = Some(e);
                    log.loaded = true;
                }
            },
            _ => {}
        }
    }

    /// Keys the open input line, popup or screen takes; `None` leaves the key to the fleet.
    pub(super) fn handle_view_key(&mut self, key: KeyEvent, now: UnixMs) -> Option<Option<Action>> {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return Some(Some(Action::Quit));
        }
        if self.input.is_some() {
            return Some(self.input_key(key, now));
        }
        if self.popup.is_some() {
            return Some(self.popup_key(key, now));
        }
        if self.help_visible() {
            return None;
        }
        match &self.screen {
            Screen::Fleet => None,
            Screen::Detail(_) => Some(self.detail_key(key, now)),
            Screen::Events(_) => Some(self.events_key(key)),
        }
    }

    /// The fleet's own intents beyond moving and the tool panel.
    pub(super) fn fleet_intent(&mut self, intent: Intent, now: UnixMs) -> Option<Action> {
        match intent {
            Intent::Detail => return self.open_detail(now),
            Intent::Filter => {
                self.input = Some(Input {
                    kind: InputKind::Filter,
                    text: self.fleet.filter.clone(),
                })
            }
            Intent::Sort => {
                self.fleet.sort = self.fleet.sort.next();
                self.reorder();
                let text = format!("sorted by {}", self.fleet.sort.label());
                self.replace_flash(Level::Info, text, now);
            }
            Intent::Reverse => {
                self.fleet.descending = !self.fleet.descending;
                self.reorder();
            }
            Intent::Group => {
                self.fleet.group = self.fleet.group.next();
                self.reorder();
                let text = format!("grouped by {}", self.fleet.group.label());
                self.replace_flash(Level::Info, text, now);
            }
            Intent::Reauth => self.choose_reauth(now),
            Intent::Revoke => {
                if let Some(key) = self.selected_key().cloned() {
                    self.popup = Some(Popup::ConfirmRevoke { key });
                }
            }
            Intent::Pause => return self.toggle_pause(self.selected_key().cloned(), now),
            Intent::Events => return self.open_events(now),
            Intent::CommandMode => {
                self.input = Some(Input {
                    kind: InputKind::Command,
                    text: String::new(),
                })
            }
            _ => {}
        }
        None
    }

    pub(super) fn set_filter(&mut self, filter: String) {
        self.fleet.filter = filter;
        self.reorder();
    }

    pub(super) fn open_detail(&mut self, now: UnixMs) -> Option<Action> {
        let key = self.selected_key().cloned()?;
        let detail = Detail {
            key,
            day: false,
            probes: None,
            recent: None,
        };
        let requests = detail.requests(now);
        self.screen = Screen::Detail(detail);
        Some(Action::ReadLog(requests))
    }

    pub(super) fn open_events(&mut self, now: UnixMs) -> Option<Action> {
        self.screen = Screen::Events(EventsLog::new());
        Some(Action::ReadLog(vec![LogRequest {
            purpose: LogPurpose::Events,
            key: None,
            since: Some(now - EVENTS_BACKFILL_MS),
            kinds: vec![],
            limit: super::log::EVENTS_KEPT,
        }]))
    }

    pub(super) fn choose_reauth(&mut self, now: UnixMs) {
        match self.selected_key().cloned() {
            Some(key) => self.popup = Some(Popup::ChooseReauth { key }),
            None => self.set_flash(Level::Warn, "no connection selected".into(), now),
        }
    }

    fn popup_key(&mut self, key: KeyEvent, now: UnixMs) -> Option<Action> {
        let table = match self.popup.as_ref()? {
            Popup::ChooseReauth { .. } => view_keys::REAUTH_CHOOSE,
            Popup::Reauth(_) => view_keys::REAUTH_RUNNING,
            Popup::ConfirmRevoke { .. } => view_keys::CONFIRM,
        };
        let intent = lookup_in(table, &key)?;
        match (self.popup.take()?, intent) {
            (Popup::ChooseReauth { key }, PopupIntent::Browser) => {
                Some(self.reauth(key, Method::Browser))
            }
            (Popup::ChooseReauth { key }, PopupIntent::Device) => {
                Some(self.reauth(key, Method::Device))
            }
            (Popup::Reauth(r), PopupIntent::Cancel) => {
                // Cancelling stops the flow and drops its loopback listener.
                if !r.status.finished() {
                    r.cancel.cancel();
                    self.replace_flash(
                        Level::Info,
                        format!("{}: re-authorization cancelled", r.key),
                        now,
                    );
                }
                None
            }
            (Popup::ConfirmRevoke { key }, PopupIntent::Yes) => {
                self.replace_flash(Level::Info, format!("{key}: revoking…"), now);
                Some(Action::Send(Command::Revoke {
                    key,
                    actor: Actor::Console,
                    reply: None,
                }))
            }
            (_, PopupIntent::Cancel) => None,
            (popup, _) => {
                self.popup = Some(popup);
                None
            }
        }
    }

    fn reauth(&mut self, key: ConnectionKey, method: Method) -> Action {
        let state = Reauth::new(key.clone(), method);
        let method = match method {
            Method::Browser => ReauthMethod::Browser {
                opener: Opener::System,
            },
            Method::Device => ReauthMethod::DeviceCode,
        };
        let command = Command::Reauth {
            key,
            method,
            actor: Actor::Console,
            cancel: state.cancel.clone(),
            reply: None,
        };
        self.popup = Some(Popup::Reauth(state));
        Action::Send(command)
    }

    /// Engine events the screens and popups follow.
    pub(super) fn on_view_event(&mut self, event: &Event, now: UnixMs) {
        if let (Some(Popup::Reauth(r)), Event::Reauth { key, progress }) = (&mut self.popup, event)
            && *key == r.key
        {
            r.on_progress(progress);
        }
        let Some(line) = LogLine::from_event(event, now) else {
            return;
        };
        match &mut self.screen {
            Screen::Events(log) => log.push(line),
            Screen::Detail(d) if line.key.as_ref() == Some(&d.key) => {
                if line.kind == "probe"
                    && let Some(Ok(probes)) = &mut d.probes
                {
                    probes.push(line.clone());
                }
                if let Some(Ok(recent)) = &mut d.recent {
                    recent.push(line);
                }
            }
            _ => {}
        }
    }

    pub(super) fn toggle_pause(
        &mut self,
        key: Option<ConnectionKey>,
        now: UnixMs,
    ) -> Option<Action> {
        let key = key?;
        let paused = self.snapshot().get(&key).is_some_and(|c| c.paused);
        self.set_paused(key, !paused, now)
    }

    /// Pauses (no refreshes, no probes) or resumes a connection; the snapshot shows it.
    pub(super) fn set_paused(
        &mut self,
        key: ConnectionKey,
        paused: bool,
        now: UnixMs,
    ) -> Option<Action> {
        let verb = if paused { "pausing" } else { "resuming" };
        self.replace_flash(Level::Info, format!("{key}: {verb}…"), now);
        Some(Action::Send(Command::SetPaused {
            key,
            paused,
            actor: Actor::Console,
            reply: None,
        }))
    }
}
