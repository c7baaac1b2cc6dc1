//! `auth --device` and `revoke` through the real binary against a lab process
//! (`switchboard lab serve`, whose device endpoint approves on its own after 2 s).

// Shared with tests/cli_lab.rs, which uses the helpers this file does not.
#[allow(dead_code)]
#[path = "support/cli.rs"]
mod support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{BIN, LabProcess, parse_json, scrubbed};
use switchboard::domain::ConnectionKey;
use switchboard::store::{Store, Vault};

const TOKEN_PREFIXES: [&str; 3] = ["lab_at_", "lab_rt_", "lab_dc_"];
const COMMAND_DEADLINE: Duration = Duration::from_secs(90);

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

struct Session {
    dir: tempfile::TempDir,
    config: PathBuf,
    data_dir: PathBuf,
    runs: usize,
}

impl Session {
    fn new(config_text: &str) -> Session {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config.toml");
        std::fs::write(&config, config_text).expect("write config");
        Session {
            config,
            data_dir: dir.path().join("data"),
            dir,
            runs: 0,
        }
    }

    #[track_caller]
    fn expect(&mut self, args: &[&str], code: i32) -> Out {
        self.runs += 1;
        let out_path = self.dir.path().join(format!("cmd{}.out", self.runs));
        let err_path = self.dir.path().join(format!("cmd{}.err", self.runs));
        let child = scrubbed(BIN)
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .env("SWITCHBOARD_LOG", "debug")
            .stdout(Stdio::from(std::fs::File::create(&out_path).expect("out")))
            .stderr(Stdio::from(std::fs::File::create(&err_path).expect("err")))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run switchboard: {e}"));
        let mut child = support::KillOnDrop(child);
        let started = Instant::now();
        let status = loop {
            if let Some(s) = child.0.try_wait().expect("wait") {
                break s;
            }
            assert!(started.elapsed() < COMMAND_DEADLINE, "{args:?} hung");
            std::thread::sleep(Duration::from_millis(20));
        };
        let read =
            |p: &PathBuf| String::from_utf8_lossy(&std::fs::read(p).expect("read")).into_owned();
        let out = Out {
            code: status.code().unwrap_or(-1),
            stdout: read(&out_path),
            stderr: read(&err_path),
        };
        assert_eq!(out.code, code, "switchboard {}: {out}", args.join(" "));
        assert!(!out.stderr.contains("panicked"), "{out}");
        for prefix in TOKEN_PREFIXES {
            assert!(
                !out.stdout.contains(prefix) && !out.stderr.contains(prefix),
                "switchboard {} leaks a {prefix} secret: {out}",
                args.join(" ")
            );
        }
        out
    }

    fn health(&mut self, id: &str) -> String {
        let out = self.expect(&["status", "--json"], 0);
        let rows = parse_json(&out.stdout);
        let row = rows
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["connection"] == id))
            .unwrap_or_else(|| panic!("status lacks {id}: {out}"));
        row["health"].as_str().unwrap_or_default().to_string()
    }
}

fn config_for(lab: &LabProcess) -> String {
    let LabProcess {
        issuer, rest_base, ..
    } = lab;
    format!(
        r#"[[connectors]]
id = "rest"
kind = "rest"
[connectors.rest]
base_url = "{rest_base}"
health_path = "/me"
[connectors.auth]
type = "oauth2"
issuer = "{issuer}"
client_id = "demo-console"
scopes = ["api:read", "offline_access"]

# Explicit endpoints without revoke_url: revocation can only forget locally.
[[connectors]]
id = "norevoke"
kind = "rest"
[connectors.rest]
base_url = "{rest_base}"
health_path = "/me"
[connectors.auth]
type = "oauth2"
authorize_url = "{issuer}/authorize"
token_url = "{issuer}/token"
device_url = "{issuer}/device_authorization"
client_id = "demo-console"
scopes = ["api:read", "offline_access"]
"#
    )
}

