//! How two rows compare: the filter's match, the sort, the grouping. One comparison serves the
//! full sort and the patch of a few rows, so both give the same order.

use std::cmp::Ordering;

use super::{GroupBy, SortBy};
use crate::domain::{ConnectionView, DEFAULT_ACCOUNT, Health, Snapshot};

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

/// The group a row falls in, borrowed: the full order compares it for every row.
pub(super) fn group_key(group: GroupBy, conn: &ConnectionView) -> Option<&str> {
    match group {
        GroupBy::None => None,
        GroupBy::Connector => Some(conn.key.connector.as_str()),
        GroupBy::Health => Some(conn.health.label()),
    }
}

/// The table's order between the rows at snapshot indexes `a` and `b`: group, then the sort
/// (reversed when descending), then snapshot order, so that no two rows tie and a binary search
/// finds where a changed row goes.
pub(super) fn full_order(
    sort: SortBy,
    descending: bool,
    group: GroupBy,
    snapshot: &Snapshot,
    a: usize,
    b: usize,
) -> Ordering {
    let (x, y) = (&snapshot.connections[a], &snapshot.connections[b]);
    let by = compare(sort, x, y);
    let by = if descending { by.reverse() } else { by };
    group_order(group, x, y).then(by).then(a.cmp(&b))
}

/// Whether a row's new version sorts or groups differently from its old one.
pub(super) fn moves(
    sort: SortBy,
    group: GroupBy,
    old: &ConnectionView,
    new: &ConnectionView,
) -> bool {
    compare(sort, old, new) != Ordering::Equal
        || group_order(group, old, new) != Ordering::Equal
        || group_key(group, old) != group_key(group, new)
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
    conn.history.as_ref()?.probes.hour.p95_ms.map(u64::from)
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
