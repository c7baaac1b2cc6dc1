//! Keys of the detail and events screens (their tables are in `view_keys`).

use crossterm::event::{KeyCode, KeyEvent};

use super::app::{Action, App};
use super::keymap::{Intent, lookup_in};
use super::view_keys::{self, DetailIntent, EventsIntent};
use super::views::{Input, InputKind, Screen};
use crate::domain::{ConnectionKey, UnixMs};
use crate::engine::Level;

impl App {
    pub(super) fn detail_key(&mut self, key: KeyEvent, now: UnixMs) -> Option<Action> {
        let intent = lookup_in(view_keys::DETAIL, &key)?;
        if self.read_only && view_keys::detail_mutates(intent) {
            self.set_flash(Level::Warn, "read-only console: no actions".into(), now);
            return None;
        }
        match intent {
            DetailIntent::Back => self.screen = Screen::Fleet,
            DetailIntent::Span => {
                if let Screen::Detail(d) = &mut self.screen {
                    d.day = !d.day;
                    d.probes = None;
                    let request = d.requests(now).swap_remove(0);
                    return Some(Action::ReadLog(vec![request]));
                }
            }
            DetailIntent::Reauth => self.choose_reauth(now),
            DetailIntent::Refresh => return self.request(Intent::Refresh, now),
            DetailIntent::Probe => return self.request(Intent::Probe, now),
            DetailIntent::Revoke => return self.fleet_intent(Intent::Revoke, now),
            DetailIntent::Pause => return self.toggle_pause(self.selected_key().cloned(), now),
            DetailIntent::Up | DetailIntent::Down => {
                let pos = self.selected_index().unwrap_or(0);
                let last = self.fleet.len().saturating_sub(1);
                let next = if intent == DetailIntent::Up {
                    pos.saturating_sub(1)
                } else {
                    (pos + 1).min(last)
                };
                self.select(next);
                return self.open_detail(now);
            }
        }
        None
    }

    pub(super) fn events_key(&mut self, key: KeyEvent) -> Option<Action> {
        let intent = lookup_in(view_keys::EVENTS, &key)?;
        let Screen::Events(log) = &mut self.screen else {
            return None;
        };
        match intent {
            EventsIntent::Back if key.code == KeyCode::Esc && !log.filter.is_empty() => {
                log.set_filter(String::new())
            }
            EventsIntent::Back => self.screen = Screen::Fleet,
            EventsIntent::Up => log.up(),
            EventsIntent::Down => log.down(),
            EventsIntent::Top => {
                log.follow = false;
                log.selected = 0;
            }
            EventsIntent::Bottom => {
                log.follow = true;
                log.selected = log.shown.len().saturating_sub(1);
            }
            EventsIntent::Follow => {
                log.follow = !log.follow;
                if log.follow {
                    log.selected = log.shown.len().saturating_sub(1);
                }
            }
            EventsIntent::Filter => {
                let text = log.filter.clone();
                self.input = Some(Input {
                    kind: InputKind::EventsFilter,
                    text,
                });
            }
            EventsIntent::Open => {
                let target = log.selected_line().and_then(|l| l.key.clone())?;
                self.jump_to(&target);
                self.screen = Screen::Fleet;
            }
        }
        None
    }

    /// Selects `key`'s row, clearing a filter that hides it.
    pub(super) fn jump_to(&mut self, key: &ConnectionKey) {
        let find = |app: &App| {
            (0..app.fleet.len()).find(|&p| {
                app.fleet
                    .row(p)
                    .is_some_and(|i| app.snapshot().connections[i].key == *key)
            })
        };
        if find(self).is_none() {
            self.set_filter(String::new());
        }
        if let Some(pos) = find(self) {
            self.select(pos);
        }
    }
}
