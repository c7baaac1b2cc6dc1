//! Two engines on one data directory: one leads and probes, the other follows through the store
//! and shows the leader's probes without probing itself (and without counting one twice).

use std::time::Duration;

use switchboard::auth::AuthSpec;
use switchboard::config::ProbeSchedule;
use switchboard::domain::{ConnectionKey, DEFAULT_ACCOUNT};
use switchboard::engine::{self, ConnectorSpec, EngineOptions};
use switchboard::mcp::Target;
use switchboard::probe::{ProbePlan, ProbeRoute};
use switchboard::store::{KeySource, Store, Vault};

fn spec() -> ConnectorSpec {
    ConnectorSpec {
        id: "stdio".into(),
        name: "stdio".into(),
        auth: AuthSpec::None,
        plan: ProbePlan {
            route: ProbeRoute::Mcp {
                target: Target::Stdio {
                    command: env!("CARGO_BIN_EXE_switchboard").into(),
                    args: vec!["lab".into(), "mcp-stdio".into()],
                    env: vec![],
                },
                fallback: None,
            },
            timeout: Duration::from_secs(10),
        },
        probe: ProbeSchedule::Every(Duration::from_secs(1)),
        health: Default::default(),
        refresh_lead: Duration::from_secs(300),
        missing_env: vec![],
        problem: None,
        protocol_version: None,
        roots: Vec::new(),
    }
}

fn store(dir: &std::path::Path) -> Store {
    Store::open_with_vault(dir, Vault::from_key(&[9; 32], KeySource::Env)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_shows_the_leaders_probes_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let key = ConnectionKey::new("stdio", DEFAULT_ACCOUNT);
    let leader = engine::start(
        store(dir.path()),
        vec![spec()],
        EngineOptions {
            scheduler: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut waited = 0;
    while !leader.handle.snapshot().leader {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
        assert!(waited < 100, "the first engine never led");
    }
    let follower = engine::start(
        store(dir.path()),
        vec![spec()],
        EngineOptions {
            scheduler: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();

    // Let a few probes happen, then compare what each side shows.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let lead = leader.handle.snapshot();
    let follow = follower.handle.snapshot();
    assert!(!follow.leader, "only one engine leads");
    let led = lead.get(&key).unwrap().probes_1h;
    let seen = follow.get(&key).unwrap().probes_1h;
    assert!(led >= 3, "the leader probed {led} times");
    assert!(seen >= 3, "the follower saw {seen} of the leader's probes");
    // The follower only reads: it never shows more probes than were made.
    assert!(
        seen <= led + 1,
        "the follower counted {seen} for {led} probes"
    );

    leader.shutdown().await;
    follower.shutdown().await;
}

fn rest_spec(id: &str) -> ConnectorSpec {
    ConnectorSpec {
        id: id.into(),
        name: id.into(),
        auth: AuthSpec::None,
        plan: ProbePlan {
            route: ProbeRoute::Rest(switchboard::probe::RestTarget {
                url: "http://127.0.0.1:9/health".into(),
                expect_status: vec![],
            }),
            timeout: Duration::from_secs(1),
        },
        // Nobody probes on a schedule here: the test writes the leader's results itself.
        probe: ProbeSchedule::Every(Duration::from_secs(3600)),
        health: Default::default(),
        refresh_lead: Duration::from_secs(300),
        missing_env: vec![],
        problem: None,
        protocol_version: None,
        roots: Vec::new(),
    }
}

/// A probe is stamped when it starts and written when it ends: a slow one (a timeout, a
/// connection going down) is written after a faster one that started later. The follower still
/// shows it as the connection's last error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_sees_a_slow_probe_written_after_a_faster_one() {
    use switchboard::domain::{ErrorClass, Failure, ProbeResult, ProbeVia, now_ms};
    let dir = tempfile::tempdir().unwrap();
    let specs = || vec![rest_spec("fast"), rest_spec("slow")];
    let options = || EngineOptions {
        scheduler: true,
        ..Default::default()
    };
    let leader = engine::start(store(dir.path()), specs(), options())
        .await
        .unwrap();
    let mut waited = 0;
    while !leader.handle.snapshot().leader {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
        assert!(waited < 100, "the first engine never led");
    }
    let follower = engine::start(store(dir.path()), specs(), options())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!follower.handle.snapshot().leader);

    let writer = store(dir.path());
    let probe = |at, f: Failure| ProbeResult {
        at,
        via: ProbeVia::Rest,
        latency_ms: 1000,
        failure: Some(f),
        primary_failure: None,
    };
    let fast_at = now_ms();
    let fast = probe(fast_at, Failure::new(ErrorClass::Connection, "refused"));
    let fast_key = ConnectionKey::new("fast", DEFAULT_ACCOUNT);
    writer.record_probe(&fast_key, &fast).await.unwrap();
    // Let the follower read past the fast one before the slow one lands.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let slow_key = ConnectionKey::new("slow", DEFAULT_ACCOUNT);
    let slow = probe(
        fast_at - 1000,
        Failure::new(ErrorClass::Timeout, "the slow probe timed out"),
    );
    writer.record_probe(&slow_key, &slow).await.unwrap();

    let started = std::time::Instant::now();
    loop {
        let snapshot = follower.handle.snapshot();
        let shown = snapshot.get(&slow_key).and_then(|c| c.last_error.clone());
        if shown.as_ref() == slow.failure.as_ref() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the follower never showed the slow probe's failure: {shown:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    leader.shutdown().await;
    follower.shutdown().await;
}
