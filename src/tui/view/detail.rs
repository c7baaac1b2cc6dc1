//! One connection in full: token, schedule, windows, probe charts, refreshes, recent events.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Sparkline, Wrap};

use super::cells::fmt_ms;
use super::events::log_line;
use super::pane::{figures, summary};
use crate::domain::history::{Kind, Span as Window};
use crate::domain::{ConnectionView, UnixMs, format_duration_ms};
use crate::tui::app::App;
use crate::tui::log::LogLine;
use crate::tui::theme::Theme;
use crate::tui::views::Detail;

pub fn render(frame: &mut Frame, area: Rect, app: &App, d: &Detail, theme: &Theme, now: UnixMs) {
    // The detail's connection is the selection; a linear search would cost a frame its speed.
    let conn = app.selected_row().filter(|c| c.key == d.key);
    let Some(conn) = conn.or_else(|| app.snapshot().get(&d.key)) else {
        let gone = Paragraph::new(format!(
            "{} is no longer in the fleet; Esc goes back",
            d.key
        ))
        .style(theme.muted)
        .block(Block::bordered().border_style(theme.border));
        frame.render_widget(gone, area);
        return;
    };
    let tall = area.height >= 30;
    let [top, charts, bottom] = Layout::vertical([
        Constraint::Length(if tall { 12 } else { 9 }),
        Constraint::Length(if tall { 9 } else { 6 }),
        Constraint::Fill(1),
    ])
    .areas(area);
    let [info, windows] = if area.width >= 110 {
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(58)]).areas(top)
    } else {
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(0)]).areas(top)
    };
    let mut lines = summary(conn, app.is_read_only(), theme, now);
    lines.insert(1, token_line(conn, now));
    let block = Block::bordered()
        .border_style(theme.border)
        .title(Span::styled(format!(" {} ", d.key), theme.header));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        info,
    );
    if windows.width > 0 {
        render_windows(frame, windows, conn, theme);
    }
    render_charts(frame, charts, d, theme, now);
    let [refreshes, recent] = if bottom.width >= 100 {
        Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(bottom)
    } else {
        Layout::horizontal([Constraint::Percentage(0), Constraint::Percentage(100)]).areas(bottom)
    };
    if refreshes.width > 0 {
        render_refreshes(frame, refreshes, d, theme);
    }
    render_recent(frame, recent, d, theme);
}

fn token_line(conn: &ConnectionView, now: UnixMs) -> Line<'static> {
    let Some(t) = &conn.token else {
        return Line::raw("token        none stored");
    };
    let issued = t.issued_at.map_or("issued —".to_owned(), |at| {
        format!(
            "issued {} ago",
            format_duration_ms((now - at).max(0) as u64)
        )
    });
    let scopes = if t.scopes.is_empty() {
        "no scopes".to_owned()
    } else {
        t.scopes.join(" ")
    };
    let refresh = if t.has_refresh_token {
        "refresh token"
    } else {
        "no refresh token"
    };
    Line::raw(format!(
        "grant        {scopes} · {issued} · {refresh} · rotated {}×",
        conn.refresh_count
    ))
}

