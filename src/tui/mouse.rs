//! Mouse: a click selects the row under it (fleet, events), the wheel moves the selection.
//! Positions are mapped through the same layout and scroll functions rendering uses.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

use super::app::App;
use super::view;
use super::view::dashboard::scroll_offset;
use super::views::Screen;

impl App {
    /// True when the event changed something on screen.
    pub fn handle_mouse(&mut self, mouse: MouseEvent, area: Rect) -> bool {
        if self.tool_panel().is_some() || self.popup.is_some() || self.input.is_some() {
            return false;
        }
        let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
        match mouse.kind {
            // The wheel moves as the arrow keys do, in whichever screen shows.
            MouseEventKind::ScrollUp => {
                let _ = self.handle_key(key(KeyCode::Up), 0);
                true
            }
            MouseEventKind::ScrollDown => {
                let _ = self.handle_key(key(KeyCode::Down), 0);
                true
            }
            MouseEventKind::Down(MouseButton::Left) => self.click(mouse.column, mouse.row, area),
            _ => false,
        }
    }

    fn click(&mut self, x: u16, y: u16, area: Rect) -> bool {
        let body = view::areas(area).body;
        match &mut self.screen {
            Screen::Fleet => {
                let (table, _) = view::fleet_areas(body, self.fleet.entries().len());
                // Border and header above the first row.
                let Some(row) = inside(table, x, y, 2) else {
                    return false;
                };
                let height = usize::from(table.height.saturating_sub(3));
                let selected_line = self
                    .selected_index()
                    .and_then(|p| self.fleet.line_of(p))
                    .unwrap_or(0);
                let line = scroll_offset(selected_line, height) + row;
                match self.fleet.pos_of_line(line) {
                    Some(pos) => {
                        self.select(pos);
                        true
                    }
                    None => false,
                }
            }
            Screen::Events(log) => {
                let Some(row) = inside(body, x, y, 2) else {
                    return false;
                };
                let height = usize::from(body.height.saturating_sub(3));
                let line = scroll_offset(log.selected, height) + row;
                if line < log.shown.len() {
                    log.selected = line;
                    log.follow = false;
                    return true;
                }
                false
            }
            Screen::Detail(_) => false,
        }
    }
}

/// The row within `rect`'s content (below `top` lines of border and header) at (x, y).
fn inside(rect: Rect, x: u16, y: u16, top: u16) -> Option<usize> {
    let first = rect.y + top;
    let last = rect.y + rect.height.saturating_sub(1);
    (x > rect.x && x < rect.x + rect.width && y >= first && y < last)
        .then(|| usize::from(y - first))
}
