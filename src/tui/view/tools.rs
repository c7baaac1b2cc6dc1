//! The tool panel popup: one stage at a time (list, argument editor, running, result).

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::{editor, help, mcp_tabs};
use crate::text::printable;
use crate::toolkit::render::{argument_summary, one_line};
use crate::tui::keymap;
use crate::tui::panel_keys;
use crate::tui::theme::Theme;
use crate::tui::tools_panel::{Stage, Tab, ToolPanel, tab_keys};

pub fn render_popup(frame: &mut Frame, area: Rect, panel: &ToolPanel, theme: &Theme) {
    let [popup] = Layout::horizontal([Constraint::Percentage(90)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::vertical([Constraint::Percentage(80)])
        .flex(Flex::Center)
        .areas(popup);
    let width = usize::from(popup.width.saturating_sub(4));
    let block = Block::bordered()
        .border_style(theme.accent)
        .title(Span::styled(format!(" MCP · {} ", panel.key), theme.accent))
        .title_bottom(
            Line::from(Span::styled(format!(" {} ", hint(panel)), theme.hint)).right_aligned(),
        );
    let inner = block.inner(popup);
    frame.render_widget(Clear, popup);
    frame.render_widget(block, popup);
    let [bar, inner] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);
    frame.render_widget(mcp_tabs::tab_bar(panel, theme), bar);
    if panel.tabs.tab != Tab::Tools {
        mcp_tabs::render(frame, inner, panel, theme);
        help_popup(frame, area, panel, theme);
        return;
    }
    if let Stage::Edit {
        tool,
        editor,
        problems,
        form,
        live,
    } = &panel.stage
    {
        let tool = panel.tools.get(*tool);
        let name = printable(tool.map_or("", |t| t.name.as_ref()), false);
        if let Some(form) = form {
            let title = format!("{name} arguments (form; * required):");
            crate::tui::form::render(frame, inner, &title, form, theme);
            return;
        }
        let arguments = printable(&tool.map(argument_summary).unwrap_or_default(), false);
        let mut heading = editor::Heading::arguments(&name, &arguments);
        heading.notes.extend(editor::live_notes(live));
        editor::render(frame, inner, &heading, editor, problems, theme);
        return;
    }
    if let Stage::Answer {
        request,
        editor,
        problems,
        ..
    } = &panel.stage
    {
        // Server text, shown with control characters made visible: it cannot draw on the
        // console or fake a prompt.
        let heading = editor::Heading {
            title: format!(
                "{} asks: {}",
                printable(&request.server, false),
                printable(&request.message, false)
            ),
            notes: request
                .form
                .summary()
                .iter()
                .map(|line| printable(line, false))
                .collect(),
        };
        editor::render(frame, inner, &heading, editor, problems, theme);
        return;
    }
    frame.render_widget(
        Paragraph::new(body(panel, theme, width)).wrap(Wrap { trim: false }),
        inner,
    );
    help_popup(frame, area, panel, theme);
}

fn help_popup(frame: &mut Frame, area: Rect, panel: &ToolPanel, theme: &Theme) {
    if panel.help_visible() {
        // The tab's own tables: all of them would not fit a small terminal.
        let sections: Vec<help::Section> = if panel.tabs.tab == Tab::Tools {
            panel_keys::SECTIONS
        } else {
            tab_keys::SECTIONS
        }
        .iter()
        .map(|(title, table)| help::Section::of(title, table))
        .collect();
        help::render_popup(frame, area, theme, " MCP panel keys ", &sections, false);
    }
}

/// The stage's key table as a hint line; an answer's form marks its required fields.
fn hint(panel: &ToolPanel) -> String {
    let mut line = keymap::hints(panel.keys())
        .iter()
        .map(|(label, hint)| format!("{label} {hint}"))
        .collect::<Vec<_>>()
        .join("  ");
    if matches!(panel.stage, Stage::Answer { .. }) {
        line.push_str("  (* required)");
    }
    line
}

/// Everything here but the hints is the server's text (names, descriptions, schemas, results,
/// its error messages): made printable, so it cannot draw on the console. ratatui alone would
/// drop an escape silently and show the rest of the sequence as if it were the text.
fn body(panel: &ToolPanel, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    match &panel.stage {
        Stage::Loading => vec![Line::raw("listing tools…")],
        Stage::Failed(why) => vec![Line::from(Span::styled(
            printable(why, false),
            theme.flash_error,
        ))],
        Stage::List { selected } => {
            let names: Vec<String> = panel
                .tools
                .iter()
                .map(|t| printable(&t.name, false))
                .collect();
            let name_width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
            let mut lines = Vec::new();
            for (i, (t, name)) in panel.tools.iter().zip(&names).enumerate() {
                let marker = if i == *selected { "▶ " } else { "  " };
                let description = printable(t.description.as_deref().unwrap_or_default(), true);
                let room = width.saturating_sub(name_width + 4).max(10);
                let style = if i == *selected {
                    theme.accent
                } else {
                    ratatui::style::Style::default()
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("{marker}{name:<name_width$}  "), style),
                    Span::raw(one_line(&description, room)),
                ]));
            }
            if let Some(t) = panel.tools.get(*selected) {
                lines.push(Line::raw(""));
                let args = argument_summary(t);
                let args = if args.is_empty() {
                    "(none)".into()
                } else {
                    args
                };
                lines.push(Line::from(Span::styled(
                    format!("args: {}", printable(&args, false)),
                    theme.muted,
                )));
            }
            if panel.tools.is_empty() {
                lines.push(Line::raw("this server offers no tools"));
            }
            lines
        }
        // Drawn by `editor::render`, which needs the frame for the cursor.
        Stage::Edit { .. } | Stage::Answer { .. } => Vec::new(),
        Stage::Running { tool, progress, .. } => {
            let mut lines = vec![Line::raw(format!("calling {}…", printable(tool, false)))];
            if let Some(p) = progress {
                lines.push(Line::from(Span::styled(printable(p, false), theme.muted)));
            }
            lines
        }
        Stage::History { selected } => {
            if panel.history.is_empty() {
                return vec![Line::raw(
                    "no calls from this console yet: call a tool and it shows here",
                )];
            }
            panel
                .history
                .iter()
                .enumerate()
                .map(|(i, past)| {
                    let marker = if i == *selected { "▶ " } else { "  " };
                    let style = if i == *selected {
                        theme.accent
                    } else {
                        ratatui::style::Style::default()
                    };
                    let args = serde_json::Value::Object(past.arguments.clone()).to_string();
                    let outcome = past.outcome.as_deref().unwrap_or("running");
                    let room = width.saturating_sub(past.tool.chars().count() + outcome.len() + 8);
                    Line::from(vec![
                        Span::styled(format!("{marker}{} ", printable(&past.tool, false)), style),
                        Span::raw(one_line(&printable(&args, false), room.max(10))),
                        Span::styled(format!("  {}", printable(outcome, false)), theme.muted),
                    ])
                })
                .collect()
        }
        Stage::Done { text, failed, .. } => {
            let style = if *failed {
                theme.flash_error
            } else {
                ratatui::style::Style::default()
            };
            text.lines()
                .map(|l| Line::from(Span::styled(printable(l, false), style)))
                .collect()
        }
    }
}
