//! The argument form's state in the console: the pure `toolkit::form` plus which row is
//! selected, and the keys that edit a row. Typed rows take characters at their end (finer
//! editing is what the JSON editor, one Tab away, is for); choices, booleans and variants
//! turn with ←/→ or Space.

mod widget;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::Value;

pub use widget::render;

use crate::toolkit::form::{Form, Row};
use crate::toolkit::schema::Violation;

#[derive(Debug, Clone)]
pub struct FormState {
    form: Form,
    rows: Vec<Row>,
    problems: Vec<Violation>,
    selected: usize,
}

impl FormState {
    pub fn new(form: Form) -> FormState {
        let mut state = FormState {
            form,
            rows: Vec::new(),
            problems: Vec::new(),
            selected: 0,
        };
        state.refresh();
        state
    }

    pub fn value(&self) -> &Value {
        self.form.value()
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    pub fn selected(&self) -> usize {
        self.selected
    }

    pub fn selected_row(&self) -> Option<&Row> {
        self.rows.get(self.selected)
    }

    /// The arguments' problems against the schema, as of the last change.
    pub fn problems(&self) -> &[Violation] {
        &self.problems
    }

    pub fn up(&mut self) {
        self.selected = self.selected.saturating_sub(1);
    }

    pub fn down(&mut self) {
        self.selected = (self.selected + 1).min(self.rows.len().saturating_sub(1));
    }

    /// ←/→: the next or previous choice of a choice, boolean or variant row.
    pub fn cycle(&mut self, forward: bool) {
        if let Some(row) = self.rows.get(self.selected).cloned() {
            self.form.cycle(&row, forward);
            self.refresh();
        }
    }

    /// Ctrl-N: an item for an array row, a value for a row left out.
    pub fn add(&mut self) {
        if let Some(row) = self.rows.get(self.selected).cloned() {
            let before = self.rows.len();
            self.form.add(&row);
            self.refresh();
            // Onto the new item, which is the last row under its array.
            if self.rows.len() > before && row.kind == crate::toolkit::form::Kind::Array {
                let last = self
                    .rows
                    .iter()
                    .rposition(|r| r.depth == row.depth + 1 && r.pointer.starts_with(&row.pointer));
                self.selected = last.unwrap_or(self.selected);
            }
        }
    }

    /// Ctrl-X: removes an item, leaves an optional row out, nulls a nullable one.
    pub fn remove(&mut self) {
        if let Some(row) = self.rows.get(self.selected).cloned() {
            self.form.remove(&row);
            self.refresh();
        }
    }

    /// A key no table claims: text for a typed row, Space to turn a choice. True when the
    /// arguments changed.
    pub fn key(&mut self, key: &KeyEvent) -> bool {
        let Some(row) = self.rows.get(self.selected).cloned() else {
            return false;
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let text = if row.present {
            row.text.clone()
        } else {
            String::new()
        };
        let next = match key.code {
            KeyCode::Char(' ') if !row.kind.typed() => {
                self.cycle(true);
                return true;
            }
            // AltGr arrives as Ctrl+Alt: a character.
            KeyCode::Char(c) if row.kind.typed() && ctrl == alt => format!("{text}{c}"),
            KeyCode::Char('u') if ctrl && row.kind.typed() => String::new(),
            KeyCode::Backspace if row.kind.typed() => {
                let mut t = text;
                t.pop();
                t
            }
            _ => return false,
        };
        self.form.set_text(&row, next);
        self.refresh();
        true
    }

    /// Pasted text goes at the end of a typed row, on one line.
    pub fn paste(&mut self, pasted: &str) -> bool {
        let Some(row) = self.rows.get(self.selected).cloned() else {
            return false;
        };
        if !row.kind.typed() {
            return false;
        }
        let text = if row.present {
            row.text.clone()
        } else {
            String::new()
        };
        let pasted: String = pasted.chars().filter(|c| !c.is_control()).collect();
        self.form.set_text(&row, format!("{text}{pasted}"));
        self.refresh();
        true
    }

    fn refresh(&mut self) {
        self.rows = self.form.rows();
        self.problems = self.form.problems();
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
    }
}
