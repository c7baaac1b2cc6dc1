//! The key table of the tool panel's past calls (`h` on the tool list).

use crossterm::event::{KeyCode, KeyModifiers};

use crate::tui::keymap::Binding;
use crate::tui::panel_keys::PanelIntent;

const NONE: KeyModifiers = KeyModifiers::NONE;

/// The connection's past calls, newest first.
pub const HISTORY: &[Binding<PanelIntent>] = &[
    Binding {
        keys: &[(KeyCode::Up, NONE), (KeyCode::Char('k'), NONE)],
        label: "↑/k",
        hint: "up",
        description: "the newer call",
        intent: PanelIntent::Up,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Down, NONE), (KeyCode::Char('j'), NONE)],
        label: "↓/j",
        hint: "down",
        description: "the older call",
        intent: PanelIntent::Down,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        hint: "run again",
        description: "call the tool again with the same arguments",
        intent: PanelIntent::Rerun,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('e'), NONE)],
        label: "e",
        hint: "edit",
        description: "open the call's arguments in the editor",
        intent: PanelIntent::EditPast,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('y'), NONE)],
        label: "y",
        hint: "copy command",
        description: "copy the call's `switchboard call` line (and show it)",
        intent: PanelIntent::Copy,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        hint: "back",
        description: "back to the tool list",
        intent: PanelIntent::Back,
        in_hint_bar: true,
    },
];
