//! The hint bar and the help popups, drawn from the key tables.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::dashboard::health_symbol;
use crate::domain::Health;
use crate::tui::keymap::{Binding, KEYMAP, hints};
use crate::tui::theme::Theme;

pub fn hint_bar(theme: &Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for (label, hint) in hints(KEYMAP) {
        if !spans.is_empty() {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(label, theme.hint_key));
        spans.push(Span::styled(format!(" {hint}"), theme.hint));
    }
    Line::from(spans)
}

/// One key table in a help popup, under its heading (none for the dashboard's own).
pub struct Section {
    pub title: &'static str,
    pub rows: Vec<(&'static str, &'static str)>,
}

impl Section {
    pub fn of<I>(title: &'static str, table: &[Binding<I>]) -> Self {
        Section {
            title,
            rows: table.iter().map(|b| (b.label, b.description)).collect(),
        }
    }
}

/// The dashboard's help: its keys and what the health symbols mean.
pub fn render_dashboard_popup(frame: &mut Frame, area: Rect, theme: &Theme) {
    render_popup(
        frame,
        area,
        theme,
        " help ",
        &[Section::of("", KEYMAP)],
        true,
    );
}

pub fn render_popup(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: &str,
    sections: &[Section],
    legend: bool,
) {
    let key_width = sections
        .iter()
        .flat_map(|s| s.rows.iter())
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = Vec::new();
    for section in sections {
        if !section.title.is_empty() {
            lines.push(Line::from(Span::styled(
                format!(" {}", section.title),
                theme.accent,
            )));
        }
        for (label, description) in &section.rows {
            lines.push(Line::from(vec![
                Span::styled(format!(" {label:<key_width$}  "), theme.hint_key),
                Span::raw(*description),
            ]));
        }
    }
    if legend {
        push_legend(&mut lines, theme);
    }
    let width = lines.iter().map(Line::width).max().unwrap_or(0) + 3;
    let height = lines.len() + 2;
    let [popup] = Layout::horizontal([Constraint::Length(clamp_u16(width))])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::vertical([Constraint::Length(clamp_u16(height))])
        .flex(Flex::Center)
        .areas(popup);
    let block = Block::bordered()
        .border_style(theme.accent)
        .title(Span::styled(title.to_string(), theme.accent))
        .title_bottom(Line::from(Span::styled(" Esc to close ", theme.hint)).right_aligned());
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}

fn push_legend(lines: &mut Vec<Line<'_>>, theme: &Theme) {
    lines.push(Line::raw(""));
    // Rows of states: the symbols carry meaning when colour cannot (mono theme).
    for chunk in Health::ALL.chunks(3) {
        let mut spans = vec![Span::raw(" ")];
        for &health in chunk {
            spans.push(Span::styled(health_symbol(health), theme.health(health)));
            spans.push(Span::raw(format!(" {}   ", health.label())));
        }
        lines.push(Line::from(spans));
    }
}

fn clamp_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}
