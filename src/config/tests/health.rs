//! Health thresholds, refresh policy and retention: defaults, and a located error for every
//! value that makes no sense.

use std::time::Duration;

use super::{REST, assert_error, error, parse};

#[test]
fn defaults_when_absent() {
    let c = parse(REST);
    let h = &c.connectors[0].health;
    assert_eq!((h.down_after, h.up_after), (3, 2));
    assert_eq!(h.max_backoff, Duration::from_secs(600));
    let s = &c.connectors[0].schedule;
    assert_eq!(
        (s.refresh_share, s.refresh_attempts, s.refresh_idle),
        (0.1, 3, None)
    );
    assert_eq!(c.store.raw_retention, Duration::from_secs(48 * 3600));
    assert_eq!(
        c.store.rollup_retention,
        Duration::from_secs(35 * 24 * 3600)
    );
    assert_eq!(c.store.refresh_lease, Duration::from_secs(30));
}

#[test]
fn values_are_read() {
    let c = parse(&format!(
        "[store]\nraw_retention = \"6h\"\nrollup_retention = \"90d\"\nrefresh_lease = \"6s\"\n{REST}[connectors.health]\ndown_after = 5\nup_after = 1\nmax_backoff = \"2m\"\n[connectors.schedule]\nrefresh_share = 0.25\nrefresh_attempts = 5\nrefresh_idle = \"14d\"\n"
    ));
    let h = &c.connectors[0].health;
    assert_eq!(
        (h.down_after, h.up_after, h.max_backoff),
        (5, 1, Duration::from_secs(120))
    );
    let s = &c.connectors[0].schedule;
    assert_eq!(s.refresh_share, 0.25);
    assert_eq!(s.refresh_attempts, 5);
    assert_eq!(s.refresh_idle, Some(Duration::from_secs(14 * 86400)));
    assert_eq!(c.store.raw_retention, Duration::from_secs(6 * 3600));
    assert_eq!(c.store.refresh_lease, Duration::from_secs(6));
}

#[test]
fn the_refresh_lease_takes_its_whole_range() {
    for (value, secs) in [("3s", 3), ("10m", 600), ("90s", 90)] {
        let c = parse(&format!("[store]\nrefresh_lease = \"{value}\"\n{REST}"));
        assert_eq!(c.store.refresh_lease, Duration::from_secs(secs), "{value}");
    }
}

#[test]
fn nonsense_is_a_located_error() {
    // (table, line, column, key, fragment)
    for (table, value, column, key, fragment) in [
        (
            "health",
            "down_after = 0",
            14,
            "health.down_after",
            "0 makes no sense",
        ),
        (
            "health",
            "up_after = -2",
            12,
            "health.up_after",
            "-2 makes no sense",
        ),
        (
            "health",
            "max_backoff = \"0s\"",
            15,
            "health.max_backoff",
            "too short",
        ),
        (
            "schedule",
            "refresh_share = 2.0",
            17,
            "schedule.refresh_share",
            "0.0 to 0.5",
        ),
        (
            "schedule",
            "refresh_attempts = 0",
            20,
            "schedule.refresh_attempts",
            "1 to 10",
        ),
        (
            "schedule",
            "refresh_idle = \"5s\"",
            16,
            "schedule.refresh_idle",
            "too short",
        ),
        (
            "schedule",
            "refresh_idle = \"soon\"",
            16,
            "schedule.refresh_idle",
            "invalid duration",
        ),
    ] {
        let e = error(&format!("{REST}[connectors.{table}]\n{value}\n"));
        assert_error(&e, 7, column, &format!("connectors[0].{key}"), &[fragment]);
    }
    let e = error("[store]\nraw_retention = \"10m\"\n");
    assert_error(&e, 2, 17, "store.raw_retention", &["too short", "1h"]);
    let e = error("[store]\nrollup_retention = \"1d\"\n");
    assert_error(&e, 2, 20, "store.rollup_retention", &["7-day window"]);
    for (value, fragment) in [
        ("2s", "too short"),
        ("2999ms", "too short"),
        ("0s", "too short"),
        ("10m 1s", "too long"),
        ("1h", "too long"),
    ] {
        let e = error(&format!("[store]\nrefresh_lease = \"{value}\"\n"));
        assert_error(
            &e,
            2,
            17,
            "store.refresh_lease",
            &[fragment, "use 3s to 10m"],
        );
    }
    let e = error("[store]\nrefresh_lease = 30\n");
    assert_error(&e, 2, 17, "store.refresh_lease", &[]);
}
