//! The one-shot commands (`auth`, `refresh`, `probe`, `status`) through the real binary against
//! a real lab process (`switchboard lab serve`), with a scripted browser (curl) completing the
//! authorization code + PKCE flow.
//!
//! Contract under test: exit 0 ok, 1 failed, 2 usage/config, 3 a human must act (re-auth); a
//! revoked grant makes no further token requests; no token ever reaches the data directory in
//! clear, the log, or the terminal.

// Not `mod support;`: that module is the broker tests' (in-process lab); this one drives processes.
#[path = "support/cli.rs"]
mod support;

use serde_json::Value;
use support::{BIN, LabProcess, Session, files_under, parse_json};

/// The lab's token prefixes (access, refresh): none may leave the lab in clear.
const TOKEN_PREFIXES: [&str; 2] = ["lab_at_", "lab_rt_"];
/// What these tests ask of a session beyond running commands.
trait LabChecks {
    fn probe_up(&mut self, id: &str);
    fn status(&mut self) -> Vec<Value>;
}

impl LabChecks for Session {
    /// `probe ID` exits 0, allowing for the lab REST API's simulated 10% failures: up to three
    /// tries, and only a plain failure (exit 1) is retried.
    #[track_caller]
    fn probe_up(&mut self, id: &str) {
        for attempt in 1..=3 {
            let run = self.run(&["probe", id]);
            if run.code == 0 {
                assert!(run.stdout.starts_with(&format!("{id}: up via ")), "{run}");
                return;
            }
            assert!(
                run.code == 1 && attempt < 3,
                "probe {id}, try {attempt}: {run}"
            );
        }
    }

    fn status(&mut self) -> Vec<Value> {
        let run = self.expect(&["status", "--json"], 0);
        match parse_json(&run.stdout) {
            Value::Array(rows) => rows,
            other => panic!("status --json is not an array: {other}"),
        }
    }
}

fn row<'a>(rows: &'a [Value], connection: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["connection"] == connection)
        .unwrap_or_else(|| panic!("status lacks {connection}: {rows:?}"))
}

fn config_for(lab: &LabProcess) -> String {
    let exe = BIN.replace('\\', "\\\\").replace('"', "\\\"");
    let LabProcess {
        issuer,
        mcp_url,
        sse_url,
        rest_base,
        ..
    } = lab;
    format!(
        r#"[[connectors]]
id = "rest"
name = "Lab REST"
kind = "rest"
[connectors.rest]
base_url = "{rest_base}"
health_path = "/me"
[connectors.auth]
type = "oauth2"
issuer = "{issuer}"
client_id = "demo-console"
scopes = ["api:read", "offline_access"]

[[connectors]]
id = "mcp"
name = "Lab MCP (HTTP)"
kind = "mcp"
[connectors.mcp]
transport = "streamable-http"
url = "{mcp_url}"
[connectors.auth]
type = "oauth2"
issuer = "{issuer}"
client_id = "demo-console"
scopes = ["mcp:tools", "offline_access"]

[[connectors]]
id = "sse"
name = "Lab MCP (legacy SSE)"
kind = "mcp"
[connectors.mcp]
transport = "sse"
url = "{sse_url}"
[connectors.auth]
type = "oauth2"
issuer = "{issuer}"
client_id = "demo-console"
scopes = ["mcp:tools", "offline_access"]

[[connectors]]
id = "service"
name = "Lab service account"
kind = "rest"
[connectors.rest]
base_url = "{rest_base}"
health_path = "/me"
[connectors.auth]
type = "client-credentials"
issuer = "{issuer}"
client_id = "demo-service"
client_secret = "demo-service-secret"
scopes = ["api:read"]

[[connectors]]
id = "stdio"
name = "Lab MCP (stdio)"
kind = "mcp"
[connectors.mcp]
transport = "stdio"
command = "{exe}"
args = ["lab", "mcp-stdio"]

# Its own client, so revoking its grants leaves `rest` and `mcp` alone.
[[connectors]]
id = "doomed"
name = "Lab REST (grant revoked)"
kind = "rest"
[connectors.rest]
base_url = "{rest_base}"
health_path = "/me"
[connectors.auth]
type = "oauth2"
issuer = "{issuer}"
client_id = "demo-doomed"
scopes = ["api:read", "offline_access"]

# Never authorized.
[[connectors]]
id = "idle"
name = "Lab REST (never authorized)"
kind = "rest"
[connectors.rest]
base_url = "{rest_base}"
health_path = "/me"
[connectors.auth]
type = "oauth2"
issuer = "{issuer}"
client_id = "demo-console"
scopes = ["api:read", "offline_access"]
"#
    )
}

