//! The refresh instant is derived per connection and the engine keeps to it, against the real
//! lab: a connection whose token endpoint has been slow and flaky (as the store's history says)
//! is planned earlier than a steady one with the same token lifetime, the plan says why, and
//! each refresh fires no earlier than its planned instant and before the token expires.

mod support;
#[path = "support/waits.rs"]
mod waits;

use std::time::Duration;
use waits::PATIENCE;

use switchboard::domain::events::EventQuery;
use switchboard::domain::{Actor, now_ms};
use switchboard::engine::{self, EngineOptions};
use switchboard::store::EventRecord;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_endpoint_is_refreshed_earlier_and_each_refresh_keeps_its_plan() {
    let lab = support::lab(20).await;
    let (_tmp, data) = support::data_dir();
    let http = support::http();
    let store = support::open_store(&data);
    let mut specs = Vec::new();
    for id in ["steady", "flaky"] {
        let key = support::key(id);
        let mut spec = support::rest_spec(
            id,
            &format!("{}/me", lab.rest_base),
            support::code_spec(&lab, switchboard::lab::PUBLIC_CLIENT),
        );
        spec.refresh_lead = Duration::from_secs(2);
        let broker = support::broker(&store, &http, &key, &spec.auth).await;
        support::authorized(&broker, &http, &key, &spec.auth).await;
        specs.push(spec);
        // What switchboard observed of each endpoint over the last minutes: the flaky one
        // answered slowly (2.5 s) and refused 3 refreshes in 10.
        for i in 0..20i64 {
            let failed = id == "flaky" && i % 10 < 3;
            let mut e = EventRecord::new(
                Some(&key),
                "refresh",
                Actor::Scheduler,
                if failed { "failed" } else { "ok" },
            )
            .latency(if id == "flaky" { 2_500 } else { 50 });
            e.at = now_ms() - 600_000 + i * 1_000;
            store.append_event(e).await.expect("seed the history");
        }
    }
    let started_at = now_ms();
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
    let snapshot = running.handle.snapshot();
    let plan = |id: &str| {
        let c = snapshot.get(&support::key(id)).expect("row");
        let expires = c.token.as_ref().and_then(|t| t.expires_at).expect("expiry");
        let at = c.next_refresh_at.expect("a planned refresh");
        (at, expires, c.next_refresh_why.clone().unwrap_or_default())
    };
    let (steady_at, steady_expires, steady_why) = plan("steady");
    let (flaky_at, flaky_expires, flaky_why) = plan("flaky");
    assert!(
        flaky_expires - flaky_at > steady_expires - steady_at + 3_000,
        "flaky lead {} ms ({flaky_why}) vs steady {} ms ({steady_why})",
        flaky_expires - flaky_at,
        steady_expires - steady_at
    );
    // The flaky endpoint's retries would need more than half the lifetime: capped there.
    assert!(
        flaky_why.contains("half the token's lifetime"),
        "{flaky_why}"
    );
    assert!(
        !steady_why.contains("half the token's lifetime"),
        "{steady_why}"
    );

    for (id, planned, expires) in [
        ("flaky", flaky_at, flaky_expires),
        ("steady", steady_at, steady_expires),
    ] {
        let key = support::key(id);
        let began = std::time::Instant::now();
        let refreshed = loop {
            assert!(began.elapsed() < PATIENCE, "{id} was never refreshed");
            let log = running
                .handle
                .read_events(EventQuery {
                    kinds: vec!["refresh".into()],
                    since: Some(started_at),
                    ..EventQuery::for_key(&key)
                })
                .await
                .expect("event log");
            if let Some(e) = log.iter().find(|e| e.outcome == "ok") {
                break e.at;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // The event is written when the answer arrives: the request went out at or after the
        // planned instant, and the answer came before the old token expired.
        assert!(
            refreshed >= planned,
            "{id} refreshed {} ms before its plan",
            planned - refreshed
        );
        assert!(
            refreshed < expires,
            "{id} refreshed after its token expired"
        );
    }
    running.shutdown().await;
    assert_eq!(lab.stats().expired_token_uses, 0);
}
