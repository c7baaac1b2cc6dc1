//! Taking in a snapshot by the rows that changed: the order is patched, not recomputed, and
//! always ends where a full rebuild would.

use std::sync::Arc;

use super::fixtures::{NOW, conn, snapshot};
use crate::domain::{ConnectionView, Health, ProbeResult, ProbeVia, Snapshot, TokenMeta};
use crate::tui::App;
use crate::tui::fleet::{Fleet, GroupBy, Intake, SortBy};
use crate::tui::view::dashboard::measure;

fn row(i: usize) -> ConnectionView {
    let mut c = conn(
        &format!("c{:03}", i / 2),
        if i.is_multiple_of(2) {
            "default"
        } else {
            "ops"
        },
        &format!("Connector {}", i / 2),
        Health::ALL[i % Health::ALL.len()],
    );
    c.success_rate_1h = Some((i % 10) as f64 / 10.0);
    c.token = Some(TokenMeta {
        expires_at: Some(NOW + (i as i64 * 7_919) % 3_600_000),
        issued_at: None,
        has_refresh_token: true,
        scopes: Vec::new(),
    });
    c
}

fn fleet_of(n: usize) -> Arc<Snapshot> {
    snapshot((0..n).map(row).collect())
}

/// The next snapshot, with row `i` changed by `f` and every other row the engine's same one.
fn changed(s: &Snapshot, i: usize, f: impl FnOnce(&mut ConnectionView)) -> Arc<Snapshot> {
    let mut rows = s.connections.clone();
    // Copy-on-write, as the engine does: the changed row is a new `Arc`, the rest are shared.
    f(Arc::make_mut(&mut rows[i]));
    Arc::new(Snapshot {
        connections: rows,
        ..s.clone()
    })
}

fn probed(c: &mut ConnectionView, at: i64, latency_ms: u64) {
    c.last_probe = Some(ProbeResult {
        at,
        via: ProbeVia::Rest,
        latency_ms,
        failure: None,
        primary_failure: None,
    });
    c.probes_1h += 1;
}

/// Everything the patched fleet shows, beside what a rebuild from scratch gives.
fn assert_same_as_rebuilt(app: &App) {
    let patched = app.fleet();
    let mut fresh = Fleet::default();
    fresh.sort = patched.sort;
    fresh.descending = patched.descending;
    fresh.group = patched.group;
    fresh.filter = patched.filter.clone();
    fresh.rebuild(app.snapshot());
    assert_eq!(patched.entries(), fresh.entries());
    assert_eq!(
        patched.rows().collect::<Vec<_>>(),
        fresh.rows().collect::<Vec<_>>()
    );
    assert_eq!(patched.counts, fresh.counts);
    assert_eq!(patched.ideal, fresh.ideal);
    assert_eq!(patched.soonest_expiry, fresh.soonest_expiry);
    let rows = &app.snapshot().connections;
    assert_eq!(patched.ideal, measure(patched.rows().map(|i| &*rows[i])));
    for (pos, i) in patched.rows().enumerate() {
        assert_eq!(patched.pos_of(i), Some(pos));
    }
}

#[test]
fn a_probe_result_patches_its_row_without_a_sort_or_a_pass_over_the_fleet() {
    let first = fleet_of(500);
    let mut app = App::new(first.clone());
    let order: Vec<usize> = app.fleet().rows().collect();

    let next = changed(&first, 137, |c| probed(c, NOW, 12_345));
    app.on_snapshot(next);
    assert_eq!(
        app.fleet().intake(),
        Intake {
            changed: 1,
            sorted: false,
            rebuilt: false
        }
    );
    assert_eq!(
        app.fleet().rows().collect::<Vec<_>>(),
        order,
        "fleet order kept"
    );
    assert_same_as_rebuilt(&app);
}