#[track_caller]
fn token_requests(lab: &LabProcess) -> u64 {
    let stats = lab.stats();
    stats["token_requests"]
        .as_u64()
        .unwrap_or_else(|| panic!("no token_requests in {stats}"))
}

#[test]
fn one_shot_commands_against_a_lab_process() {
    let lab = LabProcess::start("30s");
    let mut s = Session::new(&config_for(&lab));
    s.expect(&["config", "check"], 0);

    // Never authorized: a human must run `switchboard auth` (exit 3), and nothing is requested.
    let before = token_requests(&lab);
    for args in [["refresh", "idle"], ["probe", "idle"]] {
        let run = s.expect(&args, 3);
        assert!(run.stderr.contains("switchboard auth idle"), "{run}");
    }
    assert_eq!(token_requests(&lab), before);

    // Authorization code + PKCE through the scripted browser; client credentials directly.
    for id in ["rest", "mcp", "sse", "doomed"] {
        let run = s.expect(&["auth", id], 0);
        assert!(
            run.stdout
                .starts_with(&format!("authorized {id}: token expires in ")),
            "{run}"
        );
        assert!(run.stdout.contains("with a refresh token"), "{run}");
    }
    let run = s.expect(&["auth", "service"], 0);
    assert!(run.stdout.starts_with("authorized service: "), "{run}");

    for id in ["rest", "mcp", "service"] {
        let run = s.expect(&["refresh", id], 0);
        assert!(
            run.stdout
                .starts_with(&format!("refreshed {id}: expires in ")),
            "{run}"
        );
    }
    let run = s.expect(&["refresh", "rest", "--json"], 0);
    let v = parse_json(&run.stdout);
    assert_eq!(v["ok"], true, "{run}");
    assert_eq!(v["connection"], "rest", "{run}");
    assert!(v["expires_at"].is_string(), "{run}");

    for id in ["rest", "mcp", "sse", "stdio", "doomed"] {
        s.probe_up(id);
    }

    let rows = s.status();
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["connection"].as_str().unwrap_or_default())
        .collect();
    for id in ["rest", "mcp", "sse", "service", "stdio", "doomed", "idle"] {
        assert!(ids.contains(&id), "status lacks {id}: {ids:?}");
    }
    for id in ["rest", "mcp", "service", "doomed"] {
        let r = row(&rows, id);
        assert!(r["expires_at"].is_string(), "{id}: {r}");
        let health = r["health"].as_str().unwrap_or_default();
        assert!(["up", "degraded", "pending"].contains(&health), "{id}: {r}");
    }
    assert_eq!(row(&rows, "stdio")["health"], "up", "{rows:?}");
    assert!(row(&rows, "stdio")["expires_at"].is_null(), "{rows:?}");
    assert_eq!(row(&rows, "idle")["health"], "unauthorized", "{rows:?}");
    assert!(row(&rows, "idle")["expires_at"].is_null(), "{rows:?}");

    // Usage errors: exit 2, naming what exists.
    let run = s.expect(&["probe", "nosuch"], 2);
    assert!(run.stderr.contains("known connections: "), "{run}");
    assert!(
        run.stderr.contains("rest") && run.stderr.contains("stdio"),
        "{run}"
    );
    let run = s.expect(&["refresh", "nosuch"], 2);
    assert!(run.stderr.contains("known connections: "), "{run}");

    // The grant dies at the AS: exit 3, naming the fix, and no token request after the first.
    assert!(lab.revoke_client("demo-doomed") >= 1);
    let run = s.expect(&["refresh", "doomed"], 3);
    assert!(run.stderr.contains("needs re-auth"), "{run}");
    assert!(run.stderr.contains("switchboard auth doomed"), "{run}");
    let before = token_requests(&lab);
    let run = s.expect(&["refresh", "doomed"], 3);
    assert!(run.stderr.contains("needs re-auth"), "{run}");
    assert!(run.stderr.contains("switchboard auth doomed"), "{run}");
    let run = s.expect(&["refresh", "doomed", "--json"], 3);
    assert_eq!(parse_json(&run.stdout)["ok"], false, "{run}");
    let run = s.expect(&["probe", "doomed"], 3);
    assert!(run.stderr.contains("needs re-auth"), "{run}");
    assert_eq!(
        token_requests(&lab),
        before,
        "a connection that needs re-auth made token requests"
    );
    let rows = s.status();
    assert_eq!(row(&rows, "doomed")["health"], "needs_reauth", "{rows:?}");
    assert!(row(&rows, "doomed")["expires_at"].is_null(), "{rows:?}");
    // The others are untouched.
    s.expect(&["refresh", "rest"], 0);

    // A fresh authorization clears the mark.
    s.expect(&["auth", "doomed"], 0);
    let run = s.expect(&["refresh", "doomed"], 0);
    assert!(run.stdout.starts_with("refreshed doomed: "), "{run}");
    let rows = s.status();
    assert_ne!(row(&rows, "doomed")["health"], "needs_reauth", "{rows:?}");
    assert!(row(&rows, "doomed")["expires_at"].is_string(), "{rows:?}");

    // Revoked again, found by a probe this time (401, then a refused refresh): also exit 3.
    assert!(lab.revoke_client("demo-doomed") >= 1);
    let run = s.expect(&["probe", "doomed"], 3);
    assert!(run.stderr.contains("needs re-auth"), "{run}");
    assert!(run.stderr.contains("switchboard auth doomed"), "{run}");
    let rows = s.status();
    assert_eq!(row(&rows, "doomed")["health"], "needs_reauth", "{rows:?}");

    // No token in clear anywhere: data directory (the vault key aside) and terminal output.
    let files = files_under(&s.data_dir);
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let log = support::log_text(&s.data_dir);
    // An empty log would make the check below vacuous.
    assert!(
        log.lines().count() > 10,
        "the debug log is nearly empty: {log}"
    );
    assert!(
        names
            .iter()
            .any(|n| n.ends_with(".db") || n.contains(".db-")),
        "{names:?}"
    );
    for path in files {
        if path.file_name().is_some_and(|n| n == "vault.key") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read data file");
        for prefix in TOKEN_PREFIXES {
            assert!(
                !bytes.windows(prefix.len()).any(|w| w == prefix.as_bytes()),
                "{} contains a {prefix} token",
                path.display()
            );
        }
    }
    for run in &s.transcript {
        for prefix in TOKEN_PREFIXES {
            assert!(
                !run.stdout.contains(prefix) && !run.stderr.contains(prefix),
                "output leaks a {prefix} token: {run}"
            );
        }
    }
}

#[test]
fn config_with_a_typo_is_a_usage_error() {
    let mut s = Session::new(
        r#"[[connectors]]
id = "rest"
kind = "rest"
[connectors.rest]
base_url = "http://127.0.0.1:9/api"
helth_path = "/me"
"#,
    );
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["probe", "rest"],
        &["refresh", "rest"],
        &["auth", "rest"],
    ] {
        let run = s.expect(args, 2);
        assert!(run.stderr.starts_with("error: "), "{run}");
        assert!(run.stderr.contains("helth_path"), "{run}");
        assert!(run.stderr.contains("did you mean `health_path`"), "{run}");
        assert!(run.stdout.is_empty(), "{run}");
    }
}
