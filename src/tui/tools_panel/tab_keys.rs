//! Key tables of the panel's resources, prompts and protocol tabs, one per stage, read by
//! dispatch, the hint line and the help popup like the tools tab's (`panel_keys`).

use crossterm::event::{KeyCode, KeyModifiers};

use crate::tui::keymap::Binding;
use crate::tui::panel_keys::{
    BACK_TO_LIST, CLOSE, HELP, NEXT_TAB, PREV_TAB, PanelIntent, SEND_KEYS,
};

const NONE: KeyModifiers = KeyModifiers::NONE;

const UP: Binding<PanelIntent> = Binding {
    keys: &[(KeyCode::Up, NONE), (KeyCode::Char('k'), NONE)],
    label: "↑/k",
    hint: "up",
    description: "the previous entry",
    intent: PanelIntent::Up,
    in_hint_bar: false,
};

const DOWN: Binding<PanelIntent> = Binding {
    keys: &[(KeyCode::Down, NONE), (KeyCode::Char('j'), NONE)],
    label: "↓/j",
    hint: "down",
    description: "the next entry",
    intent: PanelIntent::Down,
    in_hint_bar: false,
};

const CLOSE_OR_Q: Binding<PanelIntent> = Binding {
    keys: &[(KeyCode::Esc, NONE), (KeyCode::Char('q'), NONE)],
    label: "Esc/q",
    ..CLOSE
};

/// A resource or prompt list.
pub const BROWSE: &[Binding<PanelIntent>] = &[
    UP,
    DOWN,
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        hint: "open",
        description: "read the resource, fill in the template's parameters or the prompt's arguments",
        intent: PanelIntent::Arguments,
        in_hint_bar: true,
    },
    NEXT_TAB,
    PREV_TAB,
    CLOSE_OR_Q,
    HELP,
];

/// A template's parameters or a prompt's arguments in the form. Keys not named here type.
pub const FILL: &[Binding<PanelIntent>] = &[
    Binding {
        keys: SEND_KEYS,
        label: "Enter/Ctrl-S",
        hint: "send",
        description: "read the resource the template names, or get the prompt",
        intent: PanelIntent::Call,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Up, NONE)],
        label: "↑",
        ..UP
    },
    Binding {
        keys: &[(KeyCode::Down, NONE)],
        label: "↓",
        ..DOWN
    },
    BACK_TO_LIST,
];

/// Waiting for the server, or its answer on screen.
pub const SHOWN: &[Binding<PanelIntent>] = &[
    Binding {
        description: "scroll up",
        ..UP
    },
    Binding {
        description: "scroll down",
        ..DOWN
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE), (KeyCode::Esc, NONE)],
        label: "Enter/Esc",
        hint: "back",
        description: "back to the list",
        intent: PanelIntent::Back,
        in_hint_bar: true,
    },
];

/// The protocol transcript.
pub const PROTOCOL: &[Binding<PanelIntent>] = &[
    Binding {
        description: "the previous message",
        ..UP
    },
    Binding {
        description: "the next message (the last one follows new messages)",
        ..DOWN
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        hint: "expand",
        description: "show the selected message's whole body, or only its start",
        intent: PanelIntent::Expand,
        in_hint_bar: true,
    },
    NEXT_TAB,
    PREV_TAB,
    CLOSE_OR_Q,
    HELP,
];

/// The server's log messages.
pub const LOG: &[Binding<PanelIntent>] = &[
    Binding {
        description: "scroll back through the log",
        ..UP
    },
    Binding {
        description: "scroll towards the newest message",
        ..DOWN
    },
    Binding {
        keys: &[(KeyCode::Left, NONE)],
        label: "←",
        hint: "lower level",
        description: "ask the server to log from a lower level (logging/setLevel)",
        intent: PanelIntent::Previous,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Right, NONE)],
        label: "→",
        hint: "higher level",
        description: "ask the server to log from a higher level (logging/setLevel)",
        intent: PanelIntent::Next,
        in_hint_bar: true,
    },
    NEXT_TAB,
    PREV_TAB,
    CLOSE_OR_Q,
    HELP,
];

pub const SECTIONS: &[(&str, &[Binding<PanelIntent>])] = &[
    ("resources and prompts", BROWSE),
    ("template parameters, prompt arguments", FILL),
    ("a resource or prompt", SHOWN),
    ("server log", LOG),
    ("protocol", PROTOCOL),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice_in_a_stage() {
        for table in [BROWSE, FILL, SHOWN, LOG, PROTOCOL] {
            let all: Vec<_> = table.iter().flat_map(|b| b.keys.iter()).collect();
            for (i, k) in all.iter().enumerate() {
                assert!(!all[i + 1..].contains(k), "{k:?} bound twice");
            }
        }
    }
}