#[test]
fn a_changed_sort_key_moves_only_that_row_to_where_a_sort_puts_it() {
    let first = fleet_of(500);
    let mut app = App::new(first.clone());
    app.handle_key(key('s'), NOW); // sort by health
    assert_eq!(app.fleet().sort, SortBy::Health);
    // Select a row; the selection must follow it when it moves.
    let victim = app.fleet().row(250).expect("a row at 250");
    app.select(250);
    let victim_key = app.snapshot().connections[victim].key.clone();

    let worse = if first.connections[victim].health == Health::Down {
        Health::Up
    } else {
        Health::Down
    };
    app.on_snapshot(changed(&first, victim, |c| c.health = worse));
    let intake = app.fleet().intake();
    assert_eq!(
        (intake.changed, intake.sorted, intake.rebuilt),
        (1, true, false)
    );
    assert_same_as_rebuilt(&app);
    assert_eq!(
        app.selected_key(),
        Some(&victim_key),
        "the selection followed its row"
    );
    assert_eq!(app.fleet().count(worse), first.count(worse) + 1);

    // A change that does not touch the sort key leaves the order alone.
    let before = app.snapshot.clone();
    app.on_snapshot(changed(&before, 3, |c| probed(c, NOW, 7)));
    assert!(!app.fleet().intake().sorted);
    assert_same_as_rebuilt(&app);
}

#[test]
fn a_row_that_starts_or_stops_matching_the_filter_enters_or_leaves_the_table() {
    let first = fleet_of(300);
    let mut app = App::new(first.clone());
    app.handle_key(key('/'), NOW);
    for c in "needs".chars() {
        app.handle_key(key(c), NOW);
    }
    app.handle_key(
        crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Enter),
        NOW,
    );
    let shown = app.fleet().len();
    let hidden = (0..300)
        .find(|&i| app.fleet().pos_of(i).is_none())
        .expect("a hidden row");
    let s1 = changed(&first, hidden, |c| c.health = Health::NeedsReauth);
    app.on_snapshot(s1.clone());
    assert_eq!(app.fleet().len(), shown + 1);
    assert!(app.fleet().pos_of(hidden).is_some());
    assert!(app.fleet().intake().sorted);
    assert_same_as_rebuilt(&app);

    app.on_snapshot(changed(&s1, hidden, |c| c.health = Health::Up));
    assert_eq!(app.fleet().len(), shown);
    assert!(app.fleet().pos_of(hidden).is_none());
    assert_same_as_rebuilt(&app);
}

/// Many snapshots of a few random changes each, under every sort, both directions, grouped
/// and filtered: the patched order never drifts from a rebuild.
#[test]
fn patched_orders_match_a_rebuild_under_every_sort_group_and_filter() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for (round, sort) in SortBy::ALL.into_iter().enumerate() {
        for group in [GroupBy::None, GroupBy::Connector, GroupBy::Health] {
            let mut snap = fleet_of(120);
            let mut app = App::new(snap.clone());
            app.fleet.sort = sort;
            app.fleet.descending = round % 2 == 1;
            app.fleet.group = group;
            app.fleet.filter = if round.is_multiple_of(3) {
                "o".into()
            } else {
                String::new()
            };
            app.reorder();
            for step in 0..40 {
                // Sometimes many rows at once, past the point where one sort is cheaper.
                let changes = if step % 13 == 0 { 90 } else { 1 + next(4) };
                let mut rows = snap.connections.clone();
                for _ in 0..changes {
                    let c = Arc::make_mut(&mut rows[next(120)]);
                    match next(5) {
                        0 => c.health = Health::ALL[next(Health::ALL.len())],
                        1 => probed(c, NOW - next(100_000) as i64, next(900) as u64),
                        2 => c.success_rate_1h = Some(next(11) as f64 / 10.0),
                        3 => {
                            if let Some(t) = c.token.as_mut() {
                                t.expires_at = Some(NOW + next(7_200_000) as i64 - 3_600_000);
                            }
                        }
                        _ => c.detail = Some(format!("detail {}", next(50))),
                    }
                }
                snap = Arc::new(Snapshot {
                    connections: rows,
                    ..(*snap).clone()
                });
                app.on_snapshot(snap.clone());
                assert!(
                    !app.fleet().intake().rebuilt,
                    "{sort:?} {group:?} step {step}"
                );
                assert_same_as_rebuilt(&app);
            }
        }
    }
}

#[test]
fn a_reshaped_fleet_is_rebuilt() {
    let first = fleet_of(50);
    let mut app = App::new(first);
    app.on_snapshot(fleet_of(51));
    assert!(app.fleet().intake().rebuilt);
    assert_eq!(app.fleet().len(), 51);
    assert_same_as_rebuilt(&app);
}

fn key(c: char) -> crossterm::event::KeyEvent {
    crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char(c))
}
