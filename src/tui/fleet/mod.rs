//! The fleet table's order: sort, filter and grouping over the snapshot's rows.
//!
//! Computed in full when the order itself changes (a new sort, filter or grouping, or a fleet
//! that gained or lost connections), and patched for the rows that changed when a new snapshot
//! arrives (`patch.rs`): at 10,000 connections the engine publishes several times a second with
//! a few rows changed each time. Never per frame: a frame only walks the rows it shows.

mod order;
mod patch;
mod tally;

pub use order::{display_name, matches, needs_human, p95_ms};
pub use patch::Intake;

use super::view::columns::Ideal;
use crate::domain::{Health, Snapshot, UnixMs};
use order::{full_order, group_key};
use tally::Tally;

/// A column the table can be sorted by; `Fleet` is the engine's own order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    #[default]
    Fleet,
    Health,
    Name,
    Transport,
    Expires,
    NextRefresh,
    Success,
    P95,
    ProbeAge,
    Detail,
}

impl SortBy {
    pub const ALL: [SortBy; 10] = [
        SortBy::Fleet,
        SortBy::Health,
        SortBy::Name,
        SortBy::Transport,
        SortBy::Expires,
        SortBy::NextRefresh,
        SortBy::Success,
        SortBy::P95,
        SortBy::ProbeAge,
        SortBy::Detail,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SortBy::Fleet => "fleet order",
            SortBy::Health => "health",
            SortBy::Name => "name",
            SortBy::Transport => "transport",
            SortBy::Expires => "expires in",
            SortBy::NextRefresh => "next refresh",
            SortBy::Success => "success 1h",
            SortBy::P95 => "p95",
            SortBy::ProbeAge => "probe age",
            SortBy::Detail => "detail",
        }
    }

    pub fn next(self) -> SortBy {
        let i = SortBy::ALL.iter().position(|s| *s == self).unwrap_or(0);
        SortBy::ALL[(i + 1) % SortBy::ALL.len()]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    #[default]
    None,
    Connector,
    Health,
}

impl GroupBy {
    pub fn next(self) -> GroupBy {
        match self {
            GroupBy::None => GroupBy::Connector,
            GroupBy::Connector => GroupBy::Health,
            GroupBy::Health => GroupBy::None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            GroupBy::None => "no grouping",
            GroupBy::Connector => "connector",
            GroupBy::Health => "health",
        }
    }
}

/// One line of the table: a group's heading or a connection (an index into the snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Group { label: String, count: usize },
    Row(usize),
}

#[derive(Debug, Clone, Default)]
pub struct Fleet {
    pub sort: SortBy,
    pub descending: bool,
    pub group: GroupBy,
    /// The `/` filter, matched case-insensitively.
    pub filter: String,
    /// Lines in display order.
    entries: Vec<Entry>,
    /// For each visible connection in order, its line in `entries`.
    row_lines: Vec<usize>,
    /// The visible connections in display order, as snapshot indexes.
    order: Vec<usize>,
    /// For each snapshot index, its position in `order`; `HIDDEN` when the filter hides it.
    pos_of: Vec<usize>,
    /// The soonest token expiry among the visible rows: whether any shows "expired …" at a
    /// given instant without a pass over the rows.
    pub soonest_expiry: Option<UnixMs>,
    /// Column widths over the visible rows, kept with the order.
    pub ideal: Ideal,
    /// Connections per health state over the whole fleet (the header's counts), in
    /// `Health::ALL` order.
    pub counts: [usize; Health::ALL.len()],
    /// Widths and expiries of the visible rows, so that a row's change updates them without a
    /// pass over the fleet.
    tally: Tally,
    /// What the last snapshot cost to take in.
    intake: Intake,
}

/// `pos_of` for a row the filter hides.
const HIDDEN: usize = usize::MAX;

impl Fleet {
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// How many connections pass the filter.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// How many connections of the whole fleet are in `health`.
    pub fn count(&self, health: Health) -> usize {
        self.counts[health_index(health)]
    }

    /// The snapshot index of the `pos`-th visible connection.
    pub fn row(&self, pos: usize) -> Option<usize> {
        self.order.get(pos).copied()
    }

    /// The visible position of the connection at snapshot index `index`, if the filter shows it.
    pub fn pos_of(&self, index: usize) -> Option<usize> {
        self.pos_of.get(index).copied().filter(|&p| p != HIDDEN)
    }

    /// The line in `entries` of the `pos`-th visible connection.
    pub fn line_of(&self, pos: usize) -> Option<usize> {
        self.row_lines.get(pos).copied()
    }

    /// The visible position of the connection on line `line`, if that line is one.
    pub fn pos_of_line(&self, line: usize) -> Option<usize> {
        self.row_lines.binary_search(&line).ok()
    }

    /// Snapshot indexes of every visible connection, in order.
    pub fn rows(&self) -> impl Iterator<Item = usize> + '_ {
        self.order.iter().copied()
    }

    /// What taking in the last snapshot cost: how many rows it looked at and whether it had to
    /// sort or rebuild.
    pub fn intake(&self) -> Intake {
        self.intake
    }

    /// Recomputes the order: one filter pass and one sort over the fleet.
    pub fn rebuild(&mut self, snapshot: &Snapshot) {
        let needle = self.filter.to_lowercase();
        let rows = &snapshot.connections;
        self.counts = [0; Health::ALL.len()];
        self.tally = Tally::default();
        for c in rows.iter() {
            self.counts[health_index(c.health)] += 1;
        }
        self.order = (0..rows.len())
            .filter(|&i| needle.is_empty() || matches(&rows[i], &needle))
            .collect();
        for &i in &self.order {
            self.tally.add(&rows[i]);
        }
        let (sort, descending, group) = (self.sort, self.descending, self.group);
        // Stable over snapshot order, which `full_order` also breaks ties by.
        self.order
            .sort_by(|&a, &b| full_order(sort, descending, group, snapshot, a, b));
        self.settle(snapshot);
        self.intake = Intake {
            changed: rows.len(),
            sorted: true,
            rebuilt: true,
        };
    }

    /// After the order changed: positions, table lines with group headings, widths.
    fn settle(&mut self, snapshot: &Snapshot) {
        let rows = &snapshot.connections;
        self.pos_of.clear();
        self.pos_of.resize(rows.len(), HIDDEN);
        for (p, &i) in self.order.iter().enumerate() {
            self.pos_of[i] = p;
        }
        self.entries.clear();
        self.row_lines.clear();
        let mut current: Option<&str> = None;
        let mut heading = 0;
        for &i in &self.order {
            if let Some(label) = group_key(self.group, &rows[i])
                && current != Some(label)
            {
                heading = self.entries.len();
                self.entries.push(Entry::Group {
                    label: label.to_owned(),
                    count: 0,
                });
                current = Some(label);
            }
            if current.is_some()
                && let Some(Entry::Group { count, .. }) = self.entries.get_mut(heading)
            {
                *count += 1;
            }
            self.row_lines.push(self.entries.len());
            self.entries.push(Entry::Row(i));
        }
        self.ideal = self.tally.ideal();
        self.soonest_expiry = self.tally.soonest_expiry();
    }
}

fn health_index(health: Health) -> usize {
    Health::ALL
        .iter()
        .position(|h| *h == health)
        .unwrap_or_default()
}
