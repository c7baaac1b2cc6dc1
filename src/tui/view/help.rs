//! The hint bar and the help popup, both drawn from the one keymap.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::dashboard::health_symbol;
use crate::domain::Health;
use crate::tui::keymap::KEYMAP;
use crate::tui::theme::Theme;

pub fn hint_bar(theme: &Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for binding in KEYMAP.iter().filter(|b| b.in_hint_bar) {
        if !spans.is_empty() {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(binding.label, theme.hint_key));
        spans.push(Span::styled(format!(" {}", binding.hint), theme.hint));
    }
    Line::from(spans)
}

pub fn render_popup(frame: &mut Frame, area: Rect, theme: &Theme) {
    let key_width = KEYMAP
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = KEYMAP
        .iter()
        .map(|b| {
            Line::from(vec![
                Span::styled(format!(" {:<key_width$}  ", b.label), theme.hint_key),
                Span::raw(b.description),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    // Two rows of states: the symbols carry meaning when colour cannot (mono theme).
    for chunk in Health::ALL.chunks(4) {
        let mut spans = vec![Span::raw(" ")];
        for &health in chunk {
            spans.push(Span::styled(health_symbol(health), theme.health(health)));
            spans.push(Span::raw(format!(" {}   ", health.label())));
        }
        lines.push(Line::from(spans));
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
        .title(Span::styled(" help ", theme.accent))
        .title_bottom(Line::from(Span::styled(" Esc to close ", theme.hint)).right_aligned());
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}

fn clamp_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}
