//! The MCP panel's tab bar and its resources, prompts and protocol tabs. Everything shown here
//! but the headings is the server's text: made printable before it is drawn.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::engine::LOG_LEVELS;
use crate::text::printable;
use crate::toolkit::render::one_line;
use crate::tui::theme::Theme;
use crate::tui::tools_panel::{Browse, Tab, ToolPanel};

/// Lines of a message's body shown at least before Enter expands it.
const BODY_PREVIEW: usize = 12;

pub fn tab_bar(panel: &ToolPanel, theme: &Theme) -> Line<'static> {
    let c = &panel.tabs.catalogue;
    let mut spans = Vec::new();
    for (i, tab) in Tab::ALL.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" │ ", theme.muted));
        }
        let count = match tab {
            Tab::Tools => Some(panel.tools.len()),
            Tab::Resources => Some(c.resources.len() + c.resource_templates.len()),
            Tab::Prompts => Some(c.prompts.len()),
            Tab::Log | Tab::Protocol => None,
        };
        let label = match count {
            Some(n) => format!("{} ({n})", tab.title()),
            None => tab.title().to_string(),
        };
        let style = if *tab == panel.tabs.tab {
            theme.accent.add_modifier(Modifier::REVERSED)
        } else {
            theme.muted
        };
        spans.push(Span::styled(format!(" {label} "), style));
    }
    Line::from(spans)
}

