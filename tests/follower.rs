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
        refresh_lead: Duration::from_secs(300),
        missing_env: vec![],
        problem: None,
        protocol_version: None,
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
