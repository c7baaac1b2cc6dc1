//! `daemon --listen` through the real binary against a lab process: `/metrics` is what
//! `promtool check metrics` accepts and carries the token's absolute expiry, the health state
//! and the probe counters; `/healthz` and `/readyz` answer; the shipped alert rules pass
//! `promtool check rules` and their unit tests. Hostile clients (slow, huge headers, wrong
//! method) get a bounded answer, and a port in use is a usage error that says what to do.

#[path = "support/cli.rs"]
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{KillOnDrop, LabProcess, Session, rest_connector, scrubbed};

fn config(lab: &LabProcess) -> String {
    format!(
        "{}[connectors.schedule]\nprobe = \"1s\"\n",
        rest_connector(lab, "rest")
    )
}

fn promtool() -> Option<&'static str> {
    let found = std::process::Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found && std::env::var_os("SWITCHBOARD_REQUIRE_PROMTOOL").is_some() {
        panic!("promtool is required (tests/run installs Debian's prometheus package)");
    }
    found.then_some("promtool")
}

/// One HTTP/1.1 request on a raw socket: (status, body), status 0 when the connection closed
/// unanswered. Raw, so the test controls every byte.
fn http(addr: &str, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the metrics listener");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).expect("send");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        // 0: closed without an answer.
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn get(addr: &str, path: &str) -> (u16, String) {
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
}

/// The address the daemon printed ("metrics on http://ADDR/metrics").
fn wait_for_address(stderr: &Path) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(stderr).unwrap_or_default();
        if let Some(rest) = text.split("metrics on http://").nth(1) {
            return rest.split('/').next().unwrap_or_default().to_owned();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the daemon never said where it serves metrics:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sample(metrics: &str, prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn the_daemon_serves_metrics_promtool_accepts() {
    let lab = LabProcess::start("60s");
    let mut s = Session::new(&config(&lab));
    s.expect(&["auth", "rest"], 0);

    let (mut cmd, _, err) = s.command(&["daemon", "--listen", "127.0.0.1:0"]);
    let _daemon = KillOnDrop(cmd.spawn().expect("start the daemon"));
    let addr = wait_for_address(&err);

    assert_eq!(get(&addr, "/healthz"), (200, "ok\n".into()));
    let start = Instant::now();
    while get(&addr, "/readyz").0 != 200 {
        assert!(start.elapsed() < Duration::from_secs(15), "never ready");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Probes every second: wait until at least one has been counted, and the snapshot (built
    // at most 100 ms after the event that counted it) shows it.
    let ok_probes = r#"switchboard_probes_total{connector="rest",account="default",outcome="ok"}"#;
    let up = r#"switchboard_connection_health{connector="rest",account="default",state="up"}"#;
    let start = Instant::now();
    let metrics = loop {
        let (status, body) = get(&addr, "/metrics");
        assert_eq!(status, 200, "{body}");
        if sample(&body, ok_probes).is_some_and(|n| n >= 1.0) && sample(&body, up) == Some(1.0) {
            break body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no probe counted:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let expiry = sample(
        &metrics,
        r#"switchboard_token_expiry_timestamp_seconds{connector="rest",account="default"}"#,
    )
    .unwrap_or_else(|| panic!("no expiry series:\n{metrics}"));
    // An absolute instant within the lab's 60 s lifetime, not a countdown.
    assert!(
        expiry > now - 5.0 && expiry <= now + 61.0,
        "{expiry} vs {now}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"switchboard_connection_health{connector="rest",account="default",state="up"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "switchboard_leader "),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchboard_probe_duration_seconds_bucket{"),
        "{metrics}"
    );
    for prefix in ["lab_at_", "lab_rt_"] {
        assert!(!metrics.contains(prefix), "a token in /metrics");
    }

    if let Some(promtool) = promtool() {
        let file = s.dir.path().join("scrape.txt");
        std::fs::write(&file, &metrics).unwrap();
        let out = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(&file).unwrap())
            .output()
            .expect("run promtool");
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "promtool check metrics: {}{}\n{metrics}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Hostile clients: each gets a bounded answer, and the listener keeps serving.
    let (status, _) = http(
        &addr,
        &format!(
            "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Junk: {}\r\n\r\n",
            "a".repeat(20 * 1024)
        ),
    );
    assert_eq!(status, 431, "oversized headers are refused");
    let (status, _) = http(
        &addr,
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assert_eq!(status, 405);
    assert_eq!(get(&addr, "/nope").0, 404);

    // A client that connects and says nothing is cut off rather than held forever.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 64];
    let waited = Instant::now();
    let n = slow.read(&mut buf).unwrap_or(0);
    assert!(
        waited.elapsed() < Duration::from_secs(30),
        "a silent client was held open"
    );
    let _ = n;
    assert_eq!(get(&addr, "/healthz").0, 200, "still serving");
}

#[test]
fn a_port_in_use_is_a_usage_error_that_says_what_to_do() {
    let lab = LabProcess::start("60s");
    let mut s = Session::new(&config(&lab));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let run = s.expect(&["daemon", "--listen", &addr], 2);
    assert!(
        run.stderr
            .contains(&format!("cannot listen for metrics on {addr}"))
            && run.stderr.contains("--listen or [metrics] listen"),
        "{run}"
    );
}

#[test]
fn a_bad_metrics_address_in_the_config_is_located() {
    let mut s = Session::new("[metrics]\nlisten = \"localhost\"\n");
    let run = s.expect(&["config", "check"], 2);
    assert!(run.stderr.contains("config.toml:2:"), "{run}");
    assert!(run.stderr.contains("metrics.listen"), "{run}");
}

#[test]
fn the_shipped_alert_rules_pass_promtool() {
    let Some(promtool) = promtool() else { return };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/prometheus");
    for args in [
        ["check", "rules", "rules.yml"],
        ["test", "rules", "rules_test.yml"],
    ] {
        let out = scrubbed(promtool)
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("run promtool");
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn connections_past_the_cap_are_closed_and_the_listener_recovers() {
    let lab = LabProcess::start("60s");
    let s = Session::new(&config(&lab));
    let (mut cmd, _, err) = s.command(&["daemon", "--listen", "127.0.0.1:0"]);
    let _daemon = KillOnDrop(cmd.spawn().expect("start the daemon"));
    let addr = wait_for_address(&err);
    assert_eq!(get(&addr, "/healthz").0, 200);

    // Silent clients hold every slot (until their header timeout).
    let held: Vec<TcpStream> = (0..switchboard::metrics::MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(&addr).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(&addr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut answer = Vec::new();
    let _ = extra.read_to_end(&mut answer);
    assert!(answer.is_empty(), "a connection past the cap was served");

    drop(held);
    let start = Instant::now();
    while get(&addr, "/healthz").0 != 200 {
        assert!(start.elapsed() < Duration::from_secs(15), "never recovered");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The alert outbox's depth is on `/metrics`: a connection that goes down fires an alert to a
/// receiver that refuses connections, and the undelivered message shows as the gauge.
#[test]
fn the_alert_outbox_depth_is_scraped() {
    let mut s = Session::new(
        r#"[[connectors]]
id = "dead"
kind = "rest"
[connectors.rest]
base_url = "http://127.0.0.1:9"
[connectors.schedule]
probe = "1s"

[[alerts]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:9/hook"
secret = "${HOOK_SECRET}"
min_duration = "1s"
retry_initial = "200ms"
retry_max = "1s"
"#,
    );
    s.env
        .push(("HOOK_SECRET".into(), "a-webhook-secret-for-the-test".into()));
    let (mut cmd, _, err) = s.command(&["daemon", "--listen", "127.0.0.1:0"]);
    let _daemon = KillOnDrop(cmd.spawn().expect("start the daemon"));
    let addr = wait_for_address(&err);
    let start = Instant::now();
    loop {
        let (status, body) = get(&addr, "/metrics");
        assert_eq!(status, 200, "{body}");
        if sample(&body, "switchboard_alert_outbox_depth").is_some_and(|n| n >= 1.0) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the outbox depth never rose:\n{body}\n{}",
            std::fs::read_to_string(&err).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