fn stat(lab: &LabProcess, name: &str) -> u64 {
    let s = lab.stats();
    s[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {name} in {s}"))
}

#[test]
fn device_login_then_revoke_through_the_binary() {
    let lab = LabProcess::start("30s");
    let mut s = Session::new(&config_for(&lab));

    let out = s.expect(&["auth", "rest", "--device"], 0);
    assert!(
        out.stdout.starts_with("authorized rest: token expires in "),
        "{out}"
    );
    assert!(out.stdout.contains("with a refresh token"), "{out}");
    let device_page = format!("{}/device", lab.issuer);
    assert!(out.stderr.contains(&device_page), "the URL: {out}");
    let code_line = out
        .stderr
        .lines()
        .skip_while(|l| !l.contains("enter the code"))
        .nth(2)
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    assert!(
        code_line.len() >= 8,
        "a user code follows the prompt: {out}"
    );
    assert!(
        out.stderr
            .contains(&format!("{device_page}?user_code={code_line}")),
        "the complete URI carries the code: {out}"
    );
    assert!(
        out.stderr.contains('▀') || out.stderr.contains('▄'),
        "a QR code: {out}"
    );
    // stderr is a file here, not a terminal: no progress line rewriting itself.
    assert!(!out.stderr.contains('\r'), "{out}");
    assert_eq!(s.health("rest").as_str(), "pending");
    s.expect(&["refresh", "rest"], 0);

    // Read the refresh token the way another process would, before revoking it.
    // The key the binary created (its environment had no SWITCHBOARD_KEY), whatever ours holds.
    let vault = Vault::open(&s.data_dir, None, None).expect("the CLI's vault key");
    let store = Store::open_with_vault(&s.data_dir, vault).expect("open the CLI's store");
    let key = ConnectionKey::new("rest", "default");
    let rt = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(store.load_token(&key))
        .expect("load")
        .and_then(|t| t.refresh)
        .expect("a stored refresh token");
    drop(store);

    let out = s.expect(&["revoke", "rest"], 0);
    assert!(out.stdout.starts_with("revoked rest at "), "{out}");
    assert!(
        out.stdout.contains(&format!("{}/revoke", lab.issuer)),
        "{out}"
    );
    assert_eq!(s.health("rest").as_str(), "unauthorized");

    // The AS refuses the old refresh token now, and counts it.
    let failed = stat(&lab, "refresh_failed");
    let body = std::process::Command::new("curl")
        .args(["-sS", "--noproxy", "*", "--max-time", "10", "-X", "POST"])
        .arg(format!("{}/token", lab.issuer))
        .args([
            "-d",
            "grant_type=refresh_token",
            "-d",
            "client_id=demo-console",
        ])
        .arg("-d")
        .arg(format!("refresh_token={}", rt.expose()))
        .stderr(Stdio::inherit())
        .output()
        .expect("curl");
    assert_eq!(
        parse_json(&String::from_utf8_lossy(&body.stdout))["error"],
        "invalid_grant"
    );
    assert_eq!(stat(&lab, "refresh_failed"), failed + 1);

    // Not authorized now: a human must run auth (exit 3), and no token request is made.
    let before = stat(&lab, "token_requests");
    let out = s.expect(&["refresh", "rest"], 3);
    assert!(out.stderr.contains("switchboard auth rest"), "{out}");
    assert_eq!(stat(&lab, "token_requests"), before);
    let out = s.expect(&["revoke", "rest"], 0);
    assert!(out.stdout.contains("nothing to revoke"), "{out}");

    // Without a revocation endpoint: forgotten locally, and the output says so.
    s.expect(&["auth", "norevoke", "--device"], 0);
    let out = s.expect(&["revoke", "norevoke"], 0);
    assert!(out.stdout.contains("no revocation endpoint"), "{out}");
    assert_eq!(s.health("norevoke").as_str(), "unauthorized");

    // Usage errors exit 2.
    let out = s.expect(&["revoke", "nosuch"], 2);
    assert!(out.stderr.contains("known: rest, norevoke"), "{out}");
    s.expect(&["auth", "rest", "--device", "--no-browser"], 2);

    // The debug log saw every command above; no token or device code reached it.
    let log = std::fs::read_to_string(s.data_dir.join("switchboard.log")).expect("the log");
    assert!(
        log.lines().count() > 5,
        "the debug log is nearly empty: {log}"
    );
    for prefix in TOKEN_PREFIXES {
        assert!(!log.contains(prefix), "the log holds a {prefix} secret");
    }
}
