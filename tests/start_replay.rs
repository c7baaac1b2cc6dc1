//! What a starting engine knows of each connection's probes (issue 16). It replays only the
//! last minutes of the probe log (at 10,000 connections an hour is over a million rows), and
//! a connection probed less often than that, or not at all while no process ran, still shows
//! its last probes and the verdict they give, read from a real store.

mod support;

use switchboard::domain::{ConnectionKey, ErrorClass, Failure, Health, ProbeResult, ProbeVia};
use switchboard::engine::{self, EngineOptions};

fn probe(at: i64, ok: bool) -> ProbeResult {
    ProbeResult {
        at,
        via: ProbeVia::Rest,
        latency_ms: 12,
        failure: (!ok).then(|| Failure::new(ErrorClass::Server, "HTTP 503")),
        primary_failure: None,
    }
}

#[tokio::test]
async fn a_connection_probed_before_the_replay_keeps_its_last_probes_and_their_verdict() {
    let config = switchboard::config::parse_str(
        "[[connectors]]\nid = \"hourly\"\nkind = \"rest\"\n[connectors.rest]\nbase_url = \"http://127.0.0.1:9\"\n[connectors.schedule]\nprobe = \"1h\"\n\n\
         [[connectors]]\nid = \"busy\"\nkind = \"rest\"\n[connectors.rest]\nbase_url = \"http://127.0.0.1:9\"\n\n\
         [[connectors]]\nid = \"never\"\nkind = \"rest\"\n[connectors.rest]\nbase_url = \"http://127.0.0.1:9\"\n",
        None,
        &|_| None,
    )
    .expect("config");
    let data = tempfile::tempdir().expect("tempdir");
    let store = support::open_store(data.path());
    let now = switchboard::domain::now_ms();
    let minute = 60_000;
    let hourly = ConnectionKey::new("hourly", "default");
    let busy = ConnectionKey::new("busy", "default");
    // The hourly connection: up three hours ago, then three failures in a row, the last 40
    // minutes ago. The busy one: a pass a minute ago, inside the replay.
    for (at, ok) in [
        (now - 180 * minute, true),
        (now - 120 * minute, false),
        (now - 80 * minute, false),
        (now - 40 * minute, false),
    ] {
        store
            .record_observation(&hourly, &probe(at, ok), None)
            .await
            .expect("probe written");
    }
    store
        .record_observation(&busy, &probe(now - minute, true), None)
        .await
        .expect("probe written");

    let running = engine::start(
        store,
        engine::fleet::from_config(&config),
        EngineOptions::default(),
    )
    .await
    .expect("engine starts");
    let snapshot = running.handle.snapshot();
    let row = |id: &str| {
        snapshot
            .get(&ConnectionKey::new(id, "default"))
            .unwrap_or_else(|| panic!("{id} in the snapshot"))
            .clone()
    };

    let h = row("hourly");
    let last = h
        .last_probe
        .as_ref()
        .expect("the hourly connection's last probe");
    assert_eq!(last.at, now - 40 * minute);
    assert!(!last.ok());
    assert_eq!(h.health, Health::Down, "three failures in a row: {h:?}");
    assert!(
        h.last_error
            .as_ref()
            .is_some_and(|e| e.message.contains("503")),
        "{h:?}"
    );

    let b = row("busy");
    assert_eq!(b.last_probe.as_ref().map(|p| p.at), Some(now - minute));
    assert_eq!(b.health, Health::Up, "{b:?}");

    // Never probed: nothing made up.
    let n = row("never");
    assert!(n.last_probe.is_none(), "{n:?}");
    running.shutdown().await;
}
