//! The fleet screen: a header of counts per health state and one table row per connection.
//! Every time-dependent text is computed from the `now` passed in, never stored.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, HighlightSpacing, Paragraph, Row, Table, TableState};

use super::cells::{cell, p95, symbol};
use super::columns::{self, Col, Ideal, text_width};
use crate::domain::{ConnectionView, Health, UnixMs, format_duration_ms};
use crate::text::printable;
use crate::tui::app::App;
use crate::tui::fleet::{Entry, Fleet, SortBy, display_name, needs_human};
use crate::tui::theme::Theme;

pub const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const HIGHLIGHT: &str = "▶ ";
/// A token this close to expiry is shown as a warning: the scheduler should already have
/// refreshed it, so something is probably stuck.
pub const EXPIRY_WARNING_MS: i64 = 60_000;

/// Distinct shapes, so states stay readable in the mono theme and for colour-blind operators.
pub fn health_symbol(health: Health) -> &'static str {
    match health {
        Health::Up => "●",
        Health::Degraded => "◐",
        Health::Down => "✗",
        Health::NeedsReauth => "▲",
        Health::AtRisk => "◆",
        Health::Unauthorized => "○",
        Health::NotConfigured => "◌",
        Health::Pending => "·",
        Health::Paused => "‖",
    }
}

pub fn render_header(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let snapshot = app.snapshot();
    let fleet = app.fleet();
    let role = if snapshot.leader {
        "leader"
    } else {
        "watching: another process leads"
    };
    // The alert channels' last delivery beside the role, in the longest form that leaves the
    // counts room: on-call staff see at a glance whether a page would get out.
    let role = alerts_forms(app.alert_channels())
        .into_iter()
        .map(|a| format!("{a} · {role}"))
        .find(|r| text_width(r) * 2 <= area.width)
        .unwrap_or_else(|| role.to_string());
    let role = role.as_str();
    let room = area.width.saturating_sub(text_width(role) + 1);
    // Richest form that fits; the bare symbols are decoded by the legend in the help popup.
    let candidates = [(true, true), (false, true), (true, false), (false, false)];
    let counts = candidates
        .iter()
        .map(|&(title, labels)| header_counts(fleet, theme, title, labels))
        .find(|line| line.width() <= usize::from(room));
    let Some(counts) = counts else {
        frame.render_widget(header_counts(fleet, theme, false, false), area);
        return;
    };
    let [left_area, right_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(text_width(role))])
            .spacing(1)
            .areas(area);
    frame.render_widget(counts, left_area);
    let right = Line::from(Span::styled(role, theme.muted)).right_aligned();
    frame.render_widget(right, right_area);
}

/// Each channel's last delivery ("alerts: hook ok, pd failed (HTTP 503) 2 queued"), then a
/// shorter tally; nothing without channels.
fn alerts_forms(channels: &[crate::domain::alert::ChannelState]) -> Vec<String> {
    if channels.is_empty() {
        return Vec::new();
    }
    let each: Vec<String> = channels
        .iter()
        .map(|c| {
            let last = match &c.last {
                None => "not used yet".to_string(),
                Some(d) if d.ok => "ok".to_string(),
                Some(d) => match d.status {
                    Some(status) => format!("failed ({status})"),
                    None => "failed".to_string(),
                },
            };
            let queued = match c.queued {
                0 => String::new(),
                n => format!(" {n} queued"),
            };
            format!(
                "{} {last}{queued}",
                crate::text::printable(&c.channel, false)
            )
        })
        .collect();
    let failed = channels
        .iter()
        .filter(|c| c.last.as_ref().is_some_and(|d| !d.ok))
        .count();
    let queued: u64 = channels.iter().map(|c| c.queued).sum();
    vec![
        format!("alerts: {}", each.join(", ")),
        format!(
            "alerts: {failed} of {} failing, {queued} queued",
            channels.len()
        ),
    ]
}

fn header_counts(fleet: &Fleet, theme: &Theme, title: bool, labels: bool) -> Line<'static> {
    let mut spans = Vec::new();
    if title {
        spans.push(Span::styled("switchboard", theme.accent));
    }
    for health in Health::ALL {
        let n = fleet.count(health);
        if n == 0 && !matches!(health, Health::Up | Health::Down) {
            continue;
        }
        if !spans.is_empty() {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(symbol(health, theme), theme.health(health)));
        let text = if labels {
            format!(" {n} {}", health.label())
        } else {
            format!(" {n}")
        };
        spans.push(Span::raw(text));
    }
    Line::from(spans)
}

/// First visible line for a window of `height` lines that shows line `selected`: the window
/// moves only when the selection would leave it. Stateless, so rendering and the mouse agree.
pub fn scroll_offset(selected: usize, height: usize) -> usize {
    if height == 0 {
        return 0;
    }
    selected.saturating_sub(height - 1)
}

