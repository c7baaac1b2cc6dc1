//! Taking in a new snapshot by the rows that changed. The engine hands over the same row for a
//! connection that did not change, so a snapshot where a few probes finished costs a few rows
//! here: counts, widths and expiries are patched; the order is patched in place unless a
//! changed row now sorts, groups or filters differently, and then only those rows move.

use std::sync::Arc;

use super::order::{full_order, matches, moves};
use super::{Fleet, HIDDEN, health_index};
use crate::domain::{ConnectionView, Snapshot};

/// What taking in a snapshot cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Intake {
    /// Rows whose view changed (all of them after a rebuild).
    pub changed: usize,
    /// Whether rows were moved in the order (a sort key, group or filter match changed).
    pub sorted: bool,
    /// Whether the order was computed from scratch.
    pub rebuilt: bool,
}

/// Above this share of the fleet moving, one sort beats moving rows one by one.
const MOVE_ONE_BY_ONE: usize = 64;

/// `pos_of` for a row on its way out of the order while it is repositioned.
const MOVING: usize = HIDDEN - 1;

/// Whether the engine handed over the same row: then nothing about it changed. A pointer
/// comparison, so a snapshot where nothing changed costs a glance per row.
fn same(old: &Snapshot, new: &Snapshot, i: usize) -> bool {
    Arc::ptr_eq(&old.connections[i], &new.connections[i])
}

impl Fleet {
    /// Takes in `new`, which follows `old` (the snapshot the order was computed for).
    pub fn update(&mut self, old: &Snapshot, new: &Snapshot) {
        let (before, after) = (&old.connections, &new.connections);
        if before.len() != after.len() || self.pos_of.len() != after.len() {
            return self.rebuild(new);
        }
        let needle = self.filter.to_lowercase();
        let shown = |c: &ConnectionView| needle.is_empty() || matches(c, &needle);
        let mut changed = 0;
        let mut moving = Vec::new();
        for i in 0..after.len() {
            if same(old, new, i) {
                continue;
            }
            let (was, is): (&ConnectionView, &ConnectionView) = (&before[i], &after[i]);
            if was.key != is.key {
                // The fleet was reshaped (reloaded, reordered): indexes mean other rows now.
                return self.rebuild(new);
            }
            changed += 1;
            self.counts[health_index(was.health)] -= 1;
            self.counts[health_index(is.health)] += 1;
            let visible = self.pos_of[i] != HIDDEN;
            if visible {
                self.tally.remove(was);
            }
            let will_show = shown(is);
            if will_show {
                self.tally.add(is);
            }
            if visible != will_show || (visible && moves(self.sort, self.group, was, is)) {
                moving.push((i, will_show));
            }
        }
        let sorted = !moving.is_empty();
        if sorted {
            self.reposition(new, &moving);
            // Positions, lines and group headings follow the new order.
            self.settle(new);
        } else {
            // Every row kept its place: only the widths and expiries can have changed.
            self.ideal = self.tally.ideal();
            self.soonest_expiry = self.tally.soonest_expiry();
        }
        self.intake = super::Intake {
            changed,
            sorted,
            rebuilt: false,
        };
    }

    /// Takes the moving rows out of the order and puts back those still shown where the sort
    /// says, each by a binary search; many at once are sorted instead.
    fn reposition(&mut self, new: &Snapshot, moving: &[(usize, bool)]) {
        let (sort, descending, group) = (self.sort, self.descending, self.group);
        let order = |a: &usize, b: &usize| full_order(sort, descending, group, new, *a, *b);
        for &(i, _) in moving {
            if self.pos_of[i] != HIDDEN {
                self.pos_of[i] = MOVING;
            }
        }
        let pos_of = &self.pos_of;
        self.order.retain(|&i| pos_of[i] != MOVING);
        let back = moving.iter().filter(|(_, show)| *show).map(|(i, _)| *i);
        if moving.len() > MOVE_ONE_BY_ONE {
            self.order.extend(back);
            self.order.sort_by(order);
        } else {
            for i in back {
                let at = self.order.partition_point(|j| order(j, &i).is_lt());
                self.order.insert(at, i);
            }
        }
    }
}
