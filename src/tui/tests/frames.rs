//! When the loop draws: the operator's input at once, the engine's changes at a bounded rate.

use std::time::Duration;

use tokio::time::Instant;

use crate::tui::{DATA_FRAME, Frames};

#[test]
fn a_burst_of_engine_changes_is_one_frame_per_slot_and_a_key_draws_at_once() {
    let start = Instant::now();
    let mut frames = Frames::new(start);
    assert!(frames.due(start), "the first frame is drawn at once");
    frames.drawn(start);
    assert!(!frames.due(start), "nothing owed after a frame");

    // Twenty snapshots and events inside one slot: none draws before the slot ends.
    let mut drawn = 0;
    for i in 0..20u32 {
        let at = start + DATA_FRAME * i / 20;
        frames.snapshot_waiting = true;
        frames.soon();
        if frames.due(at) {
            drawn += 1;
            frames.drawn(at);
        }
    }
    assert_eq!(drawn, 0, "engine changes wait for the slot");
    assert_eq!(
        frames.next(start),
        start + DATA_FRAME,
        "the loop wakes at the slot"
    );
    assert!(frames.due(start + DATA_FRAME));
    frames.drawn(start + DATA_FRAME);
    assert!(!frames.snapshot_waiting, "the frame took the snapshot in");

    // A key right after a frame draws without waiting for the slot.
    let key_at = start + DATA_FRAME + Duration::from_millis(1);
    frames.now();
    assert!(frames.due(key_at));
    frames.drawn(key_at);

    // Nothing owed: the loop sleeps until something arrives.
    assert!(frames.next(key_at) > key_at + Duration::from_secs(60));
}
