//! Text a server sent, made safe for a terminal. Tool names, descriptions, error messages and
//! results come from servers; printed raw, an escape sequence in any of them could recolour or
//! rewrite the screen, fake a prompt, or set the window title. Printed through [`printable`]
//! they are shown, never interpreted. ratatui alone is not enough: it drops control characters
//! silently, so the operator would see `[31m` with no hint that the server sent an escape.

/// Lower-case hex of `bytes` (digests and signatures).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// `text` with every control character replaced by a visible stand-in: C0 controls and DEL by
/// their Unicode control pictures (`␛` for ESC, `␇` for BEL), C1 controls (which some terminals
/// obey as escapes) by `\u{9b}`-style escapes. `keep_newlines` keeps `\n` for multi-line text;
/// otherwise newlines become spaces so one field stays on one line. Tabs are always spaces.
pub fn printable(text: &str, keep_newlines: bool) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\t' | '\n' => out.push(' '),
            // A CRLF line ending reads as one newline, not a newline plus a stand-in.
            '\r' if keep_newlines => {}
            c @ '\u{0}'..='\u{1f}' => {
                out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{FFFD}'))
            }
            '\u{7f}' => out.push('\u{2421}'),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `&`, `<`, `>`, `"`, `'` made inert, for a value a web page echoes (the loopback callback's
/// page, the lab's consent pages): what came from a request is shown as text only.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible_and_nothing_else_changes() {
        assert_eq!(printable("plain — ünïcode", false), "plain — ünïcode");
        assert_eq!(printable("\u{1b}[31mred\u{7}", false), "␛[31mred␇");
        assert_eq!(printable("a\u{7f}b\u{9b}2J", false), "a␡b\\u{9b}2J");
        assert_eq!(printable("one\ntwo\tx", false), "one two x");
        assert_eq!(printable("one\r\ntwo\tx", true), "one\ntwo x");
        assert_eq!(printable("\u{0}", true), "␀");
        for c in (0u32..0x110000).filter_map(char::from_u32) {
            let shown = printable(&c.to_string(), true);
            assert!(
                shown.chars().all(|s| !s.is_control() || s == '\n'),
                "{c:?} -> {shown:?}"
            );
        }
    }
}
