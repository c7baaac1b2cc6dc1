//! `[keys]` in config.toml merged over the fleet's default keys: an action's keys replace its
//! defaults. An unknown action, a key that cannot be read, or a key left bound to two actions
//! is an error naming the action, which the caller locates in the file (`keys.<action>`).

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::keymap::{Binding, Intent, KEYMAP};
use crate::config::KeyList;

/// The name an action has under `[keys]`.
pub fn action_name(intent: Intent) -> &'static str {
    match intent {
        Intent::Quit => "quit",
        Intent::Up => "up",
        Intent::Down => "down",
        Intent::Top => "top",
        Intent::Bottom => "bottom",
        Intent::Refresh => "refresh",
        Intent::Probe => "probe",
        Intent::Tools => "tools",
        Intent::Help => "help",
        Intent::Close => "close",
        Intent::Detail => "detail",
        Intent::Filter => "filter",
        Intent::Sort => "sort",
        Intent::Reverse => "reverse",
        Intent::Group => "group",
        Intent::Reauth => "reauth",
        Intent::Revoke => "revoke",
        Intent::Pause => "pause",
        Intent::Events => "events",
        Intent::CommandMode => "command",
    }
}

/// The fleet's keys after `[keys]`: which key does what, and how each action's keys are written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keys {
    table: Vec<((KeyCode, KeyModifiers), Intent)>,
    labels: Vec<(Intent, String)>,
}

/// Why `[keys]` cannot be used: the action (the key under `[keys]`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    pub action: String,
    pub message: String,
}

impl Keys {
    pub fn from_config(keys: &BTreeMap<String, KeyList>) -> Result<Keys, KeyError> {
        for action in keys.keys() {
            if !KEYMAP.iter().any(|b| action_name(b.intent) == action) {
                let names: Vec<&str> = KEYMAP.iter().map(|b| action_name(b.intent)).collect();
                return Err(KeyError {
                    action: action.clone(),
                    message: format!("unknown action {action:?}; actions: {}", names.join(", ")),
                });
            }
        }
        let mut out = Keys::default();
        for binding in KEYMAP {
            let name = action_name(binding.intent);
            let Some(list) = keys.get(name) else {
                out.table
                    .extend(binding.keys.iter().map(|&k| (k, binding.intent)));
                continue;
            };
            let error = |message: String| KeyError {
                action: name.to_owned(),
                message,
            };
            let written = list.keys();
            if written.is_empty() {
                return Err(error(
                    "no key given; leave the action out to keep its default".into(),
                ));
            }
            for text in &written {
                let key = parse_key(text).map_err(error)?;
                out.table.push((key, binding.intent));
            }
            out.labels.push((binding.intent, written.join("/")));
        }
        // A key bound twice would do only the first action; say which two.
        for (i, (key, intent)) in out.table.iter().enumerate() {
            if let Some((_, other)) = out.table[i + 1..].iter().find(|(k, _)| k == key) {
                let overridden = keys.contains_key(action_name(*other));
                let (action, with) = if overridden {
                    (*other, *intent)
                } else {
                    (*intent, *other)
                };
                return Err(KeyError {
                    action: action_name(action).to_owned(),
                    message: format!(
                        "{} is also bound to {}; give one of them another key",
                        describe(*key),
                        action_name(with)
                    ),
                });
            }
        }
        Ok(out)
    }

    /// The defaults alone.
    pub fn defaults() -> Keys {
        Keys::from_config(&BTreeMap::new()).unwrap_or_default()
    }

    pub fn lookup(&self, key: &KeyEvent) -> Option<Intent> {
        if self.table.is_empty() {
            return super::keymap::lookup(key);
        }
        let mods = if matches!(key.code, KeyCode::Char(_)) {
            key.modifiers - KeyModifiers::SHIFT
        } else {
            key.modifiers
        };
        self.table
            .iter()
            .find(|(k, _)| *k == (key.code, mods))
            .map(|(_, i)| *i)
    }

    /// How the binding's keys are written: the configured ones, else the table's.
    pub fn label<'a>(&'a self, binding: &Binding) -> &'a str {
        self.labels
            .iter()
            .find(|(i, _)| *i == binding.intent)
            .map_or(binding.label, |(_, l)| l.as_str())
    }
}

