//! Alerts through the real binary: a daemon against the lab, with receivers on loopback. A
//! revoked grant fires once per channel, reminds, and resolves after re-auth (webhook verified
//! by signature, Slack and PagerDuty bodies checked); a receiver that is down gets every alert
//! once it is back, once each by dedup key; a daemon killed with -9 while the outbox holds
//! alerts delivers them after a restart.

#[path = "support/alerts.rs"]
mod alerts;
#[path = "support/cli.rs"]
mod cli;
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use alerts::{Received, events, outbox, replay, until_in};
use cli::{KillOnDrop, LabProcess, Session, files_under, parse_json, rest_connector};
use serde_json::Value;
use support::hostile::{Hostile, Reply};

const SECRET: &str = "whsec-alerts-test-5f2c9a71";
const ROUTING: &str = "pd-routing-R0UT1NG-KEY-77";
const GUARD: Duration = Duration::from_secs(60);

fn connector(lab: &LabProcess) -> String {
    format!(
        "{}[connectors.schedule]\nprobe = \"1s\"\n[connectors.health]\n# The lab's REST API fails 10% of probes; none of these tests is about down.\ndown_after = 50\n",
        rest_connector(lab, "rest")
    )
}

fn webhook_channel(url: &str, remind: &str) -> String {
    format!(
        r#"
[[alerts]]
name = "hook"
kind = "webhook"
url = "{url}"
secret = "${{HOOK_SECRET}}"
min_duration = "1s"
remind_every = "{remind}"
timeout = "2s"
retry_initial = "200ms"
retry_max = "1s"
"#
    )
}

fn session(config: &str) -> Session {
    let mut s = Session::new(config);
    s.env.push(("HOOK_SECRET".into(), SECRET.into()));
    s.env.push(("PD_KEY".into(), ROUTING.into()));
    s
}

