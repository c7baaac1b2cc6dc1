//! The selected connection's summary beside or under the fleet table: what the row cannot fit.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::cells::{fmt_ms, symbol};
use crate::domain::history::{Figures, Windows};
use crate::domain::{ConnectionView, UnixMs, format_duration_ms, format_expires_in};
use crate::text::printable;
use crate::tui::app::App;
use crate::tui::fleet::{display_name, needs_human};
use crate::tui::theme::Theme;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, now: UnixMs) {
    let block = Block::bordered()
        .border_style(theme.border)
        .title(Span::styled(" selected ", theme.header));
    let conn = app.selected_row();
    let lines = match conn {
        Some(conn) => summary(conn, app.is_read_only(), theme, now),
        None => vec![Line::styled("nothing selected", theme.muted)],
    };
    let para = Paragraph::new(lines)
        .block(block)
        .wrap(Wrap { trim: false });
    frame.render_widget(para, area);
}

fn field(label: &str, value: String, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{label:<13}"), theme.muted),
        Span::raw(value),
    ])
}

/// "97% of 12, p50 40 ms, p95 80 ms": one window in a line.
pub fn figures(f: &Figures) -> String {
    if f.samples == 0 {
        return "no data".to_owned();
    }
    let rate = f.success_rate.map_or("—".to_owned(), |r| {
        format!("{:.0}%", (r.clamp(0.0, 1.0) * 100.0).floor())
    });
    let q = |v: Option<u32>| v.map_or("—".to_owned(), |v| fmt_ms(u64::from(v)));
    format!(
        "{rate} of {}, p50 {}, p95 {}, p99 {}",
        f.samples,
        q(f.p50_ms),
        q(f.p95_ms),
        q(f.p99_ms)
    )
}

pub fn windows_line(label: &str, w: &Windows, theme: &Theme) -> Line<'static> {
    field(label, format!("1h {}", figures(&w.hour)), theme)
}

pub fn summary(
    conn: &ConnectionView,
    read_only: bool,
    theme: &Theme,
    now: UnixMs,
) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{} {} ", symbol(conn.health, theme), conn.health.label()),
            theme.health(conn.health),
        ),
        Span::styled(display_name(conn), theme.header),
        Span::styled(format!("  {}", conn.key), theme.muted),
    ])];
    lines.push(field(
        "transport",
        format!("{} · auth {}", conn.transport.label(), conn.auth),
        theme,
    ));
    if let Some(detail) = &conn.detail {
        lines.push(field("why", printable(detail, false), theme));
    }
    if needs_human(conn.health) && !read_only {
        lines.push(Line::styled(
            "press a to re-authorize (browser or device code)",
            theme.accent,
        ));
    }
    if let Some(token) = &conn.token {
        let expires = match token.expires_at {
            None => "does not expire".to_owned(),
            Some(at) if at <= now => format_expires_in(at, now),
            Some(at) => format!("expires in {}", format_expires_in(at, now)),
        };
        lines.push(field("token", expires, theme));
    }
    let next = match (conn.next_refresh_at, &conn.next_refresh_why) {
        (Some(at), Some(why)) if at > now => format!(
            "in {} ({})",
            format_duration_ms((at - now) as u64),
            printable(why, false)
        ),
        (Some(at), None) if at > now => format!("in {}", format_duration_ms((at - now) as u64)),
        (Some(_), _) => "due".to_owned(),
        (None, _) => "—".to_owned(),
    };
    lines.push(field("next refresh", next, theme));
    if let Some(h) = &conn.history {
        lines.push(windows_line("probes", &h.probes, theme));
        lines.push(windows_line("refreshes", &h.refreshes, theme));
    }
    if let Some(at) = conn.next_probe_at.filter(|&at| at > now) {
        let wait = format_duration_ms((at - now) as u64);
        lines.push(field(
            "breaker",
            format!("open; next probe in {wait}"),
            theme,
        ));
    }
    if let Some(e) = &conn.last_error {
        let style = if conn.health == crate::domain::Health::Up {
            theme.muted
        } else {
            theme.down
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{:<13}", "last error"), theme.muted),
            Span::styled(printable(&e.to_string(), false), style),
        ]));
    }
    lines
}
