//! Re-auth marks reach every process on the data directory. A console or daemon following
//! another process's leadership used to watch token generations only; a refused grant keeps
//! its row and generation, so the follower went on showing the connection as healthy or
//! degraded while `status` said it needed re-auth.

mod support;

use std::time::Duration;

use switchboard::domain::{ConnectionKey, Health, Snapshot};
use switchboard::engine::{self, ConnectorSpec, EngineOptions, Running};
use switchboard::store::Store;

/// The lab knows its public clients only; this one is revoked at will (its own lab).
const CLIENT: &str = switchboard::lab::DOOMED_CLIENT;
/// How long a change may take to reach the other engines: their 2 s poll, with room for a
/// loaded machine. A bound for a test that would otherwise wait forever, not a speed claim.
const PATIENCE: Duration = Duration::from_secs(20);

fn spec(lab: &switchboard::lab::Lab) -> ConnectorSpec {
    support::rest_spec(
        "rest",
        &format!("{}/me", lab.rest_base),
        support::code_spec(lab, CLIENT),
    )
}

async fn start(store: Store, spec: ConnectorSpec) -> Running {
    engine::start(
        store,
        vec![spec],
        EngineOptions {
            scheduler: true,
            ..Default::default()
        },
    )
    .await
    .expect("engine starts")
}

async fn until(what: &str, engines: &[&Running], done: impl Fn(&Snapshot) -> bool) {
    let started = std::time::Instant::now();
    loop {
        if engines.iter().all(|e| done(&e.handle.snapshot())) {
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{what}: {:?}",
            engines
                .iter()
                .map(|e| e.handle.snapshot().connections.clone())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn health(s: &Snapshot, key: &ConnectionKey) -> Option<Health> {
    s.get(key).map(|c| c.health)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_and_follower_see_a_re_auth_mark_and_its_clearing() {
    let lab = support::lab(60).await;
    let (_tmp, data) = support::data_dir();
    let http = support::http();
    let key = support::key("rest");
    let spec = spec(&lab);
    // The one-shot commands (`auth`, `refresh`): a broker over a store of their own.
    let oneshot_store = support::open_store(&data);
    let oneshot = support::broker(&oneshot_store, &http, &key, &spec.auth).await;
    support::authorized(&oneshot, &http, &key, &spec.auth).await;

    let leader = start(support::open_store(&data), spec.clone()).await;
    until("the first engine leads", &[&leader], |s| s.leader).await;
    let follower = start(support::open_store(&data), spec.clone()).await;
    assert!(!follower.handle.snapshot().leader);
    let authorized = |s: &Snapshot| {
        s.get(&key)
            .is_some_and(|c| c.token.is_some() && c.health != Health::NeedsReauth)
    };
    until("both start authorized", &[&leader, &follower], authorized).await;

    // The grant dies at the AS; a one-shot `refresh` finds out and marks it in the store.
    assert!(lab.revoke_client_grants(CLIENT) >= 1);
    let refused = oneshot
        .refresh_now(&key, support::ACTOR)
        .await
        .expect_err("the grant is gone");
    assert!(refused.message.contains("needs re-auth"), "{refused}");
    until("both show needs re-auth", &[&leader, &follower], |s| {
        health(s, &key) == Some(Health::NeedsReauth)
    })
    .await;
    for e in [&leader, &follower] {
        let view = e.handle.snapshot();
        assert!(
            view.get(&key).is_some_and(|c| c.token.is_none()),
            "{view:?}"
        );
    }

    // A new grant from `switchboard auth` clears the mark everywhere.
    support::authorized(&oneshot, &http, &key, &spec.auth).await;
    until(
        "both pick up the new grant",
        &[&leader, &follower],
        authorized,
    )
    .await;

    leader.shutdown().await;
    follower.shutdown().await;
}
