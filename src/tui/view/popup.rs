//! The re-authorize and confirm popups.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::domain::UnixMs;
use crate::tui::popup::{Method, Popup, Reauth, Status};
use crate::tui::theme::Theme;

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [r] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(area);
    let [r] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(r);
    r
}

fn keys(pairs: &[(&'static str, &'static str)], theme: &Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for (k, what) in pairs {
        spans.push(Span::styled(*k, theme.hint_key));
        spans.push(Span::styled(format!(" {what}  "), theme.hint));
    }
    Line::from(spans)
}

pub fn render(frame: &mut Frame, area: Rect, popup: &Popup, theme: &Theme, now: UnixMs) {
    let (title, lines) = match popup {
        Popup::ChooseReauth { key } => (
            format!(" re-authorize {key} "),
            vec![
                Line::raw("How will you approve the new grant?"),
                Line::raw(""),
                keys(&[("b", "browser (this machine)")], theme),
                keys(&[("d", "device code (any device, QR code)")], theme),
                keys(&[("Esc", "cancel")], theme),
            ],
        ),
        Popup::ConfirmRevoke { key } => (
            format!(" revoke {key} "),
            vec![
                Line::raw(format!(
                    "Revoke {key}'s grant at the authorization server and forget it?"
                )),
                Line::raw("It will need re-authorizing (a) before it works again."),
                Line::raw(""),
                keys(&[("y", "revoke"), ("n/Esc", "keep it")], theme),
            ],
        ),
        Popup::Reauth(r) => (
            format!(" re-authorize {} ", r.key),
            reauth_lines(r, theme, now, area.height),
        ),
    };
    let width = lines
        .iter()
        .map(Line::width)
        .max()
        .unwrap_or(0)
        .max(title.chars().count() + 2)
        + 4;
    let height = lines.len() + 2;
    let rect = centered(
        area,
        u16::try_from(width).unwrap_or(u16::MAX),
        u16::try_from(height).unwrap_or(u16::MAX),
    );
    let block = Block::bordered()
        .border_style(theme.accent)
        .title(Span::styled(title, theme.accent));
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        rect,
    );
}

fn reauth_lines(r: &Reauth, theme: &Theme, now: UnixMs, room: u16) -> Vec<Line<'static>> {
    let status_style = match &r.status {
        Status::Done { .. } => theme.ok,
        Status::Failed(_) => theme.down,
        _ => theme.warning,
    };
    let mut lines = vec![Line::from(vec![
        Span::styled("status  ", theme.muted),
        Span::styled(r.status.text(now), status_style),
    ])];
    match r.method {
        Method::Browser => {
            if let Some(url) = &r.url {
                lines.push(Line::raw(""));
                lines.push(Line::raw(
                    "A browser was asked to open; if none did, open this URL:",
                ));
                lines.push(Line::styled(url.clone(), theme.accent));
            }
        }
        Method::Device => {
            if let Some(d) = &r.device {
                lines.push(Line::raw(""));
                lines.push(Line::from(vec![
                    Span::raw("Go to "),
                    Span::styled(d.verification_uri.clone(), theme.accent),
                ]));
                lines.push(Line::from(vec![
                    Span::raw("and enter the code "),
                    Span::styled(d.user_code.clone(), theme.header),
                ]));
                // The QR code only where it fits whole: a clipped code does not scan.
                let fits = |qr: &&Vec<String>| qr.len() + lines.len() + 6 <= usize::from(room);
                if let Some(qr) = d.qr.as_ref().filter(|_| !theme.ascii).filter(fits) {
                    lines.push(Line::raw("or scan:"));
                    lines.extend(qr.iter().map(|l| Line::raw(l.clone())));
                } else if let Some(complete) = &d.complete {
                    lines.push(Line::styled(complete.clone(), theme.muted));
                }
            }
        }
    }
    lines.push(Line::raw(""));
    let close = if r.status.finished() {
        "close"
    } else {
        "cancel (frees the login listener)"
    };
    lines.push(keys(&[("Esc", close)], theme));
    lines
}
