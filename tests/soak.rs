//! The soak: a fleet on ~30 s tokens against a provider that refuses 30% of refreshes, probed
//! every 2 s (each probe presents the token). Nothing may reach the API with an expired token,
//! no grant may be lost, and every connection that turned *at risk* must recover.
//!
//! `tests/run` runs it for 2 minutes (four token lifetimes); the 10-minute run is
//! `SWITCHBOARD_SOAK_SECS=600 cargo test --release --test soak -- --nocapture`.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use switchboard::domain::{ConnectionKey, Health, now_ms};
use switchboard::engine::{self, EngineOptions};

const CONNECTIONS: usize = 10;
const TOKEN_TTL_SECS: u64 = 30;
const FAILURE_RATE: f64 = 0.3;

#[derive(Default, Debug)]
struct Episodes {
    /// When each connection turned at risk and, once over, how it ended.
    started: HashMap<ConnectionKey, i64>,
    recovered: u32,
    total: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_provider_never_costs_an_expired_token_or_a_grant() {
    let secs: u64 = std::env::var("SWITCHBOARD_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let lab = support::lab(TOKEN_TTL_SECS).await;
    let (_tmp, data) = support::data_dir();
    let http = support::http();
    let store = support::open_store(&data);
    let mut specs = Vec::new();
    for i in 0..CONNECTIONS {
        let id = format!("api{i}");
        let key = support::key(&id);
        let mut spec = support::rest_spec(
            &id,
            &format!("{}/me", lab.rest_base),
            support::code_spec(&lab, switchboard::lab::PUBLIC_CLIENT),
        );
        spec.probe = switchboard::config::ProbeSchedule::Every(Duration::from_secs(2));
        spec.refresh_lead = Duration::from_secs(5);
        let broker = support::broker(&store, &http, &key, &spec.auth).await;
        support::authorized(&broker, &http, &key, &spec.auth).await;
        specs.push(spec);
    }
    let running = engine::start(
        support::open_store(&data),
        specs,
        EngineOptions {
            scheduler: true,
            ..Default::default()
        },
    )
    .await
    .expect("engine starts");
    lab.set_refresh_failure_rate(FAILURE_RATE);

    let started = Instant::now();
    let mut episodes = Episodes::default();
    let mut watch = running.handle.watch();
    let mut worst = Health::Up;
    while started.elapsed() < Duration::from_secs(secs) {
        let _ = tokio::time::timeout(Duration::from_millis(500), watch.changed()).await;
        let snapshot = watch.borrow_and_update().clone();
        for c in &snapshot.connections {
            let at_risk = c.health == Health::AtRisk;
            match (at_risk, episodes.started.contains_key(&c.key)) {
                (true, false) => {
                    episodes.started.insert(c.key.clone(), now_ms());
                    episodes.total += 1;
                }
                (false, true) if c.health != Health::NeedsReauth => {
                    episodes.started.remove(&c.key);
                    episodes.recovered += 1;
                }
                _ => {}
            }
            if c.health.severity() < worst.severity() {
                worst = c.health;
            }
            assert_ne!(c.health, Health::NeedsReauth, "a grant was lost: {c:?}");
        }
    }
    // The provider recovers: whatever is at risk now must come back.
    let refused = lab.set_refresh_failure_rate(0.0);
    let settle = Instant::now();
    while !episodes.started.is_empty() {
        assert!(
            settle.elapsed() < Duration::from_secs(60),
            "still at risk after the provider recovered: {episodes:?}"
        );
        let snapshot = running.handle.snapshot();
        episodes.started.retain(|k, _| {
            let still = snapshot.get(k).is_some_and(|c| c.health == Health::AtRisk);
            if !still {
                episodes.recovered += 1;
            }
            still
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.shutdown().await;
    let stats = lab.stats();
    println!(
        "soak: {secs} s, {CONNECTIONS} connections, {TOKEN_TTL_SECS} s tokens, {:.0}% refreshes refused: {} refreshes ok, {refused} refused; {} at-risk episodes, {} recovered; worst state {}; {} requests with an expired token; {} API requests",
        FAILURE_RATE * 100.0,
        stats.refresh_ok,
        episodes.total,
        episodes.recovered,
        worst.label(),
        stats.expired_token_uses,
        stats.rest_requests,
    );
    assert_eq!(stats.expired_token_uses, 0, "{stats:?}");
    assert_eq!(stats.reuse_detected, 0, "{stats:?}");
    assert_eq!(episodes.recovered, episodes.total);
    // Every connection kept being refreshed through the whole run.
    let lifetimes = secs / TOKEN_TTL_SECS;
    assert!(
        stats.refresh_ok >= CONNECTIONS as u64 * lifetimes,
        "{} refreshes for {CONNECTIONS} connections over {lifetimes} lifetimes",
        stats.refresh_ok
    );
    assert!(refused > 0, "the provider refused nothing: not a soak");
}
