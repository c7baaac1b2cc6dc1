//! The argument editor: a heading, a bordered box holding the text with the terminal's own
//! cursor in it, and the problems of the last attempt to send underneath.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::columns::text_width;
use crate::text::printable;
use crate::tui::editor::Editor;
use crate::tui::theme::Theme;

/// Text rows the box grows to before it scrolls; the result of the call needs the room more.
const MAX_ROWS: u16 = 12;

/// What the editor is for: a title above the box, and notes under it (what every field
/// means: the template holds only some of them).
pub struct Heading {
    pub title: String,
    pub notes: Vec<String>,
}

impl Heading {
    /// A tool's arguments, with the summary of all of them.
    pub fn arguments(tool: &str, summary: &str) -> Self {
        let summary = match summary {
            "" => "args: (none)".to_owned(),
            args => format!("args: {args}"),
        };
        Heading {
            title: format!("{tool} arguments (JSON):"),
            notes: vec![summary],
        }
    }
}

/// The live check under the box: a tick, or the first problems of the text as it stands.
pub fn live_notes(live: &[String]) -> Vec<String> {
    const SHOWN: usize = 3;
    if live.is_empty() {
        return vec!["✓ the arguments match the schema".into()];
    }
    let mut notes: Vec<String> = live
        .iter()
        .take(SHOWN)
        .map(|p| format!("✗ {}", printable(p, false)))
        .collect();
    if live.len() > SHOWN {
        notes.push(format!("✗ … and {} more", live.len() - SHOWN));
    }
    notes
}

pub fn render(
    frame: &mut Frame,
    area: Rect,
    heading: &Heading,
    editor: &Editor,
    problems: &[String],
    theme: &Theme,
) {
    // The notes and the problems wrap; count their rows so the box leaves them room.
    let wide = area.width.max(1);
    let problem_rows: u16 = problems
        .iter()
        .chain(&heading.notes)
        .map(|p| text_width(p).div_ceil(wide).max(1))
        .sum::<u16>()
        + u16::from(!problems.is_empty());
    let text_rows = u16::try_from(editor.line_count()).unwrap_or(u16::MAX);
    let room = area.height.saturating_sub(1 + problem_rows).max(3);
    let box_height = text_rows.clamp(1, MAX_ROWS).saturating_add(2).min(room);
    let [heading_area, text_box, below] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(box_height),
        Constraint::Fill(1),
    ])
    .areas(area);

    frame.render_widget(
        Span::styled(heading.title.as_str(), theme.muted),
        heading_area,
    );
    render_box(frame, text_box, editor, theme);
    let mut lines: Vec<Line> = heading
        .notes
        .iter()
        .map(|n| Line::from(Span::styled(n.as_str(), theme.muted)))
        .collect();
    if !problems.is_empty() {
        lines.push(Line::raw(""));
        lines.extend(
            problems
                .iter()
                // Schema problems name the server's properties.
                .map(|p| Line::from(Span::styled(printable(p, false), theme.flash_error))),
        );
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), below);
}

fn render_box(frame: &mut Frame, area: Rect, editor: &Editor, theme: &Theme) {
    let (row, col) = editor.position();
    let block = Block::bordered().border_style(theme.border).title_bottom(
        Line::from(Span::styled(
            format!(" {}:{} ", row + 1, col + 1),
            theme.muted,
        ))
        .right_aligned(),
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.is_empty() {
        return;
    }
    let (height, width) = (usize::from(inner.height), usize::from(inner.width));
    let (top, left) = editor.scroll(height, width);
    let lines: Vec<Line> = editor
        .visible_lines(top, left, height, width)
        .into_iter()
        .map(Line::raw)
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
    // `scroll` keeps the cursor inside the box, so these fit; the conversions only guard it.
    let x = u16::try_from(col.saturating_sub(left)).unwrap_or(0);
    let y = u16::try_from(row.saturating_sub(top)).unwrap_or(0);
    frame.set_cursor_position((inner.x.saturating_add(x), inner.y.saturating_add(y)));
}
