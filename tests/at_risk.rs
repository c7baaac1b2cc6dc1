//! At risk against the real lab: a connection whose refreshes keep failing turns *at risk*
//! before its token expires (a forecast, not a post-mortem), and clears once the provider
//! answers again, with both moments in the event log and no request sent with an expired token.

mod support;

use std::time::Duration;

use switchboard::domain::{Health, Snapshot};
use switchboard::engine::{self, EngineOptions};

/// A bound for a test that would otherwise wait forever on a loaded machine, not a speed claim.
const PATIENCE: Duration = Duration::from_secs(60);

async fn until(what: &str, running: &engine::Running, done: impl Fn(&Snapshot) -> bool) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_refreshes_turn_a_connection_at_risk_and_recovery_clears_it() {
    // 20 s tokens: the refresh is planned ~9 s before expiry (room for 3 attempts), so a
    // provider that keeps failing leaves less time than the attempts need.
    let lab = support::lab(20).await;
    let (_tmp, data) = support::data_dir();
    let http = support::http();
    let key = support::key("api");
    let mut spec = support::rest_spec(
        "api",
        &format!("{}/me", lab.rest_base),
        support::code_spec(&lab, switchboard::lab::PUBLIC_CLIENT),
    );
    spec.refresh_lead = Duration::from_secs(2);
    let oneshot_store = support::open_store(&data);
    let oneshot = support::broker(&oneshot_store, &http, &key, &spec.auth).await;
    support::authorized(&oneshot, &http, &key, &spec.auth).await;
    let spec_beside = spec.clone();
    let running = engine::start(
        support::open_store(&data),
        vec![spec],
        EngineOptions {
            scheduler: true,
            ..Default::default()
        },
    )
    .await
    .expect("engine starts");
    until("the first probe passes", &running, |s| {
        s.get(&key).is_some_and(|c| c.health == Health::Up)
    })
    .await;

    lab.set_refresh_failure_rate(1.0);
    until("at risk while the token is still valid", &running, |s| {
        s.get(&key).is_some_and(|c| {
            c.health == Health::AtRisk
                && c.token
                    .as_ref()
                    .and_then(|t| t.expires_at)
                    .is_some_and(|e| e > switchboard::domain::now_ms())
        })
    })
    .await;
    let view = running.handle.snapshot();
    let detail = view
        .get(&key)
        .and_then(|c| c.detail.clone())
        .unwrap_or_default();
    assert!(detail.starts_with("token expires in "), "{detail}");
    // Only the refreshing process counts its failures; a one-shot `status` beside it shows its
    // forecast from the store.
    let beside = |data: std::path::PathBuf, spec| async move {
        engine::start(
            support::open_store(&data),
            vec![spec],
            EngineOptions {
                history: true,
                ..Default::default()
            },
        )
        .await
        .expect("a one-shot engine starts")
    };
    let status = beside(data.clone(), spec_beside.clone()).await;
    let seen = status.handle.snapshot();
    let row = seen.get(&key).expect("row");
    assert_eq!(row.health, Health::AtRisk, "{row:?}");
    assert!(
        row.detail
            .as_deref()
            .is_some_and(|d| d.starts_with("token expires in ")),
        "{row:?}"
    );
    status.shutdown().await;

    let refused = lab.set_refresh_failure_rate(0.0);
    assert!(refused >= 1, "the lab refused refreshes");
    until("recovered", &running, |s| {
        s.get(&key)
            .is_some_and(|c| c.health != Health::AtRisk && c.refresh_count >= 1)
    })
    .await;
    running.shutdown().await;
    let status = beside(data.clone(), spec_beside).await;
    assert_ne!(
        status.handle.snapshot().get(&key).map(|c| c.health),
        Some(Health::AtRisk)
    );
    status.shutdown().await;

    let events = oneshot_store
        .events(Some(&key), Some("at_risk"), 10)
        .await
        .expect("event log");
    let outcomes: Vec<&str> = events.iter().rev().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, ["failed", "ok"], "{events:?}");
    assert_eq!(lab.stats().expired_token_uses, 0);
}
