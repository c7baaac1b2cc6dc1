//! A small multi-line text editor for the tool panel's JSON arguments: a buffer, a cursor and
//! the edits a terminal user expects. Pure state; keys are mapped to edits in `keys`, and the
//! view asks it which part of the text fits a box.
//!
//! The cursor is a byte offset that only ever lands on a grapheme boundary: every move and
//! deletion walks graphemes, so "é" written as `e` + U+0301 or a flag emoji is one step, and no
//! code here slices a `String` anywhere else.

mod keys;
#[cfg(test)]
mod tests;

use std::cell::Cell;

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

pub use keys::edit_for;

/// Indentation a Tab inserts, and the unit pasted tabs become: a tab has no fixed width in a
/// terminal cell grid, so the cursor column would lie.
const INDENT: &str = "  ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Insert(char),
    /// A line break that keeps the current line's indentation.
    Newline,
    Indent,
    Backspace,
    Delete,
    DeleteWordBack,
    DeleteWordForward,
    DeleteToLineStart,
    DeleteToLineEnd,
    Left,
    Right,
    WordLeft,
    WordRight,
    LineStart,
    LineEnd,
    Up,
    Down,
    Start,
    End,
}

#[derive(Debug, Clone, Default)]
pub struct Editor {
    text: String,
    cursor: usize,
    /// The display column ↑/↓ aim for, so crossing a short line does not lose the column.
    goal: Option<usize>,
    /// First visible row and display column. Only the view knows the box size, so it updates
    /// this while drawing; keeping the last offset (rather than deriving one from the cursor)
    /// is what stops the text jumping on every move.
    scroll: Cell<(usize, usize)>,
}

