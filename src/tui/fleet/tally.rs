//! Column widths and token expiries over the visible rows, kept as counts so that one row's
//! change updates them in O(1) instead of a pass over the fleet: the widest name only shrinks
//! when the last row that wide changes.

use std::collections::BTreeMap;

use crate::domain::{ConnectionView, UnixMs};
use crate::tui::view::columns::Ideal;
use crate::tui::view::dashboard::{TITLE_IDEAL, row_widths};

/// For each measured column, how many visible rows have each width.
#[derive(Debug, Clone, Default)]
pub(super) struct Tally {
    widths: [Vec<u32>; 5],
    /// Token expiries of the visible rows, with how many rows share each.
    expiries: BTreeMap<UnixMs, u32>,
}

impl Tally {
    pub(super) fn add(&mut self, conn: &ConnectionView) {
        for (column, width) in self.widths.iter_mut().zip(row_widths(conn)) {
            let width = usize::from(width);
            if column.len() <= width {
                column.resize(width + 1, 0);
            }
            column[width] += 1;
        }
        if let Some(at) = expiry(conn) {
            *self.expiries.entry(at).or_default() += 1;
        }
    }

    pub(super) fn remove(&mut self, conn: &ConnectionView) {
        for (column, width) in self.widths.iter_mut().zip(row_widths(conn)) {
            if let Some(n) = column.get_mut(usize::from(width)) {
                *n = n.saturating_sub(1);
            }
            while column.last() == Some(&0) {
                column.pop();
            }
        }
        if let Some(at) = expiry(conn)
            && let Some(n) = self.expiries.get_mut(&at)
        {
            *n -= 1;
            if *n == 0 {
                self.expiries.remove(&at);
            }
        }
    }

    /// The widths `dashboard::measure` gives over the same rows.
    pub(super) fn ideal(&self) -> Ideal {
        let widest =
            |c: usize| u16::try_from(self.widths[c].len().saturating_sub(1)).unwrap_or(u16::MAX);
        let t = TITLE_IDEAL;
        Ideal {
            health: t.health.max(widest(0)),
            name: t.name.max(widest(1)),
            transport: t.transport.max(widest(2)),
            transport_short: t.transport_short.max(widest(3)),
            p95: t.p95.max(widest(4)),
            ..t
        }
    }

    pub(super) fn soonest_expiry(&self) -> Option<UnixMs> {
        self.expiries.keys().next().copied()
    }
}

fn expiry(conn: &ConnectionView) -> Option<UnixMs> {
    conn.token.as_ref()?.expires_at
}
