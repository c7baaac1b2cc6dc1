//! Rendering: pure functions of (`App`, `Theme`, `now`) onto a frame. No I/O, no clock.

mod cells;
pub mod columns;
pub mod dashboard;
mod detail;
mod editor;
mod events;
mod help;
mod mcp_tabs;
mod pane;
mod popup;
mod tools;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};

use super::app::App;
use super::theme::Theme;
use super::views::{InputKind, Screen};
use crate::domain::UnixMs;
use crate::engine::Level;

pub struct Areas {
    pub header: Rect,
    pub body: Rect,
    pub status: Rect,
    pub hints: Rect,
}

pub fn areas(area: Rect) -> Areas {
    let [header, body, status, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    Areas {
        header,
        body,
        status,
        hints,
    }
}

/// Wide screens get a side pane with the selected connection's summary, tall ones a bottom
/// pane; 80×24 keeps the whole body for the table.
/// The table is as tall as its `lines` under a bottom pane (at least 12 rows of it), so the
/// pane takes what a small fleet leaves.
pub fn fleet_areas(body: Rect, lines: usize) -> (Rect, Option<Rect>) {
    if body.width >= 160 {
        let [table, pane] =
            Layout::horizontal([Constraint::Fill(1), Constraint::Length(56)]).areas(body);
        (table, Some(pane))
    } else if body.height >= 28 {
        let wanted = u16::try_from(lines + 3).unwrap_or(u16::MAX).max(8);
        let table_height = wanted.min(body.height - 12);
        let [table, pane] =
            Layout::vertical([Constraint::Length(table_height), Constraint::Fill(1)]).areas(body);
        (table, Some(pane))
    } else {
        (body, None)
    }
}

pub fn render(frame: &mut Frame, app: &App, theme: &Theme, now: UnixMs) {
    let a = areas(frame.area());
    dashboard::render_header(frame, a.header, app, theme);
    match app.screen() {
        Screen::Fleet => {
            let (table, pane) = fleet_areas(a.body, app.fleet().entries().len());
            dashboard::render_table(frame, table, app, theme, now);
            if let Some(pane) = pane {
                pane::render(frame, pane, app, theme, now);
            }
        }
        Screen::Detail(d) => detail::render(frame, a.body, app, d, theme, now),
        Screen::Events(log) => events::render(frame, a.body, app, log, theme),
    }
    frame.render_widget(status_line(app, theme, now), a.status);
    frame.render_widget(help::hint_bar(app, theme), a.hints);
    if let Some(panel) = app.tool_panel() {
        tools::render_popup(frame, frame.area(), panel, theme);
    }
    if let Some(p) = app.popup() {
        popup::render(frame, frame.area(), p, theme, now);
    }
    if app.help_visible() {
        help::render_dashboard_popup(frame, frame.area(), app, theme);
    }
}

/// The input line while one is open; else a live flash; else the selected row in full.
fn status_line(app: &App, theme: &Theme, now: UnixMs) -> Line<'static> {
    if let Some(input) = app.input() {
        let prompt = match input.kind {
            InputKind::Filter | InputKind::EventsFilter => "/",
            InputKind::Command => ":",
        };
        let cursor = if theme.ascii { "_" } else { "▏" };
        return Line::from(vec![
            Span::styled(prompt, theme.hint_key),
            Span::raw(crate::text::printable(&input.text, false)),
            Span::styled(cursor, theme.hint_key),
        ]);
    }
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
    let selected = app.selected_row();
    match selected {
        Some(conn) => Line::from(Span::styled(
            dashboard::selection_summary(conn, now),
            theme.muted,
        )),
        None => Line::default(),
    }
}
