//! The leader's window read is shared through the store (issue 16): reading every window of a
//! large fleet costs the store a second, so the leader publishes what it read and a one-shot
//! `status`, a follower or a console takes that instead of reading the raw rows again. Two
//! engines on one real store, the leader probing a real HTTP endpoint.

mod support;

use std::time::Duration;

use support::hostile::{Hostile, Reply};
use switchboard::domain::{ConnectionKey, now_ms};
use switchboard::engine::{self, EngineOptions};

/// One REST connector, `api`, probing a real endpoint every `every`; a data directory.
async fn one_api(
    every: &str,
) -> (
    Hostile,
    switchboard::config::Config,
    tempfile::TempDir,
    ConnectionKey,
) {
    let api = Hostile::start(|_| Reply::json(200, serde_json::json!({"ok": true}))).await;
    let config = switchboard::config::parse_str(
        &format!(
            "[[connectors]]\nid = \"api\"\nkind = \"rest\"\n[connectors.rest]\nbase_url = \"{}\"\nhealth_path = \"/health\"\n[connectors.schedule]\nprobe = \"{every}\"\n",
            api.url("")
        ),
        None,
        &|_| None,
    )
    .expect("config");
    let data = tempfile::tempdir().expect("tempdir");
    (api, config, data, ConnectionKey::new("api", "default"))
}

/// What an earlier run left: a passed probe at `at`.
async fn passed_probe(store: &switchboard::store::Store, key: &ConnectionKey, at: i64) {
    let probe = switchboard::domain::ProbeResult {
        at,
        via: switchboard::domain::ProbeVia::Rest,
        latency_ms: 7,
        failure: None,
        primary_failure: None,
    };
    store
        .record_observation(key, &probe, None)
        .await
        .expect("probe written");
}

/// A process that stays (a daemon or console's engine) on the data directory's store.
async fn scheduled(
    config: &switchboard::config::Config,
    data: &std::path::Path,
) -> engine::Running {
    engine::start(
        support::open_store(data),
        engine::fleet::from_config(config),
        EngineOptions {
            scheduler: true,
            ..EngineOptions::default()
        },
    )
    .await
    .expect("a scheduled engine starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_publishes_its_windows_and_a_one_shot_takes_them() {
    let (_api, config, data, key) = one_api("1s").await;

    // What an earlier run left: a probe a minute ago.
    let earlier = support::open_store(data.path());
    passed_probe(&earlier, &key, now_ms() - 60_000).await;
    drop(earlier);

    let leader = scheduled(&config, data.path()).await;
    // Taking the lease makes it read and publish at once, not at its next 30 s tick.
    let observer = support::open_store(data.path());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let published = loop {
        if let Some(all) = observer
            .published_windows(now_ms())
            .await
            .expect("readable")
            && all.contains_key(&key)
        {
            break all;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new leader published no windows"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let theirs = &published[&key];
    assert!(theirs.probes.five_minutes.samples >= 1, "{theirs:?}");
    // Let the probes go on past the publication: a one-shot that read the store itself would
    // count them and stamp its own time.
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    let one_shot = engine::start(
        support::open_store(data.path()),
        engine::fleet::from_config(&config),
        EngineOptions {
            history: true,
            ..EngineOptions::default()
        },
    )
    .await
    .expect("one-shot starts");
    let snapshot = one_shot.handle.snapshot();
    let shown = snapshot
        .get(&key)
        .and_then(|c| c.history.clone())
        .expect("the one-shot shows windows");
    assert_eq!(
        shown.as_of, theirs.as_of,
        "the leader's read, as of its time"
    );
    assert_eq!(shown.probes, theirs.probes);
    one_shot.shutdown().await;
    leader.shutdown().await;
}

/// A process that stays starts on the token endpoints' figures (its refresh plans rest on
/// them) and takes the probes' windows, the fleet's raw hour, from its history reader straight
/// after, not at its next 30 s tick, even when it does not lead (and so is not asked to read by
/// taking the lease). Only the store's rows can fill the hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_start_takes_the_probe_windows_straight_after_its_first_snapshot() {
    let (_api, config, data, key) = one_api("1h").await;
    // An earlier run's probes, 10 to 50 minutes ago: outside the start's 5-minute replay.
    let earlier = support::open_store(data.path());
    for i in 0..20i64 {
        passed_probe(&earlier, &key, now_ms() - 600_000 - i * 120_000).await;
    }
    // A daemon on another host leads, so only the start itself can ask for the read.
    let leads = earlier
        .acquire_lease("scheduler", "1:00000000@another-host#elsewhere", 120_000)
        .await
        .expect("lease");
    assert!(
        matches!(leads, switchboard::store::LeaseOutcome::Acquired { .. }),
        "the other daemon leads"
    );
    drop(earlier);

    let running = scheduled(&config, data.path()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let hour = running
            .handle
            .snapshot()
            .get(&key)
            .and_then(|c| c.history.clone())
            .map(|h| h.probes.hour.samples);
        if hour.is_some_and(|n| n >= 20) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the probes' windows never came: {hour:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.shutdown().await;
}
