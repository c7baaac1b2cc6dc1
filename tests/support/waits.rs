//! Waiting for the engine in tests: for a snapshot that satisfies a condition, or for the next
//! event that matches. Bounded, so a test that would otherwise wait forever fails and says
//! what it waited for; the bound is patience on a loaded machine, not a speed claim.

// Shared by several test binaries; each uses a subset.
#![allow(dead_code)]

use std::time::Duration;

use switchboard::domain::Snapshot;
use switchboard::engine::{Event, Running};
use tokio::sync::broadcast;

pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls the engine's snapshot until `done` holds.
pub async fn until(what: &str, running: &Running, done: impl Fn(&Snapshot) -> bool) {
    let started = std::time::Instant::now();
    loop {
        let s = running.handle.snapshot();
        if done(&s) {
            return;
        }
        assert!(started.elapsed() < PATIENCE, "{what}: {:?}", s.connections);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first event `pick` turns into a value; events missed by lagging are skipped.
pub async fn next_matching<T>(
    events: &mut broadcast::Receiver<Event>,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> T {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match events.recv().await {
                Ok(e) => {
                    if let Some(t) = pick(e) {
                        return t;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    })
    .await
    .expect("no such event within the test's patience")
}
