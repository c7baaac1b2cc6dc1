//! Draws the argument form: a row per field (indented under its parent), the selected row's
//! description, and the arguments' problems against the schema as of the last keystroke.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use super::FormState;
use crate::text::printable;
use crate::toolkit::form::{Kind, Row};
use crate::toolkit::render::one_line;
use crate::tui::theme::Theme;

/// Problems listed under the form; the rest are counted.
const SHOWN_PROBLEMS: usize = 4;

/// Everything here is the server's text (names, descriptions, enum values) or the operator's:
/// made printable before it is drawn.
pub fn render(frame: &mut Frame, area: Rect, title: &str, state: &FormState, theme: &Theme) {
    let problems = state.problems();
    let below = 2 + problems.len().min(SHOWN_PROBLEMS + 1) as u16;
    let [heading, list, info] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(below.min(area.height.saturating_sub(3))),
    ])
    .areas(area);
    frame.render_widget(Span::styled(printable(title, false), theme.muted), heading);

    let rows = state.rows();
    let height = usize::from(list.height).max(1);
    let top = state.selected().saturating_sub(height - 1);
    let label_width = rows
        .iter()
        .map(|r| 2 * r.depth + printable(&r.label, false).width() + 1)
        .max()
        .unwrap_or(0)
        .clamp(6, 28);
    let value_width = (usize::from(list.width) / 3).clamp(8, 40);
    let mut lines = Vec::new();
    for (i, row) in rows.iter().enumerate().skip(top).take(height) {
        let selected = i == state.selected();
        let bad = problems.iter().any(|p| p.pointer == row.pointer);
        let mark = match (selected, bad) {
            (true, _) => "▶ ",
            (false, true) => "✗ ",
            (false, false) => "  ",
        };
        // Indented under its parent; `one_line` trims, so the indent goes on after it.
        let indent = "  ".repeat(row.depth.min(label_width / 4));
        let label = format!(
            "{}{}",
            printable(&row.label, false),
            if row.required { "*" } else { "" }
        );
        let label = one_line(&label, label_width.saturating_sub(indent.len()));
        let name = format!("{:<label_width$}", format!("{indent}{label}"));
        let (value, value_style) = value_cell(row, theme);
        let value = one_line(&value, value_width);
        let pad = value_width.saturating_sub(value.width());
        let about = match &row.description {
            Some(d) => format!("{} · {}", row.type_label, printable(d, false)),
            None => row.type_label.clone(),
        };
        let room = usize::from(list.width).saturating_sub(label_width + value_width + 5);
        let name_style = if selected {
            theme.accent
        } else if bad {
            theme.flash_error
        } else {
            Style::default()
        };
        lines.push(Line::from(vec![
            Span::styled(mark, name_style),
            Span::styled(name, name_style),
            Span::raw(" "),
            Span::styled(value, value_style),
            Span::raw(" ".repeat(pad + 1)),
            Span::styled(one_line(&about, room.max(4)), theme.muted),
        ]));
        if selected && row.kind.typed() {
            // The terminal's cursor at the end of the text: typing goes there.
            let typed = if row.present {
                printable(&row.text, false)
            } else {
                String::new()
            };
            let x = 2 + label_width + 1 + typed.width().min(value_width);
            let y = i - top;
            let (x, y) = (u16::try_from(x).unwrap_or(0), u16::try_from(y).unwrap_or(0));
            frame.set_cursor_position((list.x.saturating_add(x), list.y.saturating_add(y)));
        }
    }
    if rows.is_empty() {
        lines.push(Line::from(Span::styled(
            "no arguments: Enter calls the tool",
            theme.muted,
        )));
    }
    frame.render_widget(Paragraph::new(lines), list);

    let mut notes = Vec::new();
    if let Some(row) = state.selected_row() {
        notes.push(Line::from(Span::styled(row_help(row), theme.muted)));
    }
    if problems.is_empty() {
        notes.push(Line::from(Span::styled(
            "✓ the arguments match the schema",
            theme.muted,
        )));
    } else {
        for p in problems.iter().take(SHOWN_PROBLEMS) {
            notes.push(Line::from(Span::styled(
                printable(&p.to_string(), false),
                theme.flash_error,
            )));
        }
        if problems.len() > SHOWN_PROBLEMS {
            let more = problems.len() - SHOWN_PROBLEMS;
            notes.push(Line::from(Span::styled(
                format!("… and {more} more"),
                theme.flash_error,
            )));
        }
    }
    frame.render_widget(Paragraph::new(notes).wrap(Wrap { trim: false }), info);
}

fn value_cell(row: &Row, theme: &Theme) -> (String, Style) {
    if !row.present {
        return ("—".into(), theme.muted);
    }
    let text = printable(&row.text, false);
    let shown = match &row.kind {
        _ if row.variants.len() > 1 => {
            let name = row.variants.get(row.variant).map_or("", String::as_str);
            format!("‹{}› {text}", printable(name, false))
        }
        Kind::Boolean => {
            let on = row.text == "true";
            format!("[{}] {text}", if on { "x" } else { " " })
        }
        Kind::Choice(_) => format!("‹{text}›"),
        Kind::String if text.is_empty() => String::new(),
        _ => text,
    };
    (shown, Style::default())
}

/// What the keys do on the selected row.
fn row_help(row: &Row) -> String {
    let mut parts = Vec::new();
    if row.variants.len() > 1 {
        parts.push("←/→ alternative");
    }
    match row.kind {
        Kind::Boolean | Kind::Choice(_) => parts.push("←/→/Space choose"),
        Kind::Array => parts.push("Ctrl-N add item"),
        Kind::Object if !row.present => parts.push("Ctrl-N fill in"),
        _ if row.kind.typed() => parts.push("type to edit, Ctrl-U clears"),
        _ => {}
    }
    if row.item {
        parts.push("Ctrl-X remove item");
    } else if !row.required && row.present {
        parts.push("Ctrl-X leave out");
    } else if row.nullable && row.present {
        parts.push("Ctrl-X null");
    }
    parts.join(" · ")
}
