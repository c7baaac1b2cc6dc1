//! Command mode (`:`): `:theme NAME`, `:refresh all`, `:probe all`, `:pause NAME`,
//! `:resume NAME`, `:events`, `:connector NAME`, `:q`, with Tab completion.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{Action, App};
use super::views::{InputKind, Screen};
use crate::domain::{Actor, Snapshot, UnixMs};
use crate::engine::{Command, Level};

/// Every command word, for completion and for the error that lists them.
pub const COMMANDS: &[&str] = &[
    "connector",
    "events",
    "pause",
    "probe",
    "q",
    "refresh",
    "resume",
    "theme",
];

/// What Tab makes of `text`: the command word, then its argument (theme names, connector
/// ids, `all`), completed to the longest common prefix of what matches.
pub fn complete(text: &str, themes: &[String], snapshot: &Snapshot) -> String {
    let (word, arg) = match text.split_once(' ') {
        Some((w, a)) => (w, Some(a)),
        None => (text, None),
    };
    let Some(arg) = arg else {
        let found: Vec<&str> = COMMANDS
            .iter()
            .copied()
            .filter(|c| c.starts_with(word))
            .collect();
        return match found.as_slice() {
            [one] => format!("{one} "),
            many => common_prefix(many).unwrap_or(word).to_owned(),
        };
    };
    let mut candidates: Vec<String> = match word {
        "theme" => themes.to_vec(),
        "refresh" | "probe" => vec!["all".into()],
        "pause" | "resume" | "connector" => snapshot
            .connections
            .iter()
            .map(|c| c.key.connector.clone())
            .collect(),
        _ => vec![],
    };
    candidates.sort();
    candidates.dedup();
    let found: Vec<&str> = candidates
        .iter()
        .map(String::as_str)
        .filter(|c| c.starts_with(arg))
        .collect();
    let done = match found.as_slice() {
        [one] => (*one).to_owned(),
        many => common_prefix(many).unwrap_or(arg).to_owned(),
    };
    format!("{word} {done}")
}

fn common_prefix<'a>(words: &[&'a str]) -> Option<&'a str> {
    let first = words.first()?;
    let mut len = first.len();
    for w in &words[1..] {
        len = len.min(
            first
                .char_indices()
                .zip(w.chars())
                .take_while(|((_, a), b)| a == b)
                .count(),
        );
    }
    let end = first
        .char_indices()
        .nth(len)
        .map_or(first.len(), |(i, _)| i);
    Some(&first[..end])
}

impl App {
    /// A key while the filter or command line is open: typing edits it (a filter applies as it
    /// is typed), Enter runs a command or keeps the filter, Esc clears.
    pub(super) fn input_key(&mut self, key: KeyEvent, now: UnixMs) -> Option<Action> {
        let input = self.input.as_mut()?;
        match key.code {
            KeyCode::Esc => {
                let kind = input.kind;
                self.input = None;
                match kind {
                    InputKind::Filter => self.set_filter(String::new()),
                    InputKind::EventsFilter => {
                        if let Screen::Events(log) = &mut self.screen {
                            log.set_filter(String::new());
                        }
                    }
                    InputKind::Command => {}
                }
                return None;
            }
            KeyCode::Enter => {
                let input = self.input.take()?;
                if input.kind == InputKind::Command {
                    return self.run_command(&input.text, now);
                }
                return None;
            }
            KeyCode::Tab if input.kind == InputKind::Command => {
                input.text = super::command::complete(&input.text, &self.themes, &self.snapshot);
                return None;
            }
            KeyCode::Backspace => {
                if input.text.pop().is_none() && input.kind == InputKind::Command {
                    self.input = None;
                    return None;
                }
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                input.text.push(c)
            }
            _ => return None,
        }
        // The filter applies as it is typed.
        let (kind, text) = (input.kind, input.text.clone());
        match kind {
            InputKind::Filter => self.set_filter(text),
            InputKind::EventsFilter => {
                if let Screen::Events(log) = &mut self.screen {
                    log.set_filter(text);
                }
            }
            InputKind::Command => {}
        }
        None
    }

