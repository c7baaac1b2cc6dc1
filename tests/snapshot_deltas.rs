//! Snapshots carry deltas: an engine over a real store and a real HTTP endpoint rebuilds only
//! the views of the connections that changed. A view nobody touched is the same `Arc` in the
//! next snapshot, which is how front-ends (the console, `/metrics`) find what changed without
//! comparing the whole fleet, and why a probe costs the same whatever the fleet's size.

mod support;

use std::sync::Arc;

use support::hostile::{Hostile, Reply};
use switchboard::domain::{Actor, ConnectionKey};
use switchboard::engine::{self, EngineOptions};

#[tokio::test]
async fn a_probe_rebuilds_its_own_row_and_shares_every_other() {
    let api = Hostile::start(|_| Reply::json(200, serde_json::json!({"ok": true}))).await;
    let mut config = String::new();
    for i in 0..200 {
        config.push_str(&format!(
            "[[connectors]]\nid = \"c{i:03}\"\nkind = \"rest\"\n[connectors.rest]\nbase_url = \"{}\"\nhealth_path = \"/health\"\n\n",
            api.url("")
        ));
    }
    let config = switchboard::config::parse_str(&config, None, &|_| None).expect("config");
    let data = tempfile::tempdir().expect("tempdir");
    let running = engine::start(
        support::open_store(data.path()),
        engine::fleet::from_config(&config),
        EngineOptions::default(),
    )
    .await
    .expect("engine starts");
    let before = running.handle.snapshot();
    assert_eq!(before.connections.len(), 200);

    let probed = ConnectionKey::new("c042", "default");
    running
        .handle
        .probe(probed.clone(), Actor::Cli)
        .await
        .expect("the probe runs");
    let after = running.handle.snapshot();
    assert!(after.generated_at >= before.generated_at);
    let (changed, shared): (Vec<_>, Vec<_>) = before
        .connections
        .iter()
        .zip(after.connections.iter())
        .partition(|(b, a)| !Arc::ptr_eq(b, a));
    let changed: Vec<_> = changed.iter().map(|(_, a)| a.key.clone()).collect();
    assert_eq!(changed, vec![probed.clone()], "only the probed row is new");
    assert_eq!(shared.len(), 199);
    let row = after.get(&probed).expect("the probed row by key");
    assert!(row.last_probe.as_ref().is_some_and(|p| p.ok()), "{row:?}");
    // The index is shared, not rebuilt per snapshot.
    assert!(Arc::ptr_eq(&before.index, &after.index));
    running.shutdown().await;
}
