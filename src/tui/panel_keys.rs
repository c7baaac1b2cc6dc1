//! The tool panel's key tables, one per stage. The panel dispatches through them, its hint line
//! and its help popup are drawn from them, and `tests/keys.rs` presses every key of every table
//! to check it does what the table says. Keys a table does not name go to the argument editor
//! in the stages that have one.

use crossterm::event::{KeyCode, KeyModifiers};

use super::keymap::Binding;
pub use super::tools_panel::history_keys::HISTORY;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelIntent {
    /// Close the panel, back to the dashboard.
    Close,
    Up,
    Down,
    /// Open the argument editor on the selected tool.
    Arguments,
    /// Check the arguments and call the tool.
    Call,
    /// A line break in the editor (Enter itself sends).
    Newline,
    /// From the editor or a result, back to the tool list.
    Back,
    /// Cancel the running call (the server is told).
    Cancel,
    /// Send the edited answer to the server's request for input.
    Answer,
    Decline,
    /// Cancel the server's request: neither an answer nor a refusal.
    CancelAsk,
    Help,
    /// Between the argument form and the JSON editor.
    Switch,
    /// The previous or next choice of the form's selected row.
    Previous,
    Next,
    /// An array item, or a value for a row left out.
    Add,
    /// Remove an item, leave a row out, or null it.
    Remove,
    /// The next or previous tab: tools, resources, prompts, protocol.
    NextTab,
    PrevTab,
    /// Show or hide the selected protocol message's whole body.
    Expand,
    /// The connection's past calls.
    History,
    /// Call a past call again as it was.
    Rerun,
    /// Open a past call's arguments in the editor.
    EditPast,
    /// Copy the `switchboard call` line of the call to the clipboard (OSC 52).
    Copy,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;
const ALT: KeyModifiers = KeyModifiers::ALT;

pub const CLOSE: Binding<PanelIntent> = Binding {
    keys: &[(KeyCode::Esc, NONE)],
    label: "Esc",
    hint: "close",
    description: "close the tool panel",
    intent: PanelIntent::Close,
    in_hint_bar: true,
};

pub const HELP: Binding<PanelIntent> = Binding {
    keys: &[(KeyCode::Char('?'), NONE)],
    label: "?",
    hint: "help",
    description: "show or hide the tool panel's keys",
    intent: PanelIntent::Help,
    in_hint_bar: false,
};

/// Enter keeps sending as it always has (and Ctrl-Enter, where a terminal tells them apart,
/// means the same); Ctrl-S is for fingers used to "save" in an editor.
pub const SEND_KEYS: &[(KeyCode, KeyModifiers)] = &[
    (KeyCode::Enter, NONE),
    (KeyCode::Enter, CTRL),
    (KeyCode::Char('s'), CTRL),
];

/// Alt-Enter is what every terminal can tell apart from Enter; Shift-Enter reaches us only from
/// terminals with the kitty protocol; Ctrl-J arrives as a bare line feed.
const NEWLINE: Binding<PanelIntent> = Binding {
    keys: &[
        (KeyCode::Enter, ALT),
        (KeyCode::Enter, KeyModifiers::SHIFT),
        (KeyCode::Char('j'), CTRL),
    ],
    label: "Alt-Enter/Ctrl-J",
    hint: "newline",
    description: "break the line",
    intent: PanelIntent::Newline,
    in_hint_bar: true,
};

/// Listing the tools, or the listing failed.
pub const LOADING: &[Binding<PanelIntent>] = &[CLOSE, HELP, NEXT_TAB, PREV_TAB];

pub const NEXT_TAB: Binding<PanelIntent> = Binding {
    keys: &[(KeyCode::Tab, NONE), (KeyCode::Char('t'), NONE)],
    label: "Tab/t",
    hint: "next tab",
    description: "the next tab: tools, resources, prompts, protocol",
    intent: PanelIntent::NextTab,
    in_hint_bar: true,
};

pub const PREV_TAB: Binding<PanelIntent> = Binding {
    keys: &[
        (KeyCode::BackTab, KeyModifiers::SHIFT),
        (KeyCode::Char('T'), NONE),
    ],
    label: "Shift-Tab/T",
    hint: "previous tab",
    description: "the previous tab",
    intent: PanelIntent::PrevTab,
    in_hint_bar: false,
};

pub const LIST: &[Binding<PanelIntent>] = &[
    Binding {
        keys: &[(KeyCode::Up, NONE), (KeyCode::Char('k'), NONE)],
        label: "↑/k",
        hint: "up",
        description: "select the previous tool",
        intent: PanelIntent::Up,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Down, NONE), (KeyCode::Char('j'), NONE)],
        label: "↓/j",
        hint: "down",
        description: "select the next tool",
        intent: PanelIntent::Down,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        hint: "arguments",
        description: "edit the arguments of the selected tool",
        intent: PanelIntent::Arguments,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('h'), NONE)],
        label: "h",
        hint: "history",
        description: "this connection's past calls: run one again, edit it, copy it as a command",
        intent: PanelIntent::History,
        in_hint_bar: true,
    },
    NEXT_TAB,
    PREV_TAB,
    Binding {
        keys: &[(KeyCode::Esc, NONE), (KeyCode::Char('q'), NONE)],
        label: "Esc/q",
        ..CLOSE
    },
    HELP,
];

