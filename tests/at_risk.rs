//! At risk against the real lab: a connection whose refreshes keep failing turns *at risk*
//! before its token expires (a forecast, not a post-mortem), and clears once the provider
//! answers again, with both moments in the event log and no request sent with an expired token.

#[path = "support/cli.rs"]
mod cli;
mod support;
#[path = "support/waits.rs"]
mod waits;

use std::time::Duration;
use waits::{PATIENCE, until};

use switchboard::domain::Health;
use switchboard::engine::{self, EngineOptions};

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

/// The demo shows it: `lab-flaky`'s provider fails its refreshes for a while, the connection
/// turns at risk while its token is still valid, and recovers before the token expires; seen
/// from outside, as an operator would, through `status --json` beside the headless demo.
#[test]
fn the_demo_shows_a_connection_at_risk_and_its_recovery() {
    use std::io::BufRead;
    // 30 s tokens are refreshed at half-life; refreshes fail from 1 s to 19 s after start, so
    // the fourth failure in a row at the latest turns it at risk, and the retry after the
    // outage (backoff 4-8 s) still lands before the token expires.
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("demo");
    let mut child = cli::KillOnDrop(
        cli::scrubbed(cli::BIN)
            .args(["--data-dir"])
            .arg(&data)
            .args([
                "demo",
                "--headless",
                "--token-ttl",
                "30s",
                "--revoke-after",
                "1h",
            ])
            .args(["--flaky-after", "1s", "--flaky-for", "18s"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the demo"),
    );
    let mut line = String::new();
    std::io::BufReader::new(child.0.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the demo's first line");
    // "switchboard demo: lab at URL, data in DIR, config PATH"
    let lab = line
        .split("lab at ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap_or_else(|| panic!("no lab URL in {line:?}"))
        .to_owned();
    let config = data.join("config.toml");
    let status = || {
        let out = cli::scrubbed(cli::BIN)
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .args(["status", "--json"])
            .output()
            .expect("status");
        let v = cli::parse_json(&String::from_utf8_lossy(&out.stdout));
        v.as_array()
            .and_then(|rows| rows.iter().find(|r| r["connector"] == "lab-flaky").cloned())
            .unwrap_or_else(|| panic!("no lab-flaky in {v}"))
    };
    let started = std::time::Instant::now();
    let first_expiry = status()["expires_at"].clone();
    let mut seen_at_risk = None;
    loop {
        assert!(started.elapsed() < PATIENCE, "no at risk and recovery seen");
        let row = status();
        if row["health"] == "at_risk" && seen_at_risk.is_none() {
            seen_at_risk = Some(row.clone());
        }
        if seen_at_risk.is_some() && row["health"] == "up" && row["expires_at"] != first_expiry {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let risk = seen_at_risk.expect("at risk seen");
    let detail = risk["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("token expires in ") && detail.contains("refresh failure(s) in a row"),
        "{risk}"
    );
    let stats = cli::curl_json(&[&format!("{lab}/admin/stats")]);
    assert_eq!(stats["expired_token_uses"], 0, "{stats}");
    assert!(stats["refresh_failed"].as_u64() >= Some(3), "{stats}");
}
