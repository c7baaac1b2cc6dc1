//! The daemon's log through the real binary against a lab process: a daily file in the data
//! directory, JSON lines with `--log-format json`, the level `--log-level` names (over
//! `$SWITCHBOARD_LOG`), and at debug level no access token, refresh token or client secret in
//! it while the daemon refreshes and probes.

#[path = "support/cli.rs"]
mod support;

use std::time::{Duration, Instant};

use support::{KillOnDrop, LabProcess, Session, rest_connector};

const SECRETS: [&str; 3] = ["lab_at_", "lab_rt_", "demo-service-secret"];

fn config(lab: &LabProcess) -> String {
    format!(
        r#"{}[connectors.schedule]
probe = "1s"

[[connectors]]
id = "service"
kind = "rest"
[connectors.rest]
base_url = "{}"
health_path = "/me"
[connectors.auth]
type = "client-credentials"
issuer = "{}"
client_id = "demo-service"
client_secret = "demo-service-secret"
scopes = ["api:read"]
[connectors.schedule]
probe = "1s"
"#,
        rest_connector(lab, "rest"),
        lab.rest_base,
        lab.issuer
    )
}

#[test]
fn the_daemon_logs_json_lines_at_debug_without_a_secret() {
    // 4 s tokens: the daemon refreshes several times while it runs.
    let lab = LabProcess::start("4s");
    let mut s = Session::new(&config(&lab));
    s.expect(&["auth", "rest"], 0);
    // The session's $SWITCHBOARD_LOG is debug; --log-level must win over it both ways.
    s.env.push(("SWITCHBOARD_LOG".into(), "error".into()));

    let (mut cmd, _, _) = s.command(&["daemon", "--log-format", "json", "--log-level", "debug"]);
    let daemon = KillOnDrop(cmd.spawn().expect("start the daemon"));
    let start = Instant::now();
    while lab.stats()["refresh_ok"].as_u64().unwrap_or(0) < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the daemon never refreshed: {}",
            lab.stats()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    drop(daemon);

    let files = support::log_files(&s.data_dir);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(
        files
            .iter()
            .any(|f| f.ends_with(format!("switchboard.{today}.log"))),
        "{files:?}"
    );
    let json = s.data_dir.join(format!("switchboard.{today}.jsonl"));
    assert!(files.contains(&json), "{files:?}");
    let log = std::fs::read_to_string(&json).expect("the JSON log");
    let mut debug_lines = 0;
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["fields"].is_object(),
            "{line}"
        );
        if v["level"] == "DEBUG" {
            debug_lines += 1;
        }
    }
    // A vacuous check would pass on an empty log.
    assert!(debug_lines > 5, "too few debug lines to judge:\n{log}");
    let all = support::log_text(&s.data_dir);
    for secret in SECRETS {
        assert!(!all.contains(secret), "{secret} in the log");
    }
}

#[test]
fn log_level_overrides_the_environment() {
    let lab = LabProcess::start("60s");
    let mut s = Session::new(&config(&lab));
    // Debug from the session's environment, warn from the flag: no info line may appear.
    let (mut cmd, _, _) = s.command(&["daemon", "--log-level", "warn"]);
    let daemon = KillOnDrop(cmd.spawn().expect("start the daemon"));
    std::thread::sleep(Duration::from_secs(3));
    drop(daemon);
    let log = support::log_text(&s.data_dir);
    assert!(!log.contains(" INFO ") && !log.contains(" DEBUG "), "{log}");
    // And text is the default format.
    s.expect(&["status"], 0);
    let log = support::log_text(&s.data_dir);
    assert!(log.contains(" DEBUG "), "{log}");
    assert!(!log.trim_start().starts_with('{'), "{log}");
}
