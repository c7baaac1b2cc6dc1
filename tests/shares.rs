//! Three daemons on three hosts (a PostgreSQL pool each, one real server) sharing a fleet's
//! partitions (`engine::shares`, issue 14): even shares, a stopped member's partitions taken
//! over under newer fences once its leases lapse on the database's clock, and shares evened out
//! again when it returns and when another leaves.

mod support;

use support::postgres::Postgres;
use switchboard::engine::shares::{PARTITIONS, Shares};
use switchboard::store::pg::PgStore;
use switchboard::store::{Grants, KeySource, Vault};

fn vault(byte: u8) -> Vault {
    Vault::from_key(&[byte; 32], KeySource::Env)
}

/// Every partition held by exactly one member; shares differ by at most one.
fn assert_split(members: &[&Shares]) {
    let mut seen = std::collections::HashSet::new();
    for m in members {
        for p in m.held() {
            assert!(seen.insert(p), "partition {p} held twice");
        }
    }
    assert_eq!(seen.len(), PARTITIONS as usize, "every partition held");
    let sizes: Vec<usize> = members.iter().map(|m| m.held().count()).collect();
    let (lo, hi) = (sizes.iter().min(), sizes.iter().max());
    assert!(hi.zip(lo).is_some_and(|(h, l)| h - l <= 1), "{sizes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_on_three_hosts_share_the_partitions_and_take_over_a_dead_ones() {
    let server = Postgres::start();
    let url = server.database("shares");
    // A pool each, as three hosts would have; leases last 1.5 s on the database's clock.
    let host = |name: &'static str| {
        let url = url.clone();
        async move {
            Shares::new(
                Grants::Shared(PgStore::connect(&url, vault(4)).await.expect("connect")),
                name,
                PARTITIONS,
                1_500,
            )
        }
    };
    let (mut a, mut b, mut c) = (
        host("host-a").await,
        host("host-b").await,
        host("host-c").await,
    );
    for _ in 0..3 {
        for m in [&mut a, &mut b, &mut c] {
            m.step().await.unwrap();
        }
    }
    assert_split(&[&a, &b, &c]);

    // c stops (SIGSTOP, a dead host): it renews nothing. Its partitions lapse with its leases
    // and a and b take them on their steps.
    let stopped = std::time::Instant::now();
    let c_held: Vec<u32> = c.held().collect();
    loop {
        a.step().await.unwrap();
        b.step().await.unwrap();
        if a.held().count() + b.held().count() == PARTITIONS as usize {
            break;
        }
        assert!(
            stopped.elapsed() < std::time::Duration::from_secs(15),
            "a dead member's partitions were not taken over"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let took = stopped.elapsed();
    a.step().await.unwrap();
    b.step().await.unwrap();
    assert_split(&[&a, &b]);
    assert!(
        took >= std::time::Duration::from_millis(1_400),
        "taken before the lease lapsed: {took:?}"
    );
    // c still believes it holds its partitions: each is now held under a newer tenure.
    for p in c_held {
        let theirs = a.fence_of(p).or(b.fence_of(p)).expect("taken over");
        assert!(c.fence_of(p).is_some_and(|f| f < theirs), "partition {p}");
    }
    // c resumes: its renewals fail, it learns what it lost, and the fleet is shared in three
    // again within a few steps.
    let step = c.step().await.unwrap();
    assert!(!step.lost.is_empty(), "{step:?}");
    for _ in 0..3 {
        for m in [&mut a, &mut b, &mut c] {
            m.step().await.unwrap();
        }
    }
    assert_split(&[&a, &b, &c]);
    a.leave().await.unwrap();
    for m in [&mut b, &mut c] {
        m.step().await.unwrap();
    }
    assert_split(&[&b, &c]);
}
