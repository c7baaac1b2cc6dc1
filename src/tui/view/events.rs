//! The fleet's event log: stored lines, then the live feed, newest at the bottom.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, List, ListItem, ListState, Paragraph};

use super::cells::fmt_ms;
use super::dashboard::scroll_offset;
use crate::domain::UnixMs;
use crate::text::printable;
use crate::tui::app::App;
use crate::tui::log::{EventsLog, LogLine};
use crate::tui::theme::Theme;

/// "14:03:07" in UTC: the log spans hours, not days, on screen.
pub fn clock(at: UnixMs) -> String {
    let s = at.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

pub fn log_line(l: &LogLine, with_key: bool, theme: &Theme) -> Line<'static> {
    let outcome_style = if l.ok() { theme.ok } else { theme.down };
    let mut spans = vec![Span::styled(format!("{} ", clock(l.at)), theme.muted)];
    if with_key {
        let key = l.key.as_ref().map_or("—".to_owned(), ToString::to_string);
        spans.push(Span::raw(format!("{key:<20} ")));
    }
    spans.push(Span::styled(format!("{:<12} ", l.kind), theme.accent));
    if !l.outcome.is_empty() {
        spans.push(Span::styled(format!("{:<9} ", l.outcome), outcome_style));
    }
    if let Some(ms) = l.latency_ms {
        spans.push(Span::raw(format!("{:>8} ", fmt_ms(ms))));
    }
    spans.push(Span::styled(format!("{} ", l.actor), theme.muted));
    if let Some(m) = &l.message {
        spans.push(Span::raw(printable(m, false)));
    }
    Line::from(spans)
}

pub fn render(frame: &mut Frame, area: Rect, _app: &App, log: &EventsLog, theme: &Theme) {
    let follow = if log.follow { "following" } else { "paused" };
    let filter = if log.filter.is_empty() {
        String::new()
    } else {
        format!(", filter: {}", printable(&log.filter, false))
    };
    let title = format!(" events ({} shown, {follow}{filter}) ", log.shown.len());
    let block = Block::bordered()
        .border_style(theme.border)
        .title(Span::styled(title, theme.header));
    if !log.loaded && log.shown.is_empty() {
        frame.render_widget(
            Paragraph::new("reading the event log…")
                .style(theme.muted)
                .block(block),
            area,
        );
        return;
    }
    if let Some(e) = &log.error
        && log.shown.is_empty()
    {
        let text = format!("the stored log could not be read: {}", printable(e, false));
        frame.render_widget(Paragraph::new(text).style(theme.muted).block(block), area);
        return;
    }
    // Only the lines in the window are built.
    let height = usize::from(area.height.saturating_sub(2));
    let offset = scroll_offset(log.selected, height);
    let end = (offset + height).min(log.shown.len());
    let items: Vec<ListItem> = log.shown[offset..end]
        .iter()
        .filter_map(|&i| log.lines.get(i))
        .map(|l| ListItem::new(log_line(l, true, theme)))
        .collect();
    let list = List::new(items)
        .block(block)
        .highlight_style(theme.selected);
    let mut state = ListState::default()
        .with_selected((!log.shown.is_empty()).then(|| log.selected.saturating_sub(offset)));
    frame.render_stateful_widget(list, area, &mut state);
}
