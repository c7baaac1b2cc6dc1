//! The fleet table's order: sort, filter and grouping over the snapshot's rows.
//!
//! Computed once when the snapshot or the order changes (one pass over the fleet), never per
//! frame: a frame only walks the rows it shows, so a fleet of 10,000 draws as fast as one of
//! ten.

use std::cmp::Ordering;

use super::view::columns::Ideal;
use super::view::dashboard::measure;
use crate::domain::{ConnectionView, DEFAULT_ACCOUNT, Health, Snapshot, UnixMs};

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
    /// The soonest token expiry among the visible rows: whether any shows "expired …" at a
    /// given instant without a pass over the rows.
    pub soonest_expiry: Option<UnixMs>,
    /// Column widths over the visible rows, measured with the order.
    pub ideal: Ideal,
    /// Connections per health state over the whole fleet (the header's counts), in
    /// `Health::ALL` order.
    pub counts: [usize; Health::ALL.len()],
}

impl Fleet {
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// How many connections pass the filter.
    pub fn len(&self) -> usize {
        self.row_lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.row_lines.is_empty()
    }

    /// How many connections of the whole fleet are in `health`.
    pub fn count(&self, health: Health) -> usize {
        Health::ALL
            .iter()
            .position(|h| *h == health)
            .map_or(0, |i| self.counts[i])
    }

    /// The snapshot index of the `pos`-th visible connection.
    pub fn row(&self, pos: usize) -> Option<usize> {
        match self.entries.get(*self.row_lines.get(pos)?)? {
            Entry::Row(i) => Some(*i),
            Entry::Group { .. } => None,
        }
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
        (0..self.len()).filter_map(|p| self.row(p))
    }

    /// Recomputes the order: one filter pass and one sort over the fleet.
    pub fn rebuild(&mut self, snapshot: &Snapshot) {
        let needle = self.filter.to_lowercase();
        let rows = &snapshot.connections;
        self.counts = [0; Health::ALL.len()];
        for c in rows {
            if let Some(i) = Health::ALL.iter().position(|h| *h == c.health) {
                self.counts[i] += 1;
            }
        }
        let mut keep: Vec<usize> = (0..rows.len())
            .filter(|&i| needle.is_empty() || matches(&rows[i], &needle))
            .collect();
        let (sort, descending, group) = (self.sort, self.descending, self.group);
        keep.sort_by(|&a, &b| {
            let (a, b) = (&rows[a], &rows[b]);
            let grouped = group_order(group, a, b);
            let by = compare(sort, a, b);
            let by = if descending { by.reverse() } else { by };
            grouped.then(by)
        });
        self.ideal = measure(keep.iter().map(|&i| &*rows[i]));
        self.soonest_expiry = keep
            .iter()
            .filter_map(|&i| rows[i].token.as_ref()?.expires_at)
            .min();
        self.entries.clear();
        self.row_lines.clear();
        let mut current: Option<String> = None;
        let mut heading = 0;
        for i in keep {
            if let Some(label) = group_label(group, &rows[i])
                && current.as_deref() != Some(label.as_str())
            {
                heading = self.entries.len();
                self.entries.push(Entry::Group {
                    label: label.clone(),
                    count: 0,
                });
                current = Some(label);
            }
            if let Some(Entry::Group { count, .. }) = self.entries.get_mut(heading)
                && current.is_some()
            {
                *count += 1;
            }
            self.row_lines.push(self.entries.len());
            self.entries.push(Entry::Row(i));
        }
    }
}

/// Whether the connection's name, connector, account, state or error text holds `needle`
/// (already lower case).
pub fn matches(conn: &ConnectionView, needle: &str) -> bool {
    let hay = [
        Some(conn.name.as_str()),
        Some(conn.key.connector.as_str()),
        Some(conn.key.account.as_str()),
        Some(conn.health.label()),
        conn.detail.as_deref(),
    ];
    hay.into_iter()
        .flatten()
        .any(|h| h.to_lowercase().contains(needle))
        || conn
            .last_error
            .as_ref()
            .is_some_and(|e| e.to_string().to_lowercase().contains(needle))
}

fn group_label(group: GroupBy, conn: &ConnectionView) -> Option<String> {
    match group {
        GroupBy::None => None,
        GroupBy::Connector => Some(conn.key.connector.clone()),
        GroupBy::Health => Some(conn.health.label().to_owned()),
    }
}

fn group_order(group: GroupBy, a: &ConnectionView, b: &ConnectionView) -> Ordering {
    match group {
        GroupBy::None => Ordering::Equal,
        GroupBy::Connector => a.key.connector.cmp(&b.key.connector),
        GroupBy::Health => a.health.severity().cmp(&b.health.severity()),
    }
}

/// `None` sorts last whichever way: a row without the value is not the best nor the worst.
fn opt<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

pub fn display_name(conn: &ConnectionView) -> String {
    if conn.key.account == DEFAULT_ACCOUNT {
        conn.name.clone()
    } else {
        format!("{}/{}", conn.name, conn.key.account)
    }
}

pub fn p95_ms(conn: &ConnectionView) -> Option<u64> {
    conn.history.as_ref()?.probes.hour.p95_ms
}

fn compare(sort: SortBy, a: &ConnectionView, b: &ConnectionView) -> Ordering {
    let expires = |c: &ConnectionView| c.token.as_ref().and_then(|t| t.expires_at);
    match sort {
        SortBy::Fleet => Ordering::Equal,
        SortBy::Health => a.health.severity().cmp(&b.health.severity()),
        SortBy::Name => display_name(a)
            .to_lowercase()
            .cmp(&display_name(b).to_lowercase()),
        SortBy::Transport => a.transport.label().cmp(b.transport.label()),
        SortBy::Expires => opt(expires(a), expires(b)),
        SortBy::NextRefresh => opt(a.next_refresh_at, b.next_refresh_at),
        SortBy::Success => opt(a.success_rate_1h, b.success_rate_1h),
        SortBy::P95 => opt(p95_ms(a), p95_ms(b)),
        // The most recent probe first: the smallest age.
        SortBy::ProbeAge => opt(
            b.last_probe.as_ref().map(|p| p.at),
            a.last_probe.as_ref().map(|p| p.at),
        ),
        SortBy::Detail => opt(a.detail.as_deref(), b.detail.as_deref()),
    }
    .then_with(|| {
        // Ties keep a stable, readable order.
        if sort == SortBy::Fleet {
            Ordering::Equal
        } else {
            a.key.cmp(&b.key)
        }
    })
}

/// Whether `health` is one a human must act on (the re-authorize hint applies).
pub fn needs_human(health: Health) -> bool {
    matches!(health, Health::NeedsReauth | Health::Unauthorized)
}