    pub(super) fn run_command(&mut self, text: &str, now: UnixMs) -> Option<Action> {
        let mut parts = text.split_whitespace();
        let word = parts.next().unwrap_or_default();
        let arg = parts.collect::<Vec<_>>().join(" ");
        let mutating = matches!(word, "refresh" | "probe" | "pause" | "resume");
        if self.read_only && mutating {
            self.set_flash(Level::Warn, "read-only console: no actions".into(), now);
            return None;
        }
        match (word, arg.as_str()) {
            ("q" | "quit", _) => Some(Action::Quit),
            ("theme", "") => {
                let text = format!("themes: {}", self.themes.join(", "));
                self.replace_flash(Level::Info, text, now);
                None
            }
            ("theme", name) => Some(Action::Theme(name.to_owned())),
            ("events", _) => self.open_events(now),
            ("refresh" | "probe", "all") => Some(self.all_visible(word == "refresh", now)),
            ("connector", name) if !name.is_empty() => {
                self.set_filter(name.to_owned());
                if self.fleet.is_empty() {
                    let text = format!("no connection matches {name:?}; Esc clears the filter");
                    self.replace_flash(Level::Warn, text, now);
                }
                None
            }
            ("pause" | "resume", name) if !name.is_empty() => {
                let key = self
                    .snapshot()
                    .connections
                    .iter()
                    .find(|c| c.key.connector == name || c.key.to_string() == name)
                    .map(|c| c.key.clone());
                match key {
                    Some(key) => self.set_paused(key, word == "pause", now),
                    None => {
                        self.replace_flash(Level::Warn, format!("no connection {name:?}"), now);
                        None
                    }
                }
            }
            _ => {
                let text = format!(
                    "unknown command :{text}; try :{} (Tab completes)",
                    COMMANDS.join(", :")
                );
                self.replace_flash(Level::Warn, text, now);
                None
            }
        }
    }

    /// `:refresh all` / `:probe all` over the rows the filter shows.
    fn all_visible(&mut self, refresh: bool, now: UnixMs) -> Action {
        let rows = &self.snapshot().connections;
        let keys: Vec<_> = self.fleet.rows().map(|i| rows[i].key.clone()).collect();
        let commands: Vec<Command> = keys
            .iter()
            .map(|key| {
                let key = key.clone();
                if refresh {
                    Command::Refresh {
                        key,
                        actor: Actor::Console,
                        reply: None,
                    }
                } else {
                    Command::Probe {
                        key,
                        actor: Actor::Console,
                        reply: None,
                    }
                }
            })
            .collect();
        let verb = if refresh { "refreshing" } else { "probing" };
        self.replace_flash(
            Level::Info,
            format!("{verb} {} connections…", keys.len()),
            now,
        );
        Action::Batch(commands)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_stops_at_the_first_difference() {
        assert_eq!(common_prefix(&["pause", "probe"]), Some("p"));
        assert_eq!(common_prefix(&["refresh"]), Some("refresh"));
        assert_eq!(common_prefix(&[]), None);
    }

    #[test]
    fn completes_words_then_arguments() {
        let themes = vec!["dark".to_owned(), "default".to_owned(), "mono".to_owned()];
        let snap = Snapshot::default();
        assert_eq!(complete("th", &themes, &snap), "theme ");
        assert_eq!(complete("theme m", &themes, &snap), "theme mono");
        assert_eq!(complete("theme d", &themes, &snap), "theme d");
        assert_eq!(complete("theme de", &themes, &snap), "theme default");
        assert_eq!(complete("refresh ", &themes, &snap), "refresh all");
        assert_eq!(complete("re", &themes, &snap), "re");
    }
}