impl Editor {
    /// An editor holding `text` with the cursor at its end.
    pub fn new(text: &str) -> Editor {
        let text = clean(text);
        Editor {
            cursor: text.len(),
            text,
            ..Editor::default()
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The cursor as (line, display column), both from 0.
    pub fn position(&self) -> (usize, usize) {
        let before = self.before();
        let line = before.matches('\n').count();
        let start = line_start(before);
        (line, before.get(start..).map_or(0, UnicodeWidthStr::width))
    }

    pub fn line_count(&self) -> usize {
        self.text.split('\n').count()
    }

    /// Applies an edit; true when the text changed (not just the cursor).
    pub fn apply(&mut self, edit: Edit) -> bool {
        let vertical = matches!(edit, Edit::Up | Edit::Down);
        let changed = match edit {
            Edit::Insert(c) => self.insert(&clean(c.encode_utf8(&mut [0; 4]))),
            Edit::Newline => {
                let line = self.before().get(line_start(self.before())..).unwrap_or("");
                let indent: String = line.chars().take_while(|c| *c == ' ').collect();
                self.insert(&format!("\n{indent}"))
            }
            Edit::Indent => self.insert(INDENT),
            Edit::Backspace => self.delete_to(self.prev_boundary()),
            Edit::Delete => self.delete_to(self.next_boundary()),
            Edit::DeleteWordBack => self.delete_to(self.word_left()),
            Edit::DeleteWordForward => self.delete_to(self.word_right()),
            Edit::DeleteToLineStart => {
                // At a line's start this joins it to the previous one, so repeating the key
                // keeps clearing upwards instead of getting stuck.
                let start = line_start(self.before());
                let to = if start == self.cursor {
                    self.prev_boundary()
                } else {
                    start
                };
                self.delete_to(to)
            }
            Edit::DeleteToLineEnd => {
                let end = self.line_end();
                let to = if end == self.cursor {
                    self.next_boundary()
                } else {
                    end
                };
                self.delete_to(to)
            }
            Edit::Left => self.move_to(self.prev_boundary()),
            Edit::Right => self.move_to(self.next_boundary()),
            Edit::WordLeft => self.move_to(self.word_left()),
            Edit::WordRight => self.move_to(self.word_right()),
            Edit::LineStart => self.move_to(line_start(self.before())),
            Edit::LineEnd => self.move_to(self.line_end()),
            Edit::Up => self.vertical(false),
            Edit::Down => self.vertical(true),
            Edit::Start => self.move_to(0),
            Edit::End => self.move_to(self.text.len()),
        };
        if !vertical {
            self.goal = None;
        }
        changed
    }

    /// Inserts pasted text at the cursor as it is: no auto-indent, line endings normalised.
    pub fn paste(&mut self, text: &str) -> bool {
        self.goal = None;
        self.insert(&clean(text))
    }

    /// Puts the cursor at a 1-based line and byte column, as serde_json reports errors, on the
    /// nearest grapheme boundary at or before it.
    pub fn go_to(&mut self, line: usize, column: usize) {
        let start: usize = self
            .text
            .split('\n')
            .take(line.saturating_sub(1))
            .map(|l| l.len() + 1)
            .sum();
        let target = (start + column.saturating_sub(1)).min(self.text.len());
        let at = self
            .text
            .grapheme_indices(true)
            .map(|(i, _)| i)
            .take_while(|&i| i <= target)
            .last()
            .unwrap_or(0);
        self.move_to(if target == self.text.len() {
            target
        } else {
            at
        });
        self.goal = None;
    }

    /// The first row and display column to show in a box of `height` × `width` cells so the
    /// cursor is inside it, moving the remembered offset no more than needed.
    pub fn scroll(&self, height: usize, width: usize) -> (usize, usize) {
        let (row, col) = self.position();
        let (mut top, mut left) = self.scroll.get();
        let height = height.max(1);
        let width = width.max(1);
        // Text deleted below the view would otherwise leave the box half empty.
        top = top.min(self.line_count().saturating_sub(height));
        if row < top {
            top = row;
        } else if row >= top + height {
            top = row + 1 - height;
        }
        if col < left {
            left = col;
        } else if col >= left + width {
            left = col + 1 - width;
        }
        self.scroll.set((top, left));
        (top, left)
    }

    /// The lines shown in a box, cut to `width` display columns starting at column `left`.
    pub fn visible_lines(
        &self,
        top: usize,
        left: usize,
        height: usize,
        width: usize,
    ) -> Vec<String> {
        self.text
            .split('\n')
            .skip(top)
            .take(height)
            .map(|line| window(line, left, width))
            .collect()
    }

    fn before(&self) -> &str {
        self.text.get(..self.cursor).unwrap_or("")
    }

    fn after(&self) -> &str {
        self.text.get(self.cursor..).unwrap_or("")
    }

    fn move_to(&mut self, to: usize) -> bool {
        self.cursor = to.min(self.text.len());
        false
    }

    fn insert(&mut self, s: &str) -> bool {
        if s.is_empty() {
            return false;
        }
        self.text.insert_str(self.cursor, s);
        self.cursor += s.len();
        // A combining mark or a second regional indicator can merge with the grapheme after the
        // cursor; step past the merged one rather than sit inside it.
        if !self.is_boundary(self.cursor) {
            self.cursor = self.next_boundary();
        }
        true
    }

    /// Deletes between the cursor and `to` (either side) and leaves the cursor at the start.
    fn delete_to(&mut self, to: usize) -> bool {
        let (from, to) = (self.cursor.min(to), self.cursor.max(to));
        if from == to || self.text.get(from..to).is_none() {
            return false;
        }
        self.text.replace_range(from..to, "");
        self.cursor = from;
        true
    }

    fn is_boundary(&self, at: usize) -> bool {
        at == self.text.len() || self.text.grapheme_indices(true).any(|(i, _)| i == at)
    }

    fn prev_boundary(&self) -> usize {
        self.before()
            .grapheme_indices(true)
            .next_back()
            .map_or(0, |(i, _)| i)
    }

    fn next_boundary(&self) -> usize {
        // Graphemes are computed over the whole text: one that starts before the cursor (after
        // a merging insert) must be stepped over as a unit.
        self.text
            .grapheme_indices(true)
            .map(|(i, g)| i + g.len())
            .find(|&end| end > self.cursor)
            .unwrap_or(self.text.len())
    }

    fn line_end(&self) -> usize {
        self.cursor + self.after().find('\n').unwrap_or(self.after().len())
    }

    /// Start of the word before the cursor, readline style: skip separators, then the word.
    fn word_left(&self) -> usize {
        let mut at = self.cursor;
        let mut in_word = false;
        for (i, g) in self.before().grapheme_indices(true).rev() {
            if is_word(g) {
                in_word = true;
            } else if in_word {
                break;
            }
            at = i;
        }
        at
    }

    /// End of the word after the cursor, readline style.
    fn word_right(&self) -> usize {
        let mut at = self.cursor;
        let mut in_word = false;
        for (i, g) in self.after().grapheme_indices(true) {
            if is_word(g) {
                in_word = true;
            } else if in_word {
                break;
            }
            at = self.cursor + i + g.len();
        }
        at
    }

    /// ↑ on the first line goes to its start and ↓ on the last to its end, as in most editors.
    fn vertical(&mut self, down: bool) -> bool {
        let (row, col) = self.position();
        let goal = *self.goal.get_or_insert(col);
        let target = match (down, row.checked_sub(1)) {
            (true, _) => row + 1,
            (false, Some(above)) => above,
            (false, None) => return self.move_to(0),
        };
        let mut start = 0;
        let mut found = None;
        for (i, line) in self.text.split('\n').enumerate() {
            if i == target {
                found = Some((start, line));
                break;
            }
            start += line.len() + 1;
        }
        let Some((start, line)) = found else {
            return self.move_to(if down { self.text.len() } else { 0 });
        };
        let mut width = 0;
        let mut offset = line.len();
        for (i, g) in line.grapheme_indices(true) {
            let w = g.width();
            if width + w > goal {
                offset = i;
                break;
            }
            width += w;
        }
        self.move_to(start + offset)
    }
}

/// Where the line holding the end of `before` starts.
fn line_start(before: &str) -> usize {
    before.rfind('\n').map_or(0, |i| i + 1)
}

fn is_word(grapheme: &str) -> bool {
    grapheme.chars().any(|c| c.is_alphanumeric() || c == '_')
}

/// Line endings to `\n`, tabs to spaces, other control characters dropped: they would move the
/// terminal's cursor or draw as nothing, and JSON has no use for them outside escapes.
fn clean(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push_str(INDENT),
            '\n' => out.push('\n'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// `line` from display column `left`, at most `width` columns. A wide character cut by either
/// edge shows as spaces, so everything else stays in its column.
fn window(line: &str, left: usize, width: usize) -> String {
    let mut out = String::new();
    let mut x = 0;
    let right = left + width;
    for g in line.graphemes(true) {
        let w = g.width();
        let end = x + w;
        if end > right {
            out.extend(std::iter::repeat_n(' ', right.saturating_sub(x.max(left))));
            break;
        }
        if x >= left {
            out.push_str(g);
        } else if end > left {
            out.extend(std::iter::repeat_n(' ', end - left));
        }
        x = end;
    }
    out
}
