//! Keys to edits. Terminals report the same key differently (macOS sends Alt-←/→ as Alt-b/f,
//! some send Backspace itself as Ctrl-H, Ctrl-J arrives as a bare line feed), so an edit has
//! every spelling a developer's fingers might use. Enter, Ctrl-S and Esc are not here: what
//! they do depends on the panel around the editor.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::Edit;

pub fn edit_for(key: &KeyEvent) -> Option<Edit> {
    let m = key.modifiers;
    let ctrl = m.contains(KeyModifiers::CONTROL);
    let alt = m.contains(KeyModifiers::ALT);
    let edit = match key.code {
        // Windows reports AltGr as Ctrl+Alt: those are characters (`{` on a German layout).
        KeyCode::Char(c) if ctrl == alt => Edit::Insert(c),
        KeyCode::Char(c) if ctrl => match c {
            'a' => Edit::LineStart,
            'e' => Edit::LineEnd,
            'h' => Edit::Backspace,
            'j' => Edit::Newline,
            'k' => Edit::DeleteToLineEnd,
            'u' => Edit::DeleteToLineStart,
            'w' => Edit::DeleteWordBack,
            _ => return None,
        },
        KeyCode::Char(c) => match c {
            'b' => Edit::WordLeft,
            'f' => Edit::WordRight,
            'd' => Edit::DeleteWordForward,
            _ => return None,
        },
        // Alt-Enter is what every terminal can tell apart from Enter; Shift-Enter only reaches
        // us from terminals with the kitty protocol, and then it means the same.
        KeyCode::Enter if alt || m.contains(KeyModifiers::SHIFT) => Edit::Newline,
        KeyCode::Tab => Edit::Indent,
        KeyCode::Backspace if ctrl || alt => Edit::DeleteWordBack,
        KeyCode::Backspace => Edit::Backspace,
        KeyCode::Delete if ctrl || alt => Edit::DeleteWordForward,
        KeyCode::Delete => Edit::Delete,
        KeyCode::Left if ctrl || alt => Edit::WordLeft,
        KeyCode::Left => Edit::Left,
        KeyCode::Right if ctrl || alt => Edit::WordRight,
        KeyCode::Right => Edit::Right,
        KeyCode::Up => Edit::Up,
        KeyCode::Down => Edit::Down,
        KeyCode::Home if ctrl => Edit::Start,
        KeyCode::Home => Edit::LineStart,
        KeyCode::End if ctrl => Edit::End,
        KeyCode::End => Edit::LineEnd,
        _ => return None,
    };
    Some(edit)
}