fn render_windows(frame: &mut Frame, area: Rect, conn: &ConnectionView, theme: &Theme) {
    let block = Block::bordered()
        .border_style(theme.border)
        .title(Span::styled(" windows ", theme.header));
    let mut lines = Vec::new();
    match &conn.history {
        None => lines.push(Line::styled("no history read yet", theme.muted)),
        Some(h) => {
            for kind in Kind::ALL {
                lines.push(Line::styled(kind.as_str().replace('_', " "), theme.accent));
                for span in [Window::FiveMinutes, Window::Hour, Window::Day, Window::Week] {
                    if span == Window::FiveMinutes && kind != Kind::Probe {
                        continue;
                    }
                    let f = h.windows(kind).get(span);
                    lines.push(Line::from(vec![
                        Span::styled(format!(" {:>3} ", span.label()), theme.muted),
                        Span::raw(figures(f)),
                    ]));
                }
            }
        }
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// Probe latency (max per bucket) and success (share of ok probes per bucket) over the span,
/// one bucket per column.
fn render_charts(frame: &mut Frame, area: Rect, d: &Detail, theme: &Theme, now: UnixMs) {
    let span_ms: i64 = if d.day { 24 * 3_600_000 } else { 3_600_000 };
    let label = if d.day { "last 24h" } else { "last hour" };
    let [latency, success] =
        Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(area);
    let probes: &[LogLine] = match &d.probes {
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            let text = format!(
                "probe history unavailable: {}",
                crate::text::printable(e, false)
            );
            let block = Block::bordered().border_style(theme.border);
            frame.render_widget(Paragraph::new(text).style(theme.muted).block(block), area);
            return;
        }
        None => &[],
    };
    let width = usize::from(latency.width.saturating_sub(2)).max(1);
    let start = now - span_ms;
    let bucket = |at: UnixMs| -> Option<usize> {
        let i = (at - start) * width as i64 / span_ms;
        usize::try_from(i).ok().filter(|&i| i < width)
    };
    let mut lat = vec![0u64; width];
    let mut ok = vec![(0u64, 0u64); width];
    for p in probes {
        if let Some(i) = bucket(p.at) {
            lat[i] = lat[i].max(p.latency_ms.unwrap_or(0));
            ok[i].1 += 1;
            ok[i].0 += u64::from(p.ok());
        }
    }
    let max = lat.iter().copied().max().unwrap_or(0);
    let rate: Vec<u64> = ok
        .iter()
        .map(|&(good, all)| (good * 100).checked_div(all).unwrap_or(0))
        .collect();
    let title = format!(
        " probe latency, {label} (max {}, {} probes; h: hour/day) ",
        fmt_ms(max),
        probes.len()
    );
    let lat_chart = Sparkline::default()
        .block(
            Block::bordered()
                .border_style(theme.border)
                .title(Span::styled(title, theme.header)),
        )
        .data(&lat)
        .style(theme.accent);
    frame.render_widget(lat_chart, latency);
    let rate_chart = Sparkline::default()
        .block(
            Block::bordered()
                .border_style(theme.border)
                .title(Span::styled(
                    format!(" probe success, {label} "),
                    theme.header,
                )),
        )
        .data(&rate)
        .max(100)
        .style(theme.ok);
    frame.render_widget(rate_chart, success);
}

fn render_refreshes(frame: &mut Frame, area: Rect, d: &Detail, theme: &Theme) {
    let block = Block::bordered()
        .border_style(theme.border)
        .title(Span::styled(" last refreshes ", theme.header));
    let lines: Vec<Line> = match &d.recent {
        None => vec![Line::styled("reading the event log…", theme.muted)],
        Some(Err(e)) => vec![Line::styled(crate::text::printable(e, false), theme.muted)],
        Some(Ok(all)) => {
            let rows: Vec<Line> = all
                .iter()
                .rev()
                .filter(|l| l.kind == "refresh")
                .take(usize::from(area.height.saturating_sub(2)))
                .map(|l| log_line(l, false, theme))
                .collect();
            if rows.is_empty() {
                vec![Line::styled("none logged", theme.muted)]
            } else {
                rows
            }
        }
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn render_recent(frame: &mut Frame, area: Rect, d: &Detail, theme: &Theme) {
    let block = Block::bordered()
        .border_style(theme.border)
        .title(Span::styled(" recent events ", theme.header));
    let lines: Vec<Line> = match &d.recent {
        None => vec![Line::styled("reading the event log…", theme.muted)],
        Some(Err(e)) => vec![Line::styled(crate::text::printable(e, false), theme.muted)],
        Some(Ok(all)) if all.is_empty() => vec![Line::styled("none logged", theme.muted)],
        Some(Ok(all)) => all
            .iter()
            .rev()
            .take(usize::from(area.height.saturating_sub(2)))
            .map(|l| log_line(l, false, theme))
            .collect(),
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
