//! Pause and resume against the real lab: a paused connection is neither probed nor refreshed
//! (even past its token's expiry), calls are refused with the command that resumes it, the
//! pause survives a restart, and a `resume` from another process wakes the running leader,
//! which refreshes the expired token before anything uses it.

#[path = "support/cli.rs"]
mod cli;
mod support;
#[path = "support/waits.rs"]
mod waits;

use std::time::Duration;
use waits::until;

use cli::{LabProcess, Session, rest_connector};
use switchboard::domain::events::EventQuery;
use switchboard::domain::{Actor, Health, now_ms};
use switchboard::engine::{self, EngineOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_connection_is_left_alone_until_resumed_from_anywhere() {
    let lab = support::lab(4).await;
    let (_tmp, data) = support::data_dir();
    let http = support::http();
    let key = support::key("api");
    let mut spec = support::rest_spec(
        "api",
        &format!("{}/me", lab.rest_base),
        support::code_spec(&lab, switchboard::lab::PUBLIC_CLIENT),
    );
    spec.probe = switchboard::config::ProbeSchedule::Every(Duration::from_secs(1));
    spec.refresh_lead = Duration::from_secs(1);
    let setup = support::open_store(&data);
    let broker = support::broker(&setup, &http, &key, &spec.auth).await;
    support::authorized(&broker, &http, &key, &spec.auth).await;
    let start = |scheduler| {
        let (data, spec) = (data.clone(), spec.clone());
        async move {
            engine::start(
                support::open_store(&data),
                vec![spec],
                EngineOptions {
                    scheduler,
                    ..Default::default()
                },
            )
            .await
            .expect("engine starts")
        }
    };

    let running = start(true).await;
    until("up", &running, |s| {
        s.get(&key).is_some_and(|c| c.health == Health::Up)
    })
    .await;
    running
        .handle
        .set_paused(key.clone(), true, Actor::Console)
        .await
        .expect("pause");
    let view = running.handle.snapshot();
    let row = view.get(&key).expect("row");
    assert_eq!(
        (row.health, row.paused, row.next_refresh_at),
        (Health::Paused, true, None)
    );
    assert!(
        row.detail
            .as_deref()
            .is_some_and(|d| d.contains("switchboard resume api")),
        "{row:?}"
    );
    // A probe that was already running when the pause landed may still finish.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = lab.stats();
    // Past the token's whole life: an unpaused connection would be probed ~5 times and
    // refreshed at least once.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = lab.stats();
    assert_eq!(
        after.rest_requests, before.rest_requests,
        "probed while paused"
    );
    assert_eq!(
        after.token_requests, before.token_requests,
        "refreshed while paused"
    );
    let refused = running.handle.refresh(key.clone(), Actor::Console).await;
    let message = refused
        .expect_err("a paused connection refuses a refresh")
        .message;
    assert!(
        message.contains("is paused") && message.contains("switchboard resume api"),
        "{message}"
    );
    assert!(
        running
            .handle
            .probe(key.clone(), Actor::Console)
            .await
            .is_err()
    );
    running.shutdown().await;

    // Kept in the store: a restarted leader still leaves it alone.
    let running = start(true).await;
    assert_eq!(
        running.handle.snapshot().get(&key).map(|c| c.health),
        Some(Health::Paused)
    );
    let expired = running
        .handle
        .snapshot()
        .get(&key)
        .and_then(|c| c.token.as_ref().and_then(|t| t.expires_at))
        .expect("expiry");
    assert!(expired < now_ms(), "the token died while paused");

    // Resumed by another process (a one-shot engine, as `switchboard resume` runs): the leader
    // follows the store, refreshes the dead token first, and probes again.
    let other = start(false).await;
    other
        .handle
        .set_paused(key.clone(), false, Actor::Cli)
        .await
        .expect("resume");
    other.shutdown().await;
    until("refreshed and up after resume", &running, |s| {
        s.get(&key).is_some_and(|c| {
            c.health == Health::Up && c.token.as_ref().and_then(|t| t.expires_at) > Some(now_ms())
        })
    })
    .await;
    let log = running
        .handle
        .read_events(EventQuery {
            kinds: vec!["pause".into(), "resume".into()],
            ..EventQuery::for_key(&key)
        })
        .await
        .expect("event log");
    let seen: Vec<(&str, Actor)> = log.iter().map(|e| (e.kind.as_str(), e.actor)).collect();
    assert_eq!(seen, [("pause", Actor::Console), ("resume", Actor::Cli)]);
    running.shutdown().await;
    assert_eq!(lab.stats().expired_token_uses, 0);
}

#[test]
fn pause_and_resume_from_the_command_line() {
    let lab = LabProcess::start("600s");
    let mut s = Session::new(&rest_connector(&lab, "api"));
    s.expect(&["auth", "api"], 0);
    let run = s.expect(&["pause", "api"], 0);
    assert!(run.stdout.contains("switchboard resume api"), "{run}");
    let status = s.expect(&["status", "--json"], 0);
    let v = cli::parse_json(&status.stdout);
    let row = &v[0];
    assert_eq!(
        (row["health"].as_str(), row["paused"].as_bool()),
        (Some("paused"), Some(true)),
        "{v}"
    );
    let refused = s.run(&["refresh", "api"]);
    assert_ne!(refused.code, 0, "{refused}");
    assert!(refused.stderr.contains("is paused"), "{refused}");
    s.expect(&["resume", "api"], 0);
    let status = s.expect(&["status", "--json"], 0);
    let v = cli::parse_json(&status.stdout);
    assert_eq!(v[0]["paused"].as_bool(), Some(false), "{v}");
    s.expect(&["refresh", "api"], 0);
    let unknown = s.run(&["pause", "nope"]);
    assert_eq!(unknown.code, 2, "{unknown}");
}