pub const EDIT: &[Binding<PanelIntent>] = &[
    Binding {
        keys: SEND_KEYS,
        label: "Enter/Ctrl-S",
        hint: "call",
        description: "check the arguments against the schema and call the tool",
        intent: PanelIntent::Call,
        in_hint_bar: true,
    },
    NEWLINE,
    Binding {
        keys: &[
            (KeyCode::Tab, NONE),
            (KeyCode::BackTab, KeyModifiers::SHIFT),
        ],
        label: "Tab",
        hint: "form",
        description: "edit the arguments in a form, a field per property",
        intent: PanelIntent::Switch,
        in_hint_bar: true,
    },
    COPY_EDITED,
    BACK_TO_LIST,
];

const COPY_EDITED: Binding<PanelIntent> = Binding {
    keys: &[(KeyCode::Char('y'), CTRL)],
    label: "Ctrl-Y",
    hint: "copy command",
    description: "copy the `switchboard call` line for these arguments (and show it)",
    intent: PanelIntent::Copy,
    in_hint_bar: false,
};

pub const BACK_TO_LIST: Binding<PanelIntent> = Binding {
    keys: &[(KeyCode::Esc, NONE)],
    label: "Esc",
    hint: "back",
    description: "back to the list (the arguments are kept)",
    intent: PanelIntent::Back,
    in_hint_bar: true,
};

/// The argument form. Keys it does not name edit the selected field.
pub const FORM: &[Binding<PanelIntent>] = &[
    Binding {
        keys: SEND_KEYS,
        label: "Enter/Ctrl-S",
        hint: "call",
        description: "check the arguments against the schema and call the tool",
        intent: PanelIntent::Call,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Up, NONE)],
        label: "↑",
        hint: "up",
        description: "the previous field",
        intent: PanelIntent::Up,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Down, NONE)],
        label: "↓",
        hint: "down",
        description: "the next field",
        intent: PanelIntent::Down,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Left, NONE)],
        label: "←",
        hint: "previous",
        description: "the previous choice, value or alternative of the field",
        intent: PanelIntent::Previous,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Right, NONE)],
        label: "→",
        hint: "next",
        description: "the next choice, value or alternative of the field",
        intent: PanelIntent::Next,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Char('n'), CTRL)],
        label: "Ctrl-N",
        hint: "add",
        description: "add an item to an array, or fill in a field left out",
        intent: PanelIntent::Add,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('x'), CTRL)],
        label: "Ctrl-X",
        hint: "remove",
        description: "remove an item, leave an optional field out, or set a nullable one to null",
        intent: PanelIntent::Remove,
        in_hint_bar: true,
    },
    Binding {
        keys: &[
            (KeyCode::Tab, NONE),
            (KeyCode::BackTab, KeyModifiers::SHIFT),
        ],
        label: "Tab",
        hint: "JSON",
        description: "edit the arguments as JSON",
        intent: PanelIntent::Switch,
        in_hint_bar: true,
    },
    COPY_EDITED,
    BACK_TO_LIST,
];

pub const RUNNING: &[Binding<PanelIntent>] = &[Binding {
    keys: &[(KeyCode::Esc, NONE)],
    label: "Esc",
    hint: "cancel",
    description: "cancel the call (the server is told)",
    intent: PanelIntent::Cancel,
    in_hint_bar: true,
}];

/// The server of the running call asks for input (MCP elicitation).
pub const ANSWER: &[Binding<PanelIntent>] = &[
    Binding {
        keys: SEND_KEYS,
        label: "Enter/Ctrl-S",
        hint: "answer",
        description: "check the answer against the request and send it",
        intent: PanelIntent::Answer,
        in_hint_bar: true,
    },
    NEWLINE,
    Binding {
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        hint: "decline",
        description: "decline the server's request",
        intent: PanelIntent::Decline,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('d'), CTRL)],
        label: "Ctrl-D",
        hint: "cancel",
        description: "cancel the server's request (neither answer nor refusal)",
        intent: PanelIntent::CancelAsk,
        in_hint_bar: true,
    },
];

pub const DONE: &[Binding<PanelIntent>] = &[
    Binding {
        keys: &[(KeyCode::Enter, NONE), (KeyCode::Esc, NONE)],
        label: "Enter/Esc",
        hint: "back to the list",
        description: "back to the tool list",
        intent: PanelIntent::Back,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('y'), NONE)],
        label: "y",
        hint: "copy command",
        description: "copy the `switchboard call` line of this call (and show it)",
        intent: PanelIntent::Copy,
        in_hint_bar: true,
    },
    HELP,
];

/// The panel's tables under the headings its help popup shows them with.
pub const SECTIONS: &[(&str, &[Binding<PanelIntent>])] = &[
    ("tool list", LIST),
    ("arguments (JSON)", EDIT),
    ("arguments (form)", FORM),
    ("running call", RUNNING),
    ("the server asks for input", ANSWER),
    ("result", DONE),
    ("past calls", HISTORY),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice_in_a_stage() {
        for table in [LOADING, LIST, EDIT, FORM, RUNNING, ANSWER, DONE, HISTORY] {
            let all: Vec<_> = table.iter().flat_map(|b| b.keys.iter()).collect();
            for (i, k) in all.iter().enumerate() {
                assert!(!all[i + 1..].contains(k), "{k:?} bound twice");
            }
        }
    }
}
