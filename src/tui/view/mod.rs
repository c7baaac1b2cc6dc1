//! Rendering: pure functions of (`App`, `Theme`, `now`) onto a frame. No I/O, no clock.

mod columns;
pub mod dashboard;
mod editor;
mod help;
mod mcp_tabs;
mod tools;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};

use super::app::App;
use super::theme::Theme;
use crate::domain::UnixMs;
use crate::engine::Level;

pub fn render(frame: &mut Frame, app: &App, theme: &Theme, now: UnixMs) {
    let [header, table, status, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());

    dashboard::render_header(frame, header, app.snapshot(), theme);
    dashboard::render_table(frame, table, app, theme, now);
    frame.render_widget(status_line(app, theme, now), status);
    frame.render_widget(help::hint_bar(theme), hints);
    if let Some(panel) = app.tool_panel() {
        tools::render_popup(frame, frame.area(), panel, theme);
    }
    if app.help_visible() {
        help::render_dashboard_popup(frame, frame.area(), theme);
    }
}

/// A live flash wins; otherwise the selected row in full.
fn status_line(app: &App, theme: &Theme, now: UnixMs) -> Line<'static> {
    if let Some(flash) = app.flash(now) {
        let style = match flash.level {
            Level::Info => theme.flash_info,
            Level::Warn => theme.flash_warn,
            Level::Error => theme.flash_error,
        };
        // Flashes carry failures, which quote servers.
        return Line::from(Span::styled(
            crate::text::printable(&flash.text, false),
            style,
        ));
    }
    let selected = app.selected_key().and_then(|k| app.snapshot().get(k));
    match selected {
        Some(conn) => Line::from(Span::styled(
            dashboard::selection_summary(conn, now),
            theme.muted,
        )),
        None => Line::default(),
    }
}
