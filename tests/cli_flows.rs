//! `auth --device` and `revoke` through the real binary against a lab process
//! (`switchboard lab serve`, whose device endpoint approves on its own after 2 s).

#[path = "support/cli.rs"]
mod support;

use std::process::Stdio;

use support::{LabProcess, Run, Session, parse_json};
use switchboard::domain::ConnectionKey;
use switchboard::store::{Store, Vault};

const TOKEN_PREFIXES: [&str; 3] = ["lab_at_", "lab_rt_", "lab_dc_"];

/// What these tests ask of a session beyond running commands.
trait FlowChecks {
    fn clean(&mut self, args: &[&str], code: i32) -> Run;
    fn health(&mut self, id: &str) -> String;
}

impl FlowChecks for Session {
    /// `expect`, plus: no lab secret (access, refresh or device code) in any output.
    #[track_caller]
    fn clean(&mut self, args: &[&str], code: i32) -> Run {
        let out = self.expect(args, code);
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
        let out = self.clean(&["status", "--json"], 0);
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

    let out = s.clean(&["auth", "rest", "--device"], 0);
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
    s.clean(&["refresh", "rest"], 0);

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

    let out = s.clean(&["revoke", "rest"], 0);
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
    let out = s.clean(&["refresh", "rest"], 3);
    assert!(out.stderr.contains("switchboard auth rest"), "{out}");
    assert_eq!(stat(&lab, "token_requests"), before);
    let out = s.clean(&["revoke", "rest"], 0);
    assert!(out.stdout.contains("nothing to revoke"), "{out}");

    // Without a revocation endpoint: forgotten locally, and the output says so.
    s.clean(&["auth", "norevoke", "--device"], 0);
    let out = s.clean(&["revoke", "norevoke"], 0);
    assert!(out.stdout.contains("no revocation endpoint"), "{out}");
    assert_eq!(s.health("norevoke").as_str(), "unauthorized");

    // Usage errors exit 2.
    let out = s.clean(&["revoke", "nosuch"], 2);
    assert!(out.stderr.contains("known: rest, norevoke"), "{out}");
    s.clean(&["auth", "rest", "--device", "--no-browser"], 2);

    // The debug log saw every command above; no token or device code reached it.
    let log = support::log_text(&s.data_dir);
    assert!(
        log.lines().count() > 5,
        "the debug log is nearly empty: {log}"
    );
    for prefix in TOKEN_PREFIXES {
        assert!(!log.contains(prefix), "the log holds a {prefix} secret");
    }
}
