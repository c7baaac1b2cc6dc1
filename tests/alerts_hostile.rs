//! Alert delivery against receivers that misbehave, through the real binary: `alerts test`
//! against a slow receiver, endless bodies, a 404, a redirect to another host; a daemon whose
//! receiver answers 429 with a huge or garbage `Retry-After`, or 500s, still delivers;.

#[path = "support/alerts.rs"]
mod alerts;
#[path = "support/cli.rs"]
mod cli;
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alerts::{Received, free_port, outbox, until};
use cli::{KillOnDrop, Session, parse_json};
use support::hostile::{Hostile, Reply};

const SECRET: &str = "whsec-hostile-91b3";
const GUARD: Duration = Duration::from_secs(60);

fn hook(name: &str, url: &str) -> String {
    format!(
        r#"
[[alerts]]
name = "{name}"
kind = "webhook"
url = "{url}"
secret = "{SECRET}"
min_duration = "0s"
timeout = "1s"
retry_initial = "200ms"
retry_max = "1s"
"#
    )
}

/// A connector that is down at once: nothing listens where it points.
fn dead_connector() -> String {
    format!(
        "[[connectors]]\nid = \"dead\"\nkind = \"rest\"\n[connectors.rest]\nbase_url = \"http://127.0.0.1:{}\"\n[connectors.schedule]\nprobe = \"1s\"\n[connectors.health]\ndown_after = 1\n",
        free_port()
    )
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_test_says_what_went_wrong_with_each_misbehaving_receiver() {
    let slow = Hostile::start(|_| Reply::Stall).await;
    let endless_500 = Hostile::start(|_| Reply::Endless {
        status: 500,
        headers: vec![],
        chunk: vec![b'x'; 64 * 1024],
    })
    .await;
    let endless_ok = Hostile::start(|_| Reply::Endless {
        status: 200,
        headers: vec![],
        chunk: vec![b'x'; 64 * 1024],
    })
    .await;
    let gone = Hostile::start(|_| Reply::text(404, "text/plain", "no such hook")).await;
    let elsewhere = Hostile::start(|_| Reply::text(200, "text/plain", "ok")).await;
    let target = elsewhere.url("/stolen");
    let redirect = Hostile::start(move |_| Reply::redirect(307, &target)).await;
    let moved = Arc::new(
        Hostile::start(|r| {
            if r.path() == "/old" {
                Reply::redirect(308, "/new")
            } else {
                Reply::text(200, "text/plain", "ok")
            }
        })
        .await,
    );
    let config = [
        hook("slow", &slow.url("/in")),
        hook("endless500", &endless_500.url("/in")),
        hook("endless200", &endless_ok.url("/in")),
        hook("gone", &gone.url("/in")),
        hook("redirect", &redirect.url("/in")),
        hook("moved", &moved.url("/old")),
    ]
    .concat();
    let mut s = Session::new(&config);
    let mut test = |name: &str, code: i32| {
        let run = blocking(|| s.expect(&["alerts", "test", name], code));
        run.stdout
    };

    let out = test("slow", 1);
    assert!(
        out.contains("NOT delivered") && out.contains("did not answer within 1s"),
        "{out}"
    );
    let out = test("endless500", 1);
    assert!(
        out.contains("answered 500") && out.contains("retries"),
        "{out}"
    );
    // A 2xx is an acceptance, whatever its body; the body is read only up to the cap.
    let out = test("endless200", 0);
    assert!(
        out.contains("delivered") && out.contains("(status 200)"),
        "{out}"
    );
    let out = test("gone", 1);
    assert!(
        out.contains("answered 404: no such hook") && out.contains("dropped"),
        "{out}"
    );
    let out = test("redirect", 1);
    assert!(out.contains("redirected to another host"), "{out}");
    assert!(
        elsewhere.requests().is_empty(),
        "the signed body followed the redirect"
    );
    // Within the receiver's own origin a redirect is followed, signature and all.
    test("moved", 0);
    let new = moved.requests_to("/new");
    assert_eq!(new.len(), 1);
    assert!(
        alerts::verify(
            new[0].header("switchboard-signature").unwrap_or(""),
            SECRET,
            &new[0].body
        )
        .is_ok()
    );

    // Each outcome is the channel's last delivery, as `alerts list` shows it.
    let list = blocking(|| s.expect(&["alerts", "list", "--json"], 0));
    let rows = parse_json(&list.stdout);
    let last = |name: &str| {
        rows.as_array()
            .and_then(|r| r.iter().find(|r| r["channel"] == name))
            .map(|r| r["last"].clone())
            .unwrap_or_default()
    };
    assert_eq!(last("gone")["status"], 404);
    assert_eq!(last("endless200")["ok"], true);
    assert_eq!(last("slow")["ok"], false);
    let shown = blocking(|| s.expect(&["alerts", "list"], 0)).stdout;
    assert!(
        shown.contains("last: failed at") && shown.contains("answered 404"),
        "{shown}"
    );
    let status = blocking(|| s.expect(&["status"], 0)).stdout;
    assert!(
        status.contains("alerts gone: 0 queued; last failed at"),
        "{status}"
    );
    assert!(
        status.contains("alerts endless200: 0 queued; last delivered at"),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_retries_through_429s_with_huge_or_garbage_retry_after_and_500s() {
    // Each receiver refuses its first two requests, then takes everything.
    fn flaky(
        first: Reply,
        count: Arc<AtomicUsize>,
        state: alerts::Shared,
    ) -> impl Fn(&support::hostile::Request) -> Reply + Send + Sync {
        let take = alerts::webhook(SECRET, state);
        move |r| {
            if count.fetch_add(1, Ordering::SeqCst) < 2 {
                first.clone()
            } else {
                take(r)
            }
        }
    }
    let mut receivers = Vec::new();
    let mut config = dead_connector();
    let refusals = [
        (
            "huge",
            Reply::text(429, "text/plain", "slow down").with_header("retry-after", "31536000"),
        ),
        (
            "garbage",
            Reply::text(429, "text/plain", "slow down").with_header("retry-after", "soon-ish"),
        ),
        ("fivehundred", Reply::text(503, "text/plain", "busy")),
    ];
    for (name, first) in refusals {
        let state = Arc::new(Mutex::new(Received::default()));
        let count = Arc::new(AtomicUsize::new(0));
        let h = Hostile::start(flaky(first, count.clone(), state.clone())).await;
        config.push_str(&hook(name, &h.url("/in")));
        receivers.push((name, h, state, count));
    }
    let s = Session::new(&config);
    let (mut cmd, _, _) = s.command(&["daemon"]);
    let _d = KillOnDrop(cmd.spawn().expect("daemon"));
    for (name, _h, state, count) in &receivers {
        // retry_max is 1s: a Retry-After of a year must not park the message.
        until(
            &format!("{name}: the trigger delivered after two refusals"),
            GUARD,
            || {
                state
                    .lock()
                    .map(|s| !s.processed.is_empty())
                    .unwrap_or(false)
            },
        )
        .await;
        assert!(count.load(Ordering::SeqCst) >= 3);
        let got = state
            .lock()
            .map(|s| s.processed.clone())
            .unwrap_or_default();
        assert_eq!(got[0]["event"], "trigger", "{name}");
        assert_eq!(got[0]["condition"], "down", "{name}");
    }
    until("the outbox settles", GUARD, || {
        outbox(&s.data_dir).iter().all(|r| r.1 == "sent")
    })
    .await;
    assert!(
        outbox(&s.data_dir).iter().all(|r| r.2 >= 3),
        "{:?}",
        outbox(&s.data_dir)
    );
}

fn probes_ok(data: &std::path::Path, connector: &str) -> i64 {
    rusqlite::Connection::open(data.join("switchboard.db"))
        .and_then(|db| {
            db.query_row(
                "SELECT COUNT(*) FROM probes WHERE connector = ?1 AND ok = 1",
                [connector],
                |r| r.get(0),
            )
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_does_not_hold_up_the_scheduler() {
    let stall = Hostile::start(|_| Reply::Stall).await;
    let bin = cli::BIN.replace('\\', "\\\\").replace('"', "\\\"");
    let config = format!(
        "{}
[[connectors]]
id = \"lab\"
kind = \"mcp\"
[connectors.mcp]
transport = \"stdio\"
command = \"{bin}\"
args = [\"lab\", \"mcp-stdio\"]
[connectors.schedule]
probe = \"1s\"
{}",
        dead_connector(),
        hook("stalled", &stall.url("/in")).replace("timeout = \"1s\"", "timeout = \"60s\""),
    );
    let s = Session::new(&config);
    let (mut cmd, _, _) = s.command(&["daemon"]);
    let _d = KillOnDrop(cmd.spawn().expect("daemon"));
    stall.arrived("/in", GUARD).await;
    // The alert's request hangs for up to a minute; the healthy connector's probes go on.
    let before = probes_ok(&s.data_dir, "lab");
    until(
        "three more probes of the healthy connector",
        Duration::from_secs(30),
        || probes_ok(&s.data_dir, "lab") >= before + 3,
    )
    .await;
    assert_eq!(
        stall.requests_to("/in").len(),
        1,
        "one attempt, still waiting"
    );
}
