//! The fleet screen: a header of counts per health state and one table row per connection.
//! Every time-dependent text is computed from the `now` passed in, never stored.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, HighlightSpacing, Paragraph, Row, Table, TableState};

use super::columns::{self, Col, Ideal, text_width, truncate};
use crate::domain::{ConnectionView, Health, UnixMs, format_duration_ms, format_expires_in};
use crate::text::printable;
use crate::tui::app::App;
use crate::tui::fleet::{Entry, Fleet, SortBy, display_name, needs_human, p95_ms};
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

pub fn render_header(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let snapshot = app.snapshot();
    let fleet = app.fleet();
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

/// The widths of every column over `rows` (titles included): one pass, when the order changes.
pub fn measure<'a>(rows: impl Iterator<Item = &'a ConnectionView>) -> Ideal {
    let title = |c: Col| text_width(c.title());
    let mut ideal = Ideal {
        health: title(Col::Health),
        name: title(Col::Name),
        transport: title(Col::Transport),
        transport_short: title(Col::Transport),
        expires: title(Col::Expires),
        next: title(Col::Next).max(text_width("59m 59s")),
        rate: title(Col::Rate).max(4),
        p95: title(Col::P95),
        age: title(Col::Age),
    };
    for c in rows {
        ideal.health = ideal.health.max(text_width(c.health.label()) + 2);
        ideal.name = ideal.name.max(text_width(&display_name(c)));
        ideal.transport = ideal.transport.max(text_width(c.transport.label()));
        ideal.transport_short = ideal
            .transport_short
            .max(text_width(c.transport.short_label()));
        ideal.p95 = ideal.p95.max(text_width(&p95(c)));
    }
    ideal
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
        Col::Health => {
            Cell::from(fit(health_text(conn, theme, now))).style(theme.health(conn.health))
        }
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
        Col::Next => {
            let (text, role) = next_refresh(conn, now);
            Cell::from(fit(text)).style(role.style(theme))
        }
        Col::P95 => Cell::from(p95(conn)),
        Col::Age => Cell::from(fit(probe_age(conn, now))),
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

fn health_text(conn: &ConnectionView, theme: &Theme, now: UnixMs) -> String {
    let symbol = if conn.busy {
        let frame = (now / 1000).rem_euclid(SPINNER.len() as i64) as usize;
        if theme.ascii {
            ["|", "/", "-", "\\"][frame % 4]
        } else {
            SPINNER[frame]
        }
    } else {
        symbol(conn.health, theme)
    };
    format!("{symbol} {}", conn.health.label())
}

/// The state's symbol, in ASCII when the terminal cannot show the Unicode one.
pub fn symbol(health: Health, theme: &Theme) -> &'static str {
    if theme.ascii {
        ascii_symbol(health)
    } else {
        health_symbol(health)
    }
}

pub fn ascii_symbol(health: Health) -> &'static str {
    match health {
        Health::Up => "o",
        Health::Degraded => "~",
        Health::Down => "x",
        Health::NeedsReauth => "!",
        Health::AtRisk => "*",
        Health::Unauthorized => "?",
        Health::NotConfigured => "-",
        Health::Pending => ".",
        Health::Paused => "=",
    }
}

fn next_refresh(conn: &ConnectionView, now: UnixMs) -> (String, Role) {
    match conn.next_refresh_at {
        None => ("—".to_owned(), Role::Muted),
        Some(at) if at <= now => ("due".to_owned(), Role::Warning),
        Some(at) => (format_duration_ms((at - now) as u64), Role::Plain),
    }
}

fn probe_age(conn: &ConnectionView, now: UnixMs) -> String {
    match &conn.last_probe {
        None => "—".to_owned(),
        Some(p) => short_age((now - p.at).max(0) as u64),
    }
}

/// "12s", "4m", "3h", "2d": ages need no more than one unit.
fn short_age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
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

pub fn fmt_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

fn p95(conn: &ConnectionView) -> String {
    p95_ms(conn).map_or_else(|| "—".to_owned(), fmt_ms)
}

/// Detail first (why the health is what it is), then the last error, both cut to `width`. A
/// connection a human must fix says which key fixes it (the full text is in the side pane); an
/// up connection shows no old error.
fn detail_line(conn: &ConnectionView, width: usize, theme: &Theme) -> Line<'static> {
    let mut spans = Vec::new();
    let mut left = width;
    if needs_human(conn.health) {
        let text = truncate("a: re-authorize", left);
        return Line::from(Span::styled(text, theme.health(conn.health)));
    }
    // Detail and errors quote servers (an error_description, an MCP error): made printable.
    if let Some(detail) = &conn.detail {
        let text = truncate(&printable(detail, false), left);
        left = left.saturating_sub(Span::raw(&text).width());
        spans.push(Span::raw(text));
    }
    if let Some(err) = conn
        .last_error
        .as_ref()
        .filter(|_| conn.health != Health::Up)
    {
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
