//! Key tables: dispatch, the hint bar and the help popup all read them, so a key can never do
//! something the help does not mention (the gitui lesson). `KEYMAP` is the dashboard's; the
//! tool panel has one per stage (`tools_panel::keys`).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Quit,
    Up,
    Down,
    Top,
    Bottom,
    Refresh,
    Probe,
    Tools,
    Help,
    Close,
    /// Open the selected connection's detail view.
    Detail,
    Filter,
    /// Sort by the next column.
    Sort,
    /// Reverse the sort.
    Reverse,
    /// Group by connector, then health, then not at all.
    Group,
    Reauth,
    Revoke,
    Pause,
    Events,
    CommandMode,
}

/// Whether the intent changes something: `--read-only` hides and refuses these.
pub fn mutates(intent: Intent) -> bool {
    matches!(
        intent,
        Intent::Refresh | Intent::Probe | Intent::Reauth | Intent::Revoke | Intent::Pause
    )
}

pub struct Binding<I: 'static = Intent> {
    pub keys: &'static [(KeyCode, KeyModifiers)],
    /// How the keys are written in the hint bar and help.
    pub label: &'static str,
    /// Short word for the hint bar.
    pub hint: &'static str,
    pub description: &'static str,
    pub intent: I,
    /// Shown in the always-visible hint bar; the rest live in the help popup only.
    pub in_hint_bar: bool,
}

const NONE: KeyModifiers = KeyModifiers::NONE;

pub const KEYMAP: &[Binding] = &[
    Binding {
        keys: &[(KeyCode::Up, NONE), (KeyCode::Char('k'), NONE)],
        label: "↑/k",
        hint: "up",
        description: "select the previous connection",
        intent: Intent::Up,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Down, NONE), (KeyCode::Char('j'), NONE)],
        label: "↓/j",
        hint: "down",
        description: "select the next connection",
        intent: Intent::Down,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Char('g'), NONE), (KeyCode::Home, NONE)],
        label: "g/Home",
        hint: "top",
        description: "select the first connection",
        intent: Intent::Top,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Char('G'), NONE), (KeyCode::End, NONE)],
        label: "G/End",
        hint: "bottom",
        description: "select the last connection",
        intent: Intent::Bottom,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Char('r'), NONE)],
        label: "r",
        hint: "refresh",
        description: "refresh the selected connection's token now",
        intent: Intent::Refresh,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('p'), NONE)],
        label: "p",
        hint: "probe",
        description: "probe the selected connection now",
        intent: Intent::Probe,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        hint: "detail",
        description: "open the selected connection's detail",
        intent: Intent::Detail,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('a'), NONE)],
        label: "a",
        hint: "re-auth",
        description: "re-authorize the selected connection (browser or device code)",
        intent: Intent::Reauth,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('D'), NONE)],
        label: "D",
        hint: "revoke",
        description: "revoke the selected connection's grant (asks first)",
        intent: Intent::Revoke,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Char(' '), NONE), (KeyCode::Char('P'), NONE)],
        label: "Space/P",
        hint: "pause",
        description: "pause or resume the selected connection",
        intent: Intent::Pause,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Char('/'), NONE)],
        label: "/",
        hint: "filter",
        description: "filter by name, connector, state or error text (Esc clears)",
        intent: Intent::Filter,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('s'), NONE)],
        label: "s",
        hint: "sort",
        description: "sort by the next column",
        intent: Intent::Sort,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Char('S'), NONE)],
        label: "S",
        hint: "reverse",
        description: "reverse the sort",
        intent: Intent::Reverse,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Char('z'), NONE)],
        label: "z",
        hint: "group",
        description: "group by connector, by health, or not at all",
        intent: Intent::Group,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Char('e'), NONE)],
        label: "e",
        hint: "events",
        description: "the fleet's event log",
        intent: Intent::Events,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char(':'), NONE)],
        label: ":",
        hint: "command",
        description: "command mode (:theme, :refresh all, :pause, :events, :connector, :q)",
        intent: Intent::CommandMode,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Char('t'), NONE)],
        label: "t",
        hint: "tools",
        description: "call a tool of the selected MCP connection",
        intent: Intent::Tools,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('?'), NONE)],
        label: "?",
        hint: "help",
        description: "show or hide this help",
        intent: Intent::Help,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        hint: "close",
        description: "close the popup, clear the filter, or clear the message",
        intent: Intent::Close,
        in_hint_bar: false,
    },
    Binding {
        keys: &[
            (KeyCode::Char('q'), NONE),
            (KeyCode::Char('c'), KeyModifiers::CONTROL),
        ],
        label: "q",
        hint: "quit",
        description: "quit (also Ctrl-C)",
        intent: Intent::Quit,
        in_hint_bar: true,
    },
];

pub fn lookup(key: &KeyEvent) -> Option<Intent> {
    lookup_in(KEYMAP, key)
}

/// The intent `key` has in `table`.
pub fn lookup_in<I: Copy>(table: &[Binding<I>], key: &KeyEvent) -> Option<I> {
    // Terminals disagree on whether `G` or `?` carry SHIFT; the character already says it.
    let mods = if matches!(key.code, KeyCode::Char(_)) {
        key.modifiers - KeyModifiers::SHIFT
    } else {
        key.modifiers
    };
    table
        .iter()
        .find(|b| {
            b.keys
                .iter()
                .any(|&(code, m)| code == key.code && m == mods)
        })
        .map(|b| b.intent)
}

/// The hint bar's text for a table: `label hint` for each binding shown there.
pub fn hints<I>(table: &[Binding<I>]) -> Vec<(&'static str, &'static str)> {
    table
        .iter()
        .filter(|b| b.in_hint_bar)
        .map(|b| (b.label, b.hint))
        .collect()
}

/// The dashboard's hints as `keys` writes them, without the actions a read-only console
/// refuses.
pub fn fleet_hints(read_only: bool, keys: &super::key_config::Keys) -> Vec<(String, &'static str)> {
    KEYMAP
        .iter()
        .filter(|b| b.in_hint_bar && !(read_only && mutates(b.intent)))
        .map(|b| (keys.label(b).to_owned(), b.hint))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifted_letters_match_with_or_without_shift_flag() {
        let plain = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::NONE);
        let shifted = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(lookup(&plain), Some(Intent::Bottom));
        assert_eq!(lookup(&shifted), Some(Intent::Bottom));
    }

    #[test]
    fn ctrl_c_quits_but_plain_c_does_nothing() {
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(lookup(&ctrl_c), Some(Intent::Quit));
        let c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::NONE);
        assert_eq!(lookup(&c), None);
    }

    #[test]
    fn no_key_is_bound_twice() {
        let all: Vec<_> = KEYMAP.iter().flat_map(|b| b.keys.iter()).collect();
        for (i, k) in all.iter().enumerate() {
            assert!(!all[i + 1..].contains(k), "{k:?} bound twice");
        }
    }
}