pub fn render(frame: &mut Frame, area: Rect, panel: &ToolPanel, theme: &Theme) {
    let tabs = &panel.tabs;
    let width = usize::from(area.width);
    match tabs.tab {
        Tab::Resources => {
            let c = &tabs.catalogue;
            let rows: Vec<(String, String)> = c
                .resources
                .iter()
                .map(|r| (r.uri.clone(), r.name.clone()))
                .chain(
                    c.resource_templates
                        .iter()
                        .map(|t| (t.uri_template.clone(), format!("template · {}", t.name))),
                )
                .collect();
            let empty = "this server offers no resources";
            browse(
                frame,
                area,
                &tabs.resources,
                &rows,
                tabs.resource_selected,
                empty,
                theme,
                width,
            );
        }
        Tab::Prompts => {
            let rows: Vec<(String, String)> = tabs
                .catalogue
                .prompts
                .iter()
                .map(|p| {
                    let args: Vec<String> = p
                        .arguments
                        .iter()
                        .flatten()
                        .map(|a| {
                            let mark = if a.required == Some(true) { "" } else { "?" };
                            format!("{}{mark}", a.name)
                        })
                        .collect();
                    let about = p.description.clone().unwrap_or_default();
                    (p.name.clone(), format!("({}) {about}", args.join(", ")))
                })
                .collect();
            let empty = "this server offers no prompts";
            browse(
                frame,
                area,
                &tabs.prompts,
                &rows,
                tabs.prompt_selected,
                empty,
                theme,
                width,
            );
        }
        Tab::Protocol => protocol(frame, area, panel, theme),
        Tab::Log => log(frame, area, panel, theme),
        Tab::Tools => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn browse(
    frame: &mut Frame,
    area: Rect,
    stage: &Browse,
    rows: &[(String, String)],
    selected: usize,
    empty: &str,
    theme: &Theme,
    width: usize,
) {
    match stage {
        Browse::List => {
            let name_width = rows
                .iter()
                .map(|(n, _)| n.chars().count())
                .max()
                .unwrap_or(0)
                .min(width / 2);
            let mut lines: Vec<Line> = rows
                .iter()
                .enumerate()
                .map(|(i, (name, about))| {
                    let marker = if i == selected { "▶ " } else { "  " };
                    let style = if i == selected {
                        theme.accent
                    } else {
                        Style::default()
                    };
                    let name = one_line(&printable(name, false), name_width);
                    let room = width.saturating_sub(name_width + 4).max(10);
                    Line::from(vec![
                        Span::styled(format!("{marker}{name:<name_width$}  "), style),
                        Span::styled(one_line(&printable(about, false), room), theme.muted),
                    ])
                })
                .collect();
            if rows.is_empty() {
                lines.push(Line::raw(empty.to_string()));
            }
            let top = selected.saturating_sub(usize::from(area.height).saturating_sub(1));
            frame.render_widget(Paragraph::new(lines).scroll((clamp16(top), 0)), area);
        }
        Browse::Fill { subject, form } => {
            let title = format!("{} (* required):", printable(subject, false));
            crate::tui::form::render(frame, area, &title, form, theme);
        }
        Browse::Waiting(what) => frame.render_widget(
            Paragraph::new(format!("asking the server for {}…", printable(what, false))),
            area,
        ),
        Browse::Shown {
            title,
            text,
            failed,
            scroll,
        } => {
            let style = if *failed {
                theme.flash_error
            } else {
                Style::default()
            };
            let mut lines = vec![Line::from(Span::styled(
                printable(title, false),
                theme.accent,
            ))];
            lines.extend(
                text.lines()
                    .map(|l| Line::from(Span::styled(printable(l, false), style))),
            );
            frame.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .scroll((clamp16(*scroll), 0)),
                area,
            );
        }
    }
}

fn protocol(frame: &mut Frame, area: Rect, panel: &ToolPanel, theme: &Theme) {
    let p = &panel.tabs.protocol;
    if p.entries.is_empty() {
        let text = if p.followed {
            "no messages yet: this connection's session has not said anything since it opened"
        } else {
            "loading the transcript…"
        };
        frame.render_widget(Paragraph::new(text), area);
        return;
    }
    let list_rows = (area.height / 3).clamp(3, 12);
    let [list, body] =
        Layout::vertical([Constraint::Length(list_rows), Constraint::Fill(1)]).areas(area);
    let height = usize::from(list.height);
    let top = p.selected.saturating_sub(height.saturating_sub(1));
    let lines: Vec<Line> = p
        .entries
        .iter()
        .enumerate()
        .skip(top)
        .take(height)
        .map(|(i, e)| {
            let marker = if i == p.selected { "▶ " } else { "  " };
            let style = if i == p.selected {
                theme.accent
            } else {
                Style::default()
            };
            let time = clock(e.at);
            Line::from(vec![
                Span::styled(format!("{marker}{time} "), theme.muted),
                Span::styled(printable(&e.headline(), false), style),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), list);
    if let Some(e) = p.entries.get(p.selected) {
        let mut body_lines: Vec<Line> = e
            .body
            .lines()
            .map(|l| Line::raw(printable(l, false)))
            .collect();
        let total = body_lines.len();
        // As much as fits, and at least a few lines on a small screen.
        let preview = usize::from(body.height).saturating_sub(2).max(BODY_PREVIEW);
        if !p.expanded && total > preview {
            body_lines.truncate(preview);
            body_lines.push(Line::from(Span::styled(
                format!("… {} more lines (Enter shows them)", total - preview),
                theme.muted,
            )));
        }
        let mut lines = vec![Line::from(Span::styled(
            format!("#{} {}", e.seq, printable(&e.headline(), false)),
            theme.accent,
        ))];
        lines.extend(body_lines);
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), body);
    }
}

fn log(frame: &mut Frame, area: Rect, panel: &ToolPanel, theme: &Theme) {
    let p = &panel.tabs.protocol;
    let level = p
        .log_level
        .map_or("the server's default", |i| LOG_LEVELS[i]);
    let [head, list] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    frame.render_widget(
        Span::styled(
            format!("level: {level} (←/→ ask the server for another)"),
            theme.muted,
        ),
        head,
    );
    let lines: Vec<Line> = p
        .entries
        .iter()
        .filter_map(|e| Some((e.at, e.log_line()?)))
        .map(|(at, l)| {
            let style = match l.level.as_str() {
                "debug" | "info" | "notice" => Style::default(),
                "warning" => theme.flash_warn,
                _ => theme.flash_error,
            };
            let logger = l
                .logger
                .map(|g| format!("{}: ", printable(&g, false)))
                .unwrap_or_default();
            Line::from(vec![
                Span::styled(format!("{} ", clock(at)), theme.muted),
                Span::styled(format!("{:<9} ", printable(&l.level, false)), style),
                Span::raw(format!("{logger}{}", printable(&l.text, false))),
            ])
        })
        .collect();
    if lines.is_empty() {
        let text = if p.followed {
            "no log messages from the server yet"
        } else {
            "loading…"
        };
        frame.render_widget(Paragraph::new(text), list);
        return;
    }
    // The newest at the bottom; ↑ scrolls back.
    let height = usize::from(list.height);
    let end = lines
        .len()
        .saturating_sub(p.log_back.min(lines.len().saturating_sub(1)));
    let start = end.saturating_sub(height);
    let shown: Vec<Line> = lines[start..end].to_vec();
    frame.render_widget(Paragraph::new(shown), list);
}

/// `HH:MM:SS.mmm` in UTC: the transcript's messages are often milliseconds apart.
fn clock(at: i64) -> String {
    let ms = at.rem_euclid(86_400_000);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

fn clamp16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}
