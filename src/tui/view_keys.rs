//! Key tables of the detail view, the events view and the console's popups (re-authorize,
//! confirm). Dispatch, hint lines and the help popup read them, as for `keymap::KEYMAP`.

use crossterm::event::{KeyCode, KeyModifiers};

use super::keymap::Binding;

const NONE: KeyModifiers = KeyModifiers::NONE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailIntent {
    Back,
    /// Between the last hour and the last day.
    Span,
    Reauth,
    Refresh,
    Probe,
    Revoke,
    Pause,
    Up,
    Down,
}

pub const DETAIL: &[Binding<DetailIntent>] = &[
    Binding {
        keys: &[(KeyCode::Esc, NONE), (KeyCode::Char('q'), NONE)],
        label: "Esc/q",
        hint: "back",
        description: "back to the fleet",
        intent: DetailIntent::Back,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('h'), NONE)],
        label: "h",
        hint: "hour/day",
        description: "charts over the last hour or the last day",
        intent: DetailIntent::Span,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('a'), NONE)],
        label: "a",
        hint: "re-auth",
        description: "re-authorize this connection",
        intent: DetailIntent::Reauth,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('r'), NONE)],
        label: "r",
        hint: "refresh",
        description: "refresh this connection's token now",
        intent: DetailIntent::Refresh,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('p'), NONE)],
        label: "p",
        hint: "probe",
        description: "probe this connection now",
        intent: DetailIntent::Probe,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('D'), NONE)],
        label: "D",
        hint: "revoke",
        description: "revoke this connection's grant (asks first)",
        intent: DetailIntent::Revoke,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Char(' '), NONE), (KeyCode::Char('P'), NONE)],
        label: "Space/P",
        hint: "pause",
        description: "pause or resume this connection",
        intent: DetailIntent::Pause,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Up, NONE), (KeyCode::Char('k'), NONE)],
        label: "↑/k",
        hint: "previous",
        description: "the previous connection",
        intent: DetailIntent::Up,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Down, NONE), (KeyCode::Char('j'), NONE)],
        label: "↓/j",
        hint: "next",
        description: "the next connection",
        intent: DetailIntent::Down,
        in_hint_bar: false,
    },
];

pub fn detail_mutates(intent: DetailIntent) -> bool {
    matches!(
        intent,
        DetailIntent::Reauth
            | DetailIntent::Refresh
            | DetailIntent::Probe
            | DetailIntent::Revoke
            | DetailIntent::Pause
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsIntent {
    Back,
    Up,
    Down,
    Top,
    Bottom,
    /// Jump to the event's connection.
    Open,
    Filter,
    /// Follow new events (stay at the bottom) or hold still.
    Follow,
}

pub const EVENTS: &[Binding<EventsIntent>] = &[
    Binding {
        keys: &[(KeyCode::Esc, NONE), (KeyCode::Char('q'), NONE)],
        label: "Esc/q",
        hint: "back",
        description: "back to the fleet (Esc clears the filter first)",
        intent: EventsIntent::Back,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Up, NONE), (KeyCode::Char('k'), NONE)],
        label: "↑/k",
        hint: "up",
        description: "the previous event (stops following)",
        intent: EventsIntent::Up,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Down, NONE), (KeyCode::Char('j'), NONE)],
        label: "↓/j",
        hint: "down",
        description: "the next event",
        intent: EventsIntent::Down,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Char('g'), NONE), (KeyCode::Home, NONE)],
        label: "g/Home",
        hint: "oldest",
        description: "the oldest event shown",
        intent: EventsIntent::Top,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Char('G'), NONE), (KeyCode::End, NONE)],
        label: "G/End",
        hint: "newest",
        description: "the newest event, and follow",
        intent: EventsIntent::Bottom,
        in_hint_bar: false,
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        hint: "connection",
        description: "open the event's connection",
        intent: EventsIntent::Open,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('/'), NONE)],
        label: "/",
        hint: "filter",
        description: "filter by connection, kind, outcome or text",
        intent: EventsIntent::Filter,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('f'), NONE)],
        label: "f",
        hint: "follow",
        description: "follow new events, or hold still",
        intent: EventsIntent::Follow,
        in_hint_bar: true,
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PopupIntent {
    Browser,
    Device,
    Yes,
    /// Close the popup; a running authorization is cancelled and its listener freed.
    Cancel,
}

/// Choosing how to re-authorize.
pub const REAUTH_CHOOSE: &[Binding<PopupIntent>] = &[
    Binding {
        keys: &[(KeyCode::Char('b'), NONE), (KeyCode::Enter, NONE)],
        label: "b/Enter",
        hint: "browser",
        description: "log in with a browser (the URL is shown to copy too)",
        intent: PopupIntent::Browser,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('d'), NONE)],
        label: "d",
        hint: "device code",
        description: "enter a code on another device (QR code shown)",
        intent: PopupIntent::Device,
        in_hint_bar: true,
    },
    CANCEL,
];

/// While an authorization runs, and after it ended.
pub const REAUTH_RUNNING: &[Binding<PopupIntent>] = &[CANCEL];

pub const CONFIRM: &[Binding<PopupIntent>] = &[
    Binding {
        keys: &[(KeyCode::Char('y'), NONE)],
        label: "y",
        hint: "yes",
        description: "go ahead",
        intent: PopupIntent::Yes,
        in_hint_bar: true,
    },
    Binding {
        keys: &[(KeyCode::Char('n'), NONE), (KeyCode::Esc, NONE)],
        label: "n/Esc",
        hint: "no",
        description: "leave it as it is",
        intent: PopupIntent::Cancel,
        in_hint_bar: true,
    },
];

const CANCEL: Binding<PopupIntent> = Binding {
    keys: &[(KeyCode::Esc, NONE)],
    label: "Esc",
    hint: "cancel/close",
    description: "cancel (frees the login listener), or close when done",
    intent: PopupIntent::Cancel,
    in_hint_bar: true,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn unique<I>(table: &[Binding<I>]) {
        let all: Vec<_> = table.iter().flat_map(|b| b.keys.iter()).collect();
        for (i, k) in all.iter().enumerate() {
            assert!(!all[i + 1..].contains(k), "{k:?} bound twice");
        }
    }

    #[test]
    fn no_key_is_bound_twice_in_a_table() {
        unique(DETAIL);
        unique(EVENTS);
        unique(REAUTH_CHOOSE);
        unique(REAUTH_RUNNING);
        unique(CONFIRM);
    }
}
