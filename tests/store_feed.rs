//! The feed between hosts (issue 14) on a real PostgreSQL: what one data directory publishes,
//! another reads after its mark and hears at commit.

mod support;

use support::postgres::Postgres;
use switchboard::domain::ConnectionKey;
use switchboard::store::pg::PgStore;
use switchboard::store::{KeySource, Vault};

fn vault(byte: u8) -> Vault {
    Vault::from_key(&[byte; 32], KeySource::Env)
}

async fn next(
    changes: &mut tokio::sync::mpsc::Receiver<switchboard::store::pg::Change>,
) -> switchboard::store::pg::Change {
    tokio::time::timeout(std::time::Duration::from_secs(5), changes.recv())
        .await
        .expect("a notice within 5 s, not a poll")
        .expect("still listening")
}

/// The feed: what one host publishes, another reads after its mark and hears at commit; its
/// own rows are skipped (its store has them), its readers' marks are ids that commit in order,
/// and old rows are forgotten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_carries_one_hosts_observations_to_the_others() {
    use switchboard::domain::{Actor, ErrorClass, Failure, ProbeResult, ProbeVia};
    use switchboard::store::pg::{Change, FeedKind};
    use switchboard::store::{EventRecord, FeedItem};
    let server = Postgres::start();
    let url = server.database("feed");
    let host_a = PgStore::connect(&url, vault(5)).await.unwrap();
    let host_b = PgStore::connect(&url, vault(5)).await.unwrap();
    let mut heard = host_b.listen().await.expect("listen");
    let start = host_b.feed_start(60_000).await.unwrap();
    assert_eq!(start, 0, "an empty feed starts at 0");

    let jira = ConnectionKey::new("jira", "ops");
    fn probe(at: i64, ok: bool) -> FeedItem {
        FeedItem::Probe {
            key: ConnectionKey::new("jira", "ops"),
            probe: ProbeResult {
                at,
                via: ProbeVia::Rest,
                latency_ms: 12,
                failure: (!ok).then(|| Failure::new(ErrorClass::Server, "503 from /me")),
                primary_failure: None,
            },
        }
    }
    let event = FeedItem::Event {
        event: EventRecord::new(Some(&jira), "refresh", Actor::Scheduler, "ok").latency(40),
    };
    let last = host_a
        .publish("dir-a", &[probe(1, true), event.clone(), probe(2, false)])
        .await
        .unwrap();
    assert_eq!(last, 3);
    let mut kinds = vec![next(&mut heard).await, next(&mut heard).await];
    kinds.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(
        kinds,
        vec![
            Change::Feed {
                kind: FeedKind::Event,
                upto: 3,
                origin: "dir-a".into()
            },
            Change::Feed {
                kind: FeedKind::Probe,
                upto: 3,
                origin: "dir-a".into()
            },
        ],
        "one notice per kind per batch"
    );

    let (probes, upto, read) = host_b
        .feed_after(start, "dir-b", FeedKind::Probe, 100)
        .await
        .unwrap();
    assert_eq!(
        probes,
        vec![probe(1, true), probe(2, false)],
        "whole, in order"
    );
    assert_eq!((upto, read), (3, 2));
    let (events, _, _) = host_b
        .feed_after(start, "dir-b", FeedKind::Event, 100)
        .await
        .unwrap();
    assert_eq!(events, vec![event]);
    // The publisher's own data directory has these in its store already.
    let (own, upto, read) = host_a
        .feed_after(start, "dir-a", FeedKind::Probe, 100)
        .await
        .unwrap();
    assert_eq!(
        (own.len(), upto, read),
        (0, 3, 2),
        "skipped, but the mark moves"
    );
    // A limit reads part, and the mark says where to go on.
    let (first, upto, read) = host_b
        .feed_after(start, "dir-b", FeedKind::Probe, 1)
        .await
        .unwrap();
    assert_eq!((first, upto, read), (vec![probe(1, true)], 1, 1));

    // Publishers racing: every id a reader sees past its mark is new to it.
    let mut racing = Vec::new();
    for i in 0..4 {
        let h = PgStore::connect(&url, vault(5)).await.unwrap();
        racing.push(tokio::spawn(async move {
            for j in 0..25 {
                h.publish(&format!("racer-{i}"), &[probe(100 + j, true)])
                    .await
                    .unwrap();
            }
        }));
    }
    let mut mark = 3;
    let mut seen = 0;
    while seen < 100 {
        let (items, upto, _) = host_b
            .feed_after(mark, "dir-b", FeedKind::Probe, 7)
            .await
            .unwrap();
        seen += items.len();
        mark = upto;
        tokio::task::yield_now().await;
    }
    for r in racing {
        r.await.unwrap();
    }
    let (rest, _, _) = host_b
        .feed_after(mark, "dir-b", FeedKind::Probe, 1000)
        .await
        .unwrap();
    assert_eq!((seen, rest.len()), (100, 0), "none skipped, none twice");

    // Rows are news: a reader from a minute ago starts after them once they are old.
    assert!(host_b.feed_start(60_000).await.unwrap() < 3);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        host_a.prune_feed(60_000).await.unwrap(),
        0,
        "young rows stay"
    );
    assert_eq!(host_a.prune_feed(100).await.unwrap(), 103);
    assert_eq!(
        host_a.publish("dir-a", &[probe(500, true)]).await.unwrap(),
        104,
        "ids go on after a prune"
    );
    assert_eq!(host_b.feed_start(60_000).await.unwrap(), 103);
}
