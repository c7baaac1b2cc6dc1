//! The fleet screen: a header of counts per health state and one table row per connection.
//! Every time-dependent text is computed from the `now` passed in, never stored.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, HighlightSpacing, Paragraph, Row, Table, TableState};

use super::columns::{self, Col, Ideal, text_width, truncate};
use crate::domain::{
    ConnectionView, DEFAULT_ACCOUNT, Health, Snapshot, UnixMs, format_duration_ms,
    format_expires_in,
};
use crate::text::printable;
use crate::tui::app::App;
use crate::tui::theme::Theme;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const HIGHLIGHT: &str = "▶ ";
/// A token this close to expiry is shown as a warning: the scheduler should already have
/// refreshed it, so something is probably stuck.
const EXPIRY_WARNING_MS: i64 = 60_000;

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

pub fn render_header(frame: &mut Frame, area: Rect, snapshot: &Snapshot, theme: &Theme) {
    let role = if snapshot.leader {
        "leader"
    } else {
        "watching: another process leads"
    };
    let room = area.width.saturating_sub(text_width(role) + 1);
    // Richest form that fits; the bare symbols are decoded by the legend in the help popup.
    let candidates = [(true, true), (false, true), (true, false), (false, false)];
    let counts = candidates
        .iter()
        .map(|&(title, labels)| header_counts(snapshot, theme, title, labels))
        .find(|line| line.width() <= usize::from(room));
    let Some(counts) = counts else {
        frame.render_widget(header_counts(snapshot, theme, false, false), area);
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

fn header_counts(snapshot: &Snapshot, theme: &Theme, title: bool, labels: bool) -> Line<'static> {
    let mut spans = Vec::new();
    if title {
        spans.push(Span::styled("switchboard", theme.accent));
    }
    for health in Health::ALL {
        let n = snapshot.count(health);
        if n == 0 && !matches!(health, Health::Up | Health::Down) {
            continue;
        }
        if !spans.is_empty() {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(health_symbol(health), theme.health(health)));
        let text = if labels {
            format!(" {n} {}", health.label())
        } else {
            format!(" {n}")
        };
        spans.push(Span::raw(text));
    }
    Line::from(spans)
}

pub fn render_table(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, now: UnixMs) {
    let snapshot = app.snapshot();
    let title = format!(" connections ({}) ", snapshot.connections.len());
    let block = Block::bordered()
        .border_style(theme.border)
        .title(Span::styled(title, theme.header));
    if snapshot.connections.is_empty() {
        let empty = Paragraph::new("No connections configured: add one to config.toml.")
            .style(theme.muted)
            .block(block);
        frame.render_widget(empty, area);
        return;
    }
    let inner_width = block.inner(area).width;
    let plan = columns::plan(
        inner_width.saturating_sub(text_width(HIGHLIGHT)),
        &ideal(snapshot, now),
    );
    let header =
        Row::new(plan.cols.iter().map(|(col, _)| Cell::from(col.title()))).style(theme.header);
    let rows = snapshot.connections.iter().map(|conn| {
        let cells = plan
            .cols
            .iter()
            .map(|&(col, width)| cell(col, width, conn, plan.short_transport, theme, now));
        Row::new(cells)
    });
    let widths = plan.cols.iter().map(|&(_, w)| Constraint::Length(w));
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(1)
        .row_highlight_style(theme.selected)
        .highlight_symbol(HIGHLIGHT)
        .highlight_spacing(HighlightSpacing::Always);
    let mut state = TableState::default().with_selected(app.selected_index());
    frame.render_stateful_widget(table, area, &mut state);
}

fn ideal(snapshot: &Snapshot, now: UnixMs) -> Ideal {
    let max = |col: Col, f: &dyn Fn(&ConnectionView) -> String| {
        snapshot
            .connections
            .iter()
            .map(|c| text_width(&f(c)))
            .chain([text_width(col.title())])
            .max()
            .unwrap_or(0)
    };
    Ideal {
        health: max(Col::Health, &|c| health_text(c, now)),
        name: max(Col::Name, &display_name),
        transport: max(Col::Transport, &|c| c.transport.label().to_owned()),
        transport_short: max(Col::Transport, &|c| c.transport.short_label().to_owned()),
        expires: expires_width(snapshot, now),
        rate: max(Col::Rate, &|c| rate(c).0),
        latency: max(Col::Latency, &latency),
    }
}

/// Sized by the shape of the countdowns, not their current text, so columns do not shift
/// every second as "10m 00s" becomes "9m 59s".
fn expires_width(snapshot: &Snapshot, now: UnixMs) -> u16 {
    let any_expired = snapshot.connections.iter().any(|c| {
        c.token
            .as_ref()
            .and_then(|t| t.expires_at)
            .is_some_and(|at| at <= now)
    });
    let widest = if any_expired {
        "expired 59m 59s ago"
    } else {
        "59m 59s"
    };
    text_width(widest).max(text_width(Col::Expires.title()))
}

fn cell(
    col: Col,
    width: u16,
    conn: &ConnectionView,
    short_transport_names: bool,
    theme: &Theme,
    now: UnixMs,
) -> Cell<'static> {
    let fit = |s: String| truncate(&s, usize::from(width));
    match col {
        Col::Health => Cell::from(fit(health_text(conn, now))).style(theme.health(conn.health)),
        Col::Name => Cell::from(fit(display_name(conn))),
        Col::Transport if short_transport_names => {
            Cell::from(fit(conn.transport.short_label().to_owned()))
        }
        Col::Transport => Cell::from(fit(conn.transport.label().to_owned())),
        Col::Expires => {
            let (text, role) = expires(conn, now);
            Cell::from(fit(text)).style(role.style(theme))
        }
        Col::Rate => {
            let (text, role) = rate(conn);
            Cell::from(text).style(role.style(theme))
        }
        Col::Latency => Cell::from(latency(conn)),
        Col::Detail => Cell::from(detail_line(conn, usize::from(width), theme)),
    }
}