/// `r`, `R`, `:`, `ctrl-r`, `alt-x`, `enter`, `esc`, `space`, `tab`, `up`, `down`, `left`,
/// `right`, `home`, `end`, `pageup`, `pagedown`, `backspace`, `delete`, `f1`..`f12`.
pub fn parse_key(text: &str) -> Result<(KeyCode, KeyModifiers), String> {
    let mut mods = KeyModifiers::NONE;
    let mut rest = text;
    loop {
        let lower = rest.to_ascii_lowercase();
        let (m, len) = if lower.starts_with("ctrl-") {
            (KeyModifiers::CONTROL, 5)
        } else if lower.starts_with("alt-") {
            (KeyModifiers::ALT, 4)
        } else {
            break;
        };
        if rest.len() == len {
            break;
        }
        mods |= m;
        rest = &rest[len..];
    }
    let mut chars = rest.chars();
    let code = match (chars.next(), chars.next()) {
        (Some(c), None) => KeyCode::Char(if mods.is_empty() {
            c
        } else {
            c.to_ascii_lowercase()
        }),
        _ => match rest.to_ascii_lowercase().as_str() {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "space" => KeyCode::Char(' '),
            "tab" => KeyCode::Tab,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" | "pgup" => KeyCode::PageUp,
            "pagedown" | "pgdn" => KeyCode::PageDown,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            f if f.starts_with('f') && f.len() > 1 => match f[1..].parse::<u8>() {
                Ok(n) if (1..=12).contains(&n) => KeyCode::F(n),
                _ => return Err(format!("cannot read the key {text:?}")),
            },
            _ => {
                return Err(format!(
                    "cannot read the key {text:?}; write a character (\"r\"), a name (\"enter\", \"f5\", \"space\") or \"ctrl-\"/\"alt-\" before one"
                ));
            }
        },
    };
    Ok((code, mods))
}

fn describe((code, mods): (KeyCode, KeyModifiers)) -> String {
    let key = match code {
        KeyCode::Char(' ') => "space".to_owned(),
        KeyCode::Char(c) => format!("{c:?}"),
        other => format!("{other:?}").to_lowercase(),
    };
    let mut prefix = String::new();
    if mods.contains(KeyModifiers::CONTROL) {
        prefix.push_str("ctrl-");
    }
    if mods.contains(KeyModifiers::ALT) {
        prefix.push_str("alt-");
    }
    format!("{prefix}{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &[&str])]) -> BTreeMap<String, KeyList> {
        pairs
            .iter()
            .map(|(a, ks)| {
                let list = KeyList::Many(ks.iter().map(|k| (*k).to_owned()).collect());
                ((*a).to_owned(), list)
            })
            .collect()
    }

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn an_action_s_keys_replace_its_defaults() {
        let keys = Keys::from_config(&config(&[("refresh", &["F5", "ctrl-r"])])).expect("valid");
        assert_eq!(
            keys.lookup(&ev(KeyCode::F(5), KeyModifiers::NONE)),
            Some(Intent::Refresh)
        );
        let ctrl_r = ev(KeyCode::Char('r'), KeyModifiers::CONTROL);
        assert_eq!(keys.lookup(&ctrl_r), Some(Intent::Refresh));
        assert_eq!(
            keys.lookup(&ev(KeyCode::Char('r'), KeyModifiers::NONE)),
            None
        );
        assert_eq!(
            keys.lookup(&ev(KeyCode::Char('p'), KeyModifiers::NONE)),
            Some(Intent::Probe)
        );
        let refresh = KEYMAP
            .iter()
            .find(|b| b.intent == Intent::Refresh)
            .expect("refresh");
        assert_eq!(keys.label(refresh), "F5/ctrl-r");
    }

    #[test]
    fn an_unknown_action_lists_the_real_ones() {
        let err = Keys::from_config(&config(&[("refersh", &["x"])])).expect_err("unknown");
        assert_eq!(err.action, "refersh");
        assert!(
            err.message.contains("actions: up, down, top"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_conflict_names_both_actions() {
        // `p` is probe's default: giving it to refresh leaves it bound twice.
        let err = Keys::from_config(&config(&[("refresh", &["p"])])).expect_err("conflict");
        assert_eq!(err.action, "refresh");
        assert!(
            err.message.contains("'p' is also bound to probe"),
            "{}",
            err.message
        );
        // Moving probe away too resolves it.
        let ok = Keys::from_config(&config(&[("refresh", &["p"]), ("probe", &["o"])]));
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn unreadable_keys_are_refused() {
        let err = Keys::from_config(&config(&[("quit", &["hyper-q"])])).expect_err("bad key");
        assert_eq!(err.action, "quit");
        assert!(
            err.message.contains("cannot read the key \"hyper-q\""),
            "{}",
            err.message
        );
        assert!(Keys::from_config(&config(&[("quit", &[])])).is_err());
        assert!(parse_key("f13").is_err());
        assert_eq!(
            parse_key("space"),
            Ok((KeyCode::Char(' '), KeyModifiers::NONE))
        );
        assert_eq!(
            parse_key("ctrl-C"),
            Ok((KeyCode::Char('c'), KeyModifiers::CONTROL))
        );
        assert_eq!(parse_key("-"), Ok((KeyCode::Char('-'), KeyModifiers::NONE)));
    }

    #[test]
    fn the_defaults_match_the_static_table() {
        let keys = Keys::defaults();
        for b in KEYMAP {
            for &(code, mods) in b.keys {
                assert_eq!(keys.lookup(&ev(code, mods)), Some(b.intent), "{}", b.label);
            }
        }
    }
}
