//! The fleet table's cells: the text of each column for one connection and the theme role
//! that colours it. Every time-dependent text is computed from the `now` passed in.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Cell;

use super::columns::{Col, truncate};
use super::dashboard::{EXPIRY_WARNING_MS, SPINNER, health_symbol};
use crate::domain::{ConnectionView, Health, UnixMs, format_duration_ms, format_expires_in};
use crate::text::printable;
use crate::tui::fleet::{display_name, needs_human, p95_ms};
use crate::tui::theme::Theme;

pub fn cell(
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

pub fn p95(conn: &ConnectionView) -> String {
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