/// Which theme role colours a value; kept apart from `Style` so the text helpers stay testable
/// and theme-free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Plain,
    Muted,
    Ok,
    Warning,
    Degraded,
    Down,
}

impl Role {
    fn style(self, theme: &Theme) -> Style {
        match self {
            Role::Plain => Style::new(),
            Role::Muted => theme.muted,
            Role::Ok => theme.ok,
            Role::Warning => theme.warning,
            Role::Degraded => theme.degraded,
            Role::Down => theme.down,
        }
    }
}

fn health_text(conn: &ConnectionView, now: UnixMs) -> String {
    let symbol = if conn.busy {
        let frame = (now / 1000).rem_euclid(SPINNER.len() as i64) as usize;
        SPINNER[frame]
    } else {
        health_symbol(conn.health)
    };
    format!("{symbol} {}", conn.health.label())
}

fn display_name(conn: &ConnectionView) -> String {
    if conn.key.account == DEFAULT_ACCOUNT {
        conn.name.clone()
    } else {
        format!("{}/{}", conn.name, conn.key.account)
    }
}

fn expires(conn: &ConnectionView, now: UnixMs) -> (String, Role) {
    let Some(token) = &conn.token else {
        return ("—".to_owned(), Role::Muted);
    };
    let Some(at) = token.expires_at else {
        return ("no expiry".to_owned(), Role::Muted);
    };
    let role = match at - now {
        left if left <= 0 => Role::Down,
        left if left <= EXPIRY_WARNING_MS => Role::Warning,
        _ => Role::Plain,
    };
    (format_expires_in(at, now), role)
}

fn rate(conn: &ConnectionView) -> (String, Role) {
    match conn.success_rate_1h {
        None => ("—".to_owned(), Role::Muted),
        Some(r) => {
            // Floor, so 99.6% is not shown as a perfect 100%.
            let pct = (r.clamp(0.0, 1.0) * 100.0).floor();
            let role = match pct {
                p if p >= 95.0 => Role::Ok,
                p if p >= 80.0 => Role::Degraded,
                _ => Role::Down,
            };
            (format!("{pct:.0}%"), role)
        }
    }
}

fn latency(conn: &ConnectionView) -> String {
    match &conn.last_probe {
        None => "—".to_owned(),
        Some(p) if p.latency_ms < 1000 => format!("{} ms", p.latency_ms),
        Some(p) => format!("{:.1} s", p.latency_ms as f64 / 1000.0),
    }
}

/// Detail first (why the health is what it is), then the last error, both cut to `width`.
fn detail_line(conn: &ConnectionView, width: usize, theme: &Theme) -> Line<'static> {
    let mut spans = Vec::new();
    let mut left = width;
    // Detail and errors quote servers (an error_description, an MCP error): made printable.
    if let Some(detail) = &conn.detail {
        let text = truncate(&printable(detail, false), left);
        left = left.saturating_sub(Span::raw(&text).width());
        spans.push(Span::raw(text));
    }
    if let Some(err) = &conn.last_error {
        let sep = if spans.is_empty() { "" } else { " · " };
        let sep_width = Span::raw(sep).width();
        if left > sep_width + 3 {
            spans.push(Span::styled(sep, theme.muted));
            left -= sep_width;
            spans.push(Span::styled(
                truncate(&printable(&err.to_string(), false), left),
                theme.down,
            ));
        }
    }
    Line::from(spans)
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
    parts.extend(conn.detail.as_deref().map(|d| printable(d, false)));
    parts.extend(
        conn.last_error
            .as_ref()
            .map(|e| format!("last error {}", printable(&e.to_string(), false))),
    );
    parts.join(" · ")
}