pub fn render_table(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, now: UnixMs) {
    let snapshot = app.snapshot();
    let fleet = app.fleet();
    let title = if fleet.filter.is_empty() {
        format!(" connections ({}) ", snapshot.connections.len())
    } else {
        format!(
            " connections ({} of {}, filter: {}) ",
            fleet.len(),
            snapshot.connections.len(),
            printable(&fleet.filter, false)
        )
    };
    let mut block = Block::bordered()
        .border_style(theme.border)
        .title(Span::styled(title, theme.header));
    if fleet.sort != SortBy::Fleet {
        let arrow = if fleet.descending { "↓" } else { "↑" };
        let arrow = if theme.ascii {
            if fleet.descending { "v" } else { "^" }
        } else {
            arrow
        };
        block = block.title(
            Line::from(Span::styled(
                format!(" sort: {} {arrow} ", fleet.sort.label()),
                theme.muted,
            ))
            .right_aligned(),
        );
    }
    if snapshot.connections.is_empty() || fleet.is_empty() {
        let text = if snapshot.connections.is_empty() {
            "No connections configured: add one to config.toml."
        } else {
            "No connection matches the filter; Esc clears it."
        };
        let empty = Paragraph::new(text).style(theme.muted).block(block);
        frame.render_widget(empty, area);
        return;
    }
    let inner = block.inner(area);
    let plan = columns::plan(
        inner.width.saturating_sub(text_width(HIGHLIGHT)),
        &ideal(app, now),
    );
    let header =
        Row::new(plan.cols.iter().map(|(col, _)| Cell::from(col.title()))).style(theme.header);
    // Only the lines that fit are built: a frame costs the same for 10 rows or 10,000.
    let height = usize::from(inner.height.saturating_sub(1));
    let selected_line = app.selected_index().and_then(|pos| fleet.line_of(pos));
    let offset = scroll_offset(selected_line.unwrap_or(0), height);
    let entries = fleet.entries();
    let end = (offset + height).min(entries.len());
    let rows = entries[offset..end].iter().map(|entry| match entry {
        Entry::Row(i) => {
            let conn = &snapshot.connections[*i];
            let cells = plan
                .cols
                .iter()
                .map(|&(col, width)| cell(col, width, conn, plan.short_transport, theme, now));
            Row::new(cells)
        }
        Entry::Group { label, count } => Row::new([Cell::from(Line::from(Span::styled(
            format!("{label} ({count})"),
            theme.accent,
        )))]),
    });
    let widths = plan.cols.iter().map(|&(_, w)| Constraint::Length(w));
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(1)
        .row_highlight_style(theme.selected)
        .highlight_symbol(if theme.ascii { "> " } else { HIGHLIGHT })
        .highlight_spacing(HighlightSpacing::Always);
    let mut state = TableState::default().with_selected(selected_line.map(|l| l - offset));
    frame.render_stateful_widget(table, area, &mut state);
}

/// The fleet's widths, computed when its order was, with the expiry column sized for now.
fn ideal(app: &App, now: UnixMs) -> Ideal {
    let mut ideal = app.fleet().ideal;
    let any_expired = app.fleet().soonest_expiry.is_some_and(|at| at <= now);
    let widest = if any_expired {
        "expired 59m 59s ago"
    } else {
        "59m 59s"
    };
    ideal.expires = text_width(widest).max(text_width(Col::Expires.title()));
    ideal
}

/// The widths of the columns before any row: their titles, and room for a countdown and a rate.
pub const TITLE_IDEAL: Ideal = Ideal {
    health: Col::Health.title_width(),
    name: Col::Name.title_width(),
    transport: Col::Transport.title_width(),
    transport_short: Col::Transport.title_width(),
    expires: Col::Expires.title_width(),
    next: max(Col::Next.title_width(), 7), // "59m 59s"
    rate: max(Col::Rate.title_width(), 4),
    p95: Col::P95.title_width(),
    age: Col::Age.title_width(),
};

const fn max(a: u16, b: u16) -> u16 {
    if a > b { a } else { b }
}

/// What one row needs of the columns that depend on it: health, name, transport, short
/// transport, p95 (the order `fleet::Tally` keeps them in).
pub fn row_widths(c: &ConnectionView) -> [u16; 5] {
    [
        text_width(c.health.label()) + 2,
        text_width(&display_name(c)),
        text_width(c.transport.label()),
        text_width(c.transport.short_label()),
        text_width(&p95(c)),
    ]
}

/// The widths of every column over `rows` (titles included), in one pass.
pub fn measure<'a>(rows: impl Iterator<Item = &'a ConnectionView>) -> Ideal {
    let mut ideal = TITLE_IDEAL;
    for c in rows {
        let [health, name, transport, short, p95] = row_widths(c);
        ideal.health = ideal.health.max(health);
        ideal.name = ideal.name.max(name);
        ideal.transport = ideal.transport.max(transport);
        ideal.transport_short = ideal.transport_short.max(short);
        ideal.p95 = ideal.p95.max(p95);
    }
    ideal
}

/// The selected row in full, for the status line: it is where a truncated or hidden detail
/// column can still be read.
pub fn selection_summary(conn: &ConnectionView, now: UnixMs) -> String {
    let mut parts = vec![conn.key.to_string(), format!("auth {}", conn.auth)];
    if let Some(at) = conn.next_refresh_at {
        let when = at - now;
        let text = if when > 0 {
            format!("next refresh in {}", format_duration_ms(when as u64))
        } else {
            "refresh due".to_owned()
        };
        parts.push(text);
    }
    if conn.probes_1h > 0 {
        parts.push(format!("{} probes/1h", conn.probes_1h));
    }
    if needs_human(conn.health) {
        parts.push("press a to re-authorize".to_owned());
        return parts.join(" · ");
    }
    parts.extend(conn.detail.as_deref().map(|d| printable(d, false)));
    parts.extend(
        conn.last_error
            .as_ref()
            .filter(|_| conn.health != Health::Up)
            .map(|e| format!("last error {}", printable(&e.to_string(), false))),
    );
    parts.join(" · ")
}
