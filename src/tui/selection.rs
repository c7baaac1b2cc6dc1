//! Taking in snapshots and keeping the selection on its connection while the order moves.

use std::sync::Arc;

use super::app::App;
use crate::domain::Snapshot;

impl App {
    /// Takes in the engine's newest snapshot by the rows that changed since the last one.
    pub fn on_snapshot(&mut self, snapshot: Arc<Snapshot>) {
        let old = std::mem::replace(&mut self.snapshot, snapshot);
        self.fleet.update(&old, &self.snapshot);
        self.follow_selection();
    }

    /// Rebuilds the visible order (a new sort, filter or grouping).
    pub(super) fn reorder(&mut self) {
        self.fleet.rebuild(&self.snapshot);
        self.follow_selection();
    }

    /// Keeps the selection on its connection when it is still shown, else near where it was.
    fn follow_selection(&mut self) {
        let rows = &self.snapshot.connections;
        let found = self.selected.as_ref().and_then(|key| {
            // The row usually keeps its index in the snapshot, else the snapshot's index finds
            // it; a search only for a snapshot built without one.
            let fits = |i: &usize| rows.get(*i).is_some_and(|c| &c.key == key);
            let index = Some(self.selected_row)
                .filter(fits)
                .or_else(|| self.snapshot.index.get(key).copied().filter(fits))
                .or_else(|| rows.iter().position(|c| &c.key == key))?;
            self.fleet.pos_of(index)
        });
        match found {
            Some(pos) => self.select(pos),
            None if self.fleet.is_empty() => {
                self.selected = None;
                self.selected_index = 0;
            }
            None => self.select(self.selected_index.min(self.fleet.len() - 1)),
        }
    }

    pub(super) fn select(&mut self, pos: usize) {
        match self
            .fleet
            .row(pos)
            .and_then(|i| self.snapshot.connections.get(i))
        {
            Some(row) => {
                if self.selected.as_ref() != Some(&row.key) {
                    self.selected = Some(row.key.clone());
                }
                self.selected_index = pos;
                self.selected_row = self.fleet.row(pos).unwrap_or_default();
            }
            None => self.selected = None,
        }
    }
}