fn daemon(s: &Session) -> KillOnDrop {
    let (mut cmd, _, _) = s.command(&["daemon"]);
    KillOnDrop(cmd.spawn().expect("start the daemon"))
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// The lab forgets the grant and a one-shot `refresh` finds out (exit 3): the store marks the
/// connection as needing re-auth, which the daemon follows.
fn revoke(lab: &LabProcess, s: &mut Session) {
    blocking(|| {
        assert!(lab.revoke_client("demo-console") >= 1);
        s.expect(&["refresh", "rest"], 3);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_fires_once_reminds_and_resolves_after_re_auth_on_every_channel() {
    let hook_state = Arc::new(Mutex::new(Received::default()));
    let hook = Hostile::start(alerts::webhook(SECRET, hook_state.clone())).await;
    let slack = Hostile::start(|_| Reply::text(200, "text/plain", "ok")).await;
    let pd = Hostile::start(|_| {
        Reply::json(
            202,
            serde_json::json!({"status": "success", "message": "Event processed"}),
        )
    })
    .await;
    let lab = blocking(|| LabProcess::start("60s"));
    let config = format!(
        "{}{}
[[alerts]]
name = \"slack\"
kind = \"slack\"
url = \"{}\"
min_duration = \"1s\"
retry_initial = \"200ms\"
retry_max = \"1s\"

[[alerts]]
name = \"pd\"
kind = \"pagerduty\"
url = \"{}\"
routing_key = \"${{PD_KEY}}\"
on = [\"needs_reauth\"]
min_duration = \"1s\"
retry_initial = \"200ms\"
retry_max = \"1s\"
",
        connector(&lab),
        webhook_channel(&hook.url("/in"), "3s"),
        slack.url("/services/T0/B0/slacksecretpath"),
        pd.url("/v2/enqueue"),
    );
    let mut s = session(&config);
    blocking(|| s.expect(&["auth", "rest"], 0));
    let mut d = daemon(&s);

    revoke(&lab, &mut s);
    until_in(&s.data_dir, "the webhook's trigger", GUARD, || {
        !events(&hook_state, "trigger").is_empty()
    })
    .await;
    until_in(&s.data_dir, "a reminder", GUARD, || {
        !events(&hook_state, "remind").is_empty()
    })
    .await;
    blocking(|| s.expect(&["auth", "rest"], 0));
    until_in(&s.data_dir, "the webhook's resolve", GUARD, || {
        !events(&hook_state, "resolve").is_empty()
    })
    .await;
    until_in(&s.data_dir, "PagerDuty's resolve", GUARD, || {
        pd.requests()
            .iter()
            .any(|r| r.body_str().contains("\"resolve\""))
    })
    .await;
    until_in(&s.data_dir, "Slack's resolve", GUARD, || {
        slack
            .requests()
            .iter()
            .any(|r| r.body_str().contains("recovered"))
    })
    .await;

    // The webhook: every request verified; one trigger, reminders, one resolve, one incident.
    let triggers = events(&hook_state, "trigger");
    let resolves = events(&hook_state, "resolve");
    assert_eq!(triggers.len(), 1, "{triggers:?}");
    assert_eq!(resolves.len(), 1, "{resolves:?}");
    let t = &triggers[0];
    assert_eq!(
        (t["connector"].as_str(), t["condition"].as_str()),
        (Some("rest"), Some("needs_reauth"))
    );
    assert_eq!(t["fix"], "switchboard auth rest");
    let incident = t["incident"].clone();
    for b in events(&hook_state, "remind").iter().chain(&resolves) {
        assert_eq!(b["incident"], incident, "{b}");
    }
    assert!(
        hook_state
            .lock()
            .map(|s| s.refused.is_empty())
            .unwrap_or(false)
    );

    // A replay of a captured request is taken as already seen; re-dated, it does not verify.
    let first = hook
        .requests_to("/in")
        .into_iter()
        .next()
        .expect("a webhook request");
    let sig = first
        .header("switchboard-signature")
        .unwrap_or_default()
        .to_owned();
    let processed_before = hook_state.lock().map(|s| s.processed.len()).unwrap_or(0);
    let (status, body) = replay(&hook, &first, sig.clone()).await;
    assert_eq!((status, body.contains("duplicate")), (200, true), "{body}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let v1 = sig.split(",v1=").nth(1).unwrap_or_default();
    let (status, _) = replay(&hook, &first, format!("t={now},v1={v1}")).await;
    assert_eq!(status, 401, "a re-dated signature must not verify");
    assert_eq!(
        hook_state.lock().map(|s| s.processed.len()).unwrap_or(0),
        processed_before
    );

    // Slack: a readable message with the connection, the state and the fixing command.
    let slack_texts: Vec<String> = slack
        .requests()
        .iter()
        .map(|r| {
            parse_json(&r.body_str())["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(
        slack_texts[0].contains("rest needs re-auth since"),
        "{slack_texts:?}"
    );
    assert!(
        slack_texts[0].contains("Fix: `switchboard auth rest`"),
        "{slack_texts:?}"
    );
    assert!(
        slack_texts
            .last()
            .is_some_and(|t| t.contains("rest recovered")),
        "{slack_texts:?}"
    );

    // PagerDuty: a trigger and a resolve with one dedup_key and the routing key.
    let pd_bodies: Vec<Value> = pd
        .requests()
        .iter()
        .map(|r| parse_json(&r.body_str()))
        .collect();
    let trigger = pd_bodies
        .iter()
        .find(|b| b["event_action"] == "trigger")
        .expect("a trigger");
    let resolve = pd_bodies
        .iter()
        .find(|b| b["event_action"] == "resolve")
        .expect("a resolve");
    assert_eq!(trigger["routing_key"], ROUTING);
    assert_eq!(trigger["dedup_key"], resolve["dedup_key"]);
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["source"], "switchboard");
    assert!(
        trigger["payload"]["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("rest")
    );
    assert_eq!(
        pd_bodies
            .iter()
            .filter(|b| b["event_action"] == "trigger")
            .count(),
        1
    );

    // `alerts list` shows each channel's last delivery, through the engine.
    let list = blocking(|| s.expect(&["alerts", "list", "--json"], 0));
    let rows = parse_json(&list.stdout);
    for name in ["hook", "slack", "pd"] {
        let row = rows
            .as_array()
            .and_then(|r| r.iter().find(|r| r["channel"] == name))
            .unwrap_or_else(|| panic!("{name} missing: {rows}"));
        assert_eq!(row["last"]["ok"], true, "{row}");
    }
    let _ = d.0.kill();
    let _ = d.0.wait();

    // No secret in the data directory (log, database) or in anything printed.
    for path in files_under(&s.data_dir) {
        let bytes = std::fs::read(&path).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        for secret in [SECRET, ROUTING, "slacksecretpath"] {
            assert!(!text.contains(secret), "{secret} in {}", path.display());
        }
    }
    for run in &s.transcript {
        for secret in [SECRET, ROUTING, "slacksecretpath"] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "{run}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_was_down_gets_every_alert_once_it_is_back_once_each() {
    let port = alerts::free_port();
    let lab = blocking(|| LabProcess::start("60s"));
    let url = format!("http://127.0.0.1:{port}/in");
    let mut s = session(&format!(
        "{}{}",
        connector(&lab),
        webhook_channel(&url, "1s")
    ));
    blocking(|| s.expect(&["auth", "rest"], 0));
    let _d = daemon(&s);

    revoke(&lab, &mut s);
    // Nobody listens: the trigger and reminders pile up, each tried more than once.
    until_in(
        &s.data_dir,
        "a trigger and two reminders queued and retried",
        GUARD,
        || {
            let rows = outbox(&s.data_dir);
            rows.len() >= 3 && rows[0].2 >= 2 && rows.iter().all(|r| r.1 == "pending")
        },
    )
    .await;
    blocking(|| s.expect(&["auth", "rest"], 0));
    until_in(&s.data_dir, "the resolve queued", GUARD, || {
        outbox(&s.data_dir)
            .iter()
            .any(|r| r.0.ends_with("/resolve"))
    })
    .await;

    let state = Arc::new(Mutex::new(Received::default()));
    let _hook = Hostile::start_at(
        &format!("127.0.0.1:{port}"),
        alerts::webhook(SECRET, state.clone()),
    )
    .await;
    until_in(&s.data_dir, "every queued alert delivered", GUARD, || {
        let rows = outbox(&s.data_dir);
        !rows.is_empty() && rows.iter().all(|r| r.1 == "sent")
    })
    .await;
    let rows = outbox(&s.data_dir);
    let got = state
        .lock()
        .map(|s| s.processed.clone())
        .unwrap_or_default();
    let keys: Vec<&str> = got.iter().filter_map(|b| b["dedup_key"].as_str()).collect();
    let queued: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(keys, queued, "every queued alert, in order, once each");
    assert_eq!(
        got.first().map(|b| b["event"].clone()),
        Some("trigger".into())
    );
    assert_eq!(
        got.last().map(|b| b["event"].clone()),
        Some("resolve".into())
    );
    assert!(state.lock().map(|s| s.refused.is_empty()).unwrap_or(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_queued_when_the_daemon_is_killed_are_delivered_after_a_restart() {
    let port = alerts::free_port();
    let lab = blocking(|| LabProcess::start("60s"));
    let url = format!("http://127.0.0.1:{port}/in");
    let mut s = session(&format!(
        "{}{}",
        connector(&lab),
        webhook_channel(&url, "0s")
    ));
    blocking(|| s.expect(&["auth", "rest"], 0));
    let mut first = daemon(&s);
    revoke(&lab, &mut s);
    until_in(&s.data_dir, "the trigger queued", GUARD, || {
        outbox(&s.data_dir)
            .iter()
            .any(|r| r.1 == "pending" && r.2 >= 1)
    })
    .await;
    // SIGKILL: no shutdown path runs.
    first.0.kill().expect("kill -9");
    let _ = first.0.wait();
    let queued = outbox(&s.data_dir);
    assert_eq!(queued.len(), 1, "{queued:?}");

    let state = Arc::new(Mutex::new(Received::default()));
    let _hook = Hostile::start_at(
        &format!("127.0.0.1:{port}"),
        alerts::webhook(SECRET, state.clone()),
    )
    .await;
    let mut second = daemon(&s);
    until_in(
        &s.data_dir,
        "the queued trigger delivered by the new daemon",
        GUARD,
        || {
            if let Ok(Some(status)) = second.0.try_wait() {
                panic!("the new daemon exited: {status:?}");
            }
            outbox(&s.data_dir).iter().all(|r| r.1 == "sent")
        },
    )
    .await;
    // The new leader carried the incident on: it did not fire a second trigger.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = state
        .lock()
        .map(|s| s.processed.clone())
        .unwrap_or_default();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["dedup_key"].as_str(), Some(queued[0].0.as_str()));
    assert_eq!(outbox(&s.data_dir).len(), 1);
}
