//! The hint bar and the help popups, drawn from the key tables.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::cells::symbol;
use crate::domain::Health;
use crate::tui::app::App;
use crate::tui::keymap::{self, Binding, KEYMAP, fleet_hints, hints};
use crate::tui::popup::Popup;
use crate::tui::theme::Theme;
use crate::tui::view_keys::{self, detail_mutates};
use crate::tui::views::Screen;

/// The keys of what has the keyboard now: a popup, the screen, or the fleet.
pub fn hint_bar(app: &App, theme: &Theme) -> Line<'static> {
    let ro = app.is_read_only();
    let owned = |pairs: Vec<(&'static str, &'static str)>| -> Vec<(String, &'static str)> {
        pairs.into_iter().map(|(l, h)| (l.to_owned(), h)).collect()
    };
    let pairs = match (app.popup(), app.screen()) {
        (Some(Popup::ChooseReauth { .. }), _) => owned(hints(view_keys::REAUTH_CHOOSE)),
        (Some(Popup::Reauth(_)), _) => owned(hints(view_keys::REAUTH_RUNNING)),
        (Some(Popup::ConfirmRevoke { .. }), _) => owned(hints(view_keys::CONFIRM)),
        (None, Screen::Fleet) => fleet_hints(ro, app.keys()),
        (None, Screen::Detail(_)) => owned(
            view_keys::DETAIL
                .iter()
                .filter(|b| b.in_hint_bar && !(ro && detail_mutates(b.intent)))
                .map(|b| (b.label, b.hint))
                .collect(),
        ),
        (None, Screen::Events(_)) => owned(hints(view_keys::EVENTS)),
    };
    let mut spans = Vec::new();
    if ro {
        spans.push(Span::styled("read-only", theme.warning));
    }
    for (label, hint) in pairs {
        if !spans.is_empty() {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(label, theme.hint_key));
        spans.push(Span::styled(format!(" {hint}"), theme.hint));
    }
    Line::from(spans)
}

/// One key table in a help popup, under its heading (none for the dashboard's own).
pub struct Section {
    pub title: &'static str,
    pub rows: Vec<(String, &'static str)>,
}

impl Section {
    pub fn of<I: Copy>(title: &'static str, table: &[Binding<I>]) -> Self {
        Section::filtered(title, table, |_| true)
    }

    fn filtered<I: Copy>(
        title: &'static str,
        table: &[Binding<I>],
        keep: impl Fn(I) -> bool,
    ) -> Self {
        Section {
            title,
            rows: table
                .iter()
                .filter(|b| keep(b.intent))
                .map(|b| (b.label.to_owned(), b.description))
                .collect(),
        }
    }
}

/// The console's help, generated from its key tables (without the actions a read-only console
/// refuses), what the health symbols mean, and where this console's config and data live.
pub fn render_dashboard_popup(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let ro = app.is_read_only();
    let mut sections = vec![Section::filtered("", KEYMAP, |i| {
        !(ro && keymap::mutates(i))
    })];
    // Below 30 rows the other screens' keys would push the legend off; their hint lines
    // show them.
    if area.height >= 40 {
        sections.push(Section::filtered("detail", view_keys::DETAIL, |i| {
            !(ro && detail_mutates(i))
        }));
        sections.push(Section::of("events", view_keys::EVENTS));
    }
    if !app.about().is_empty() {
        sections.push(Section {
            title: "to act on this fleet from another shell, paste",
            rows: Vec::new(),
        });
    }
    render_popup_with(frame, area, theme, " help ", &sections, true, app.about());
}

pub fn render_popup(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: &str,
    sections: &[Section],
    legend: bool,
) {
    render_popup_with(frame, area, theme, title, sections, legend, &[]);
}

fn render_popup_with(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: &str,
    sections: &[Section],
    legend: bool,
    about: &[String],
) {
    let key_width = sections
        .iter()
        .flat_map(|s| s.rows.iter())
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0);
    let rows: usize = sections
        .iter()
        .map(|s| s.rows.len() + usize::from(!s.title.is_empty()))
        .sum();
    let extra = about.len()
        + if legend {
            Health::ALL.len().div_ceil(3) + 1
        } else {
            0
        };
    // Too tall for the screen: the keys go in two columns, descriptions cut to fit.
    let room = usize::from(area.height.saturating_sub(2)).saturating_sub(extra);
    let columns = if rows > room && room > 0 { 2 } else { 1 };
    let cell = usize::from(area.width.saturating_sub(4)) / columns;
    let mut cells: Vec<Vec<Span>> = Vec::new();
    for section in sections {
        if !section.title.is_empty() {
            cells.push(vec![Span::styled(
                format!(" {}", section.title),
                theme.accent,
            )]);
        }
        for (label, description) in &section.rows {
            let label = format!(" {label:<key_width$}  ");
            let room = cell.saturating_sub(label.chars().count() + 1);
            let description = if columns > 1 {
                let cut = super::columns::truncate(description, room);
                format!("{cut:<room$}")
            } else {
                (*description).to_owned()
            };
            cells.push(vec![
                Span::styled(label, theme.hint_key),
                Span::raw(description),
            ]);
        }
    }
    let per_column = cells.len().div_ceil(columns);
    let mut lines: Vec<Line> = (0..per_column)
        .map(|r| {
            let spans: Vec<Span> = (0..columns)
                .filter_map(|c| cells.get(c * per_column + r))
                .flatten()
                .cloned()
                .collect();
            Line::from(spans)
        })
        .collect();
    lines.extend(about.iter().map(|l| Line::raw(format!(" {l}"))));
    if legend {
        push_legend(&mut lines, theme);
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
        .title(Span::styled(title.to_string(), theme.accent))
        .title_bottom(Line::from(Span::styled(" Esc to close ", theme.hint)).right_aligned());
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}

fn push_legend(lines: &mut Vec<Line<'_>>, theme: &Theme) {
    lines.push(Line::raw(""));
    // Rows of states: the symbols carry meaning when colour cannot (mono theme).
    for chunk in Health::ALL.chunks(3) {
        let mut spans = vec![Span::raw(" ")];
        for &health in chunk {
            spans.push(Span::styled(symbol(health, theme), theme.health(health)));
            spans.push(Span::raw(format!(" {}   ", health.label())));
        }
        lines.push(Line::from(spans));
    }
}

fn clamp_u16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}
