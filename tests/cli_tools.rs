//! `switchboard tools` and `switchboard call` through the real binary: against a lab process
//! (streamable HTTP behind OAuth, both configured and ad hoc with `--bearer`) and against the
//! binary's own stdio MCP server (`lab mcp-stdio`, configured and ad hoc with `--stdio`).
//!
//! Contract: exit 0 ok, 1 failed / timed out / isError, 2 usage or invalid arguments (every
//! violation listed, nothing sent), 3 re-auth; one `tool_call` event per configured call, never
//! with the arguments in it.

#[path = "support/cli.rs"]
mod support;

use std::time::{Duration, Instant};

use support::{BIN, COMMAND_DEADLINE, LabProcess, Run, Session, files_under, parse_json, scrubbed};

/// Never appears in any output or in the event log, though it is sent as an argument/header.
const CANARY: &str = "canary-7d1f0b";

/// What these tests ask of a session beyond running commands.
trait ToolChecks {
    fn checked(&mut self, args: &[&str], code: i32) -> Run;
    fn interrupt_after(&mut self, args: &[&str], marker: &str) -> Run;
    fn tool_calls(&self) -> Vec<(String, String, String)>;
}

impl ToolChecks for Session {
    /// `expect`, plus: the canary sent as an argument or header is never printed back (except
    /// by `echo`, whose job that is).
    #[track_caller]
    fn checked(&mut self, args: &[&str], code: i32) -> Run {
        let run = self.expect(args, code);
        assert!(
            !run.stdout.contains(CANARY) || run.args.contains("echo"),
            "{run}"
        );
        run
    }

    /// Starts a command, sends it SIGINT (Ctrl-C) once its stderr shows `marker`, and waits.
    fn interrupt_after(&mut self, args: &[&str], marker: &str) -> Run {
        let (mut cmd, out, err) = self.command(args);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run switchboard: {e}"));
        let started = Instant::now();
        while !std::fs::read_to_string(&err)
            .unwrap_or_default()
            .contains(marker)
        {
            assert!(
                started.elapsed() < COMMAND_DEADLINE,
                "no {marker:?} on stderr"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let kill = scrubbed("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(kill.success());
        self.finish(args, child, &out, &err)
    }

    /// (connector, tool name, outcome) of every `tool_call` event, oldest first.
    fn tool_calls(&self) -> Vec<(String, String, String)> {
        let db = rusqlite::Connection::open(self.data_dir.join("switchboard.db")).expect("db");
        let mut stmt = db
            .prepare(
                "SELECT connector, detail, outcome FROM events WHERE kind = 'tool_call' ORDER BY id",
            )
            .expect("query");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("events")
    }
}

fn stdio_command() -> String {
    format!("'{}' lab mcp-stdio", BIN.replace('\'', r"'\''"))
}

fn config_for(lab: &LabProcess) -> String {
    let exe = BIN.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        r#"[[connectors]]
id = "mcp"
kind = "mcp"
[connectors.mcp]
transport = "streamable-http"
url = "{mcp}"
[connectors.auth]
type = "oauth2"
issuer = "{issuer}"
client_id = "demo-console"
scopes = ["mcp:tools", "offline_access"]

[[connectors]]
id = "stdio"
kind = "mcp"
[connectors.mcp]
transport = "stdio"
command = "{exe}"
args = ["lab", "mcp-stdio"]

[[connectors]]
id = "rest"
kind = "rest"
[connectors.rest]
base_url = "{rest}"
health_path = "/me"
"#,
        mcp = lab.mcp_url,
        issuer = lab.issuer,
        rest = lab.rest_base,
    )
}

#[track_caller]
fn mcp_requests(lab: &LabProcess) -> u64 {
    let stats = lab.stats();
    stats["mcp_requests"]
        .as_u64()
        .unwrap_or_else(|| panic!("no mcp_requests in {stats}"))
}

/// An access token for the lab's service client (client credentials), for `--bearer`.
fn service_token(lab: &LabProcess) -> String {
    let out = scrubbed("curl")
        .args(["-sS", "--fail", "--noproxy", "*", "--max-time", "10"])
        .args([
            "-d",
            "grant_type=client_credentials",
            "-d",
            "client_id=demo-service",
        ])
        .args([
            "-d",
            "client_secret=demo-service-secret",
            "-d",
            "scope=api:read",
        ])
        .arg(format!("{}/token", lab.issuer))
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = parse_json(&String::from_utf8_lossy(&out.stdout));
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

#[test]
fn tools_and_calls_on_a_configured_http_connection() {
    let lab = LabProcess::start("60s");
    let mut env = Session::new(&config_for(&lab));

    // Not authorized yet: a human must act, and nothing reaches the server.
    let before = mcp_requests(&lab);
    let run = env.checked(&["tools", "mcp"], 3);
    assert!(run.stderr.contains("switchboard auth mcp"), "{run}");
    env.checked(&["call", "mcp", "add", r#"{"a":1,"b":2}"#], 3);
    assert_eq!(mcp_requests(&lab), before);
    env.checked(&["auth", "mcp"], 0);

    let run = env.checked(&["tools", "mcp"], 0);
    for name in ["echo", "add", "count_slowly", "whoami"] {
        assert!(run.stdout.contains(&format!("\n  {name} ")), "{run}");
    }
    assert!(run.stdout.starts_with("tools (4)\n"), "{run}");
    assert!(run.stdout.contains("args: a: number, b: number"), "{run}");
    assert!(
        run.stdout
            .contains("args: to: integer, delay_ms?: integer or null"),
        "{run}"
    );
    let run = env.checked(&["tools", "mcp", "--json"], 0);
    assert_eq!(
        parse_json(&run.stdout)["tools"].as_array().map(Vec::len),
        Some(4),
        "{run}"
    );

    let run = env.checked(&["call", "mcp", "add", r#"{"a":1,"b":2}"#], 0);
    assert!(run.stdout.starts_with("[1] text\n3\n"), "{run}");
    assert!(
        run.stdout
            .contains("structuredContent:\n{\n  \"sum\": 3.0\n}"),
        "{run}"
    );
    assert!(run.stdout.contains("add: ok in "), "{run}");
    let run = env.checked(&["call", "mcp", "add", r#"{"a":1.5,"b":2}"#, "--json"], 0);
    let v = parse_json(&run.stdout);
    assert_eq!(v["structuredContent"]["sum"], 3.5, "{run}");
    assert_eq!(v["content"][0]["text"], "3.5", "{run}");
    let args = format!(r#"{{"message":"hello {CANARY}"}}"#);
    let run = env.checked(&["call", "mcp", "echo", &args], 0);
    assert!(run.stdout.contains(&format!("hello {CANARY}\n")), "{run}");
    let run = env.checked(&["call", "mcp", "whoami"], 0);
    assert!(run.stdout.contains("demo-console"), "{run}");

    // Invalid arguments: every violation, exit 2, and not one request to the server (the
    // catalogue comes from the store's cache, the call is never made).
    let before = mcp_requests(&lab);
    let run = env.checked(&["call", "mcp", "add", r#"{"a":"x"}"#], 2);
    assert!(run.stderr.contains("nothing was sent"), "{run}");
    assert!(
        run.stderr.contains(r#"/a: expected number, got "x""#),
        "{run}"
    );
    assert!(
        run.stderr
            .contains(r#"/b: missing required property "b" (number)"#),
        "{run}"
    );
    let run = env.checked(&["call", "mcp", "add", r#"{"a":1,"b":"#], 2);
    assert!(run.stderr.contains("not valid JSON"), "{run}");
    assert!(run.stderr.contains("line 1, column 11"), "{run}");
    env.checked(&["call", "mcp", "add", "[1,2]"], 2);
    assert_eq!(
        mcp_requests(&lab),
        before,
        "invalid arguments reached the server"
    );

    let run = env.checked(&["call", "mcp", "nosuch"], 2);
    assert!(
        run.stderr
            .contains("its tools: add, count_slowly, echo, whoami"),
        "{run}"
    );

    // Progress while it runs (forced on: stderr is a file here), then the result.
    let run = env.checked(
        &[
            "call",
            "mcp",
            "count_slowly",
            r#"{"to":3,"delay_ms":50}"#,
            "--progress",
        ],
        0,
    );
    // The lab's message repeats the amount (`1/3`); it is said once.
    assert!(
        run.stderr.contains("progress count_slowly: 1/3 (33%)\n"),
        "{run}"
    );
    assert!(
        run.stderr.contains("progress count_slowly: 3/3 (100%)\n"),
        "{run}"
    );
    assert!(!run.stderr.contains("(33%) 1/3"), "{run}");
    assert!(run.stdout.contains("counted to 3"), "{run}");

    // A deadline: exit 1, saying so.
    let started = Instant::now();
    let run = env.checked(
        &[
            "call",
            "mcp",
            "count_slowly",
            r#"{"to":100,"delay_ms":1000}"#,
            "--timeout",
            "1s",
        ],
        1,
    );
    assert!(run.stderr.contains("did not answer within 1s"), "{run}");
    assert!(started.elapsed() < Duration::from_secs(30), "{run}");

    // A REST connector has no tools.
    let run = env.checked(&["tools", "rest"], 2);
    assert!(run.stderr.contains("REST connector"), "{run}");

    let calls = env.tool_calls();
    let summary: Vec<(&str, &str)> = calls
        .iter()
        .map(|(_, tool, outcome)| (tool.as_str(), outcome.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("add", "ok"),
            ("add", "ok"),
            ("echo", "ok"),
            ("whoami", "ok"),
            ("count_slowly", "ok"),
            ("count_slowly", "failed"),
        ]
    );
    assert!(calls.iter().all(|(c, _, _)| c == "mcp"), "{calls:?}");
    // The arguments reached no file of the data directory (database, WAL, log).
    for path in files_under(&env.data_dir) {
        let bytes = std::fs::read(&path).expect("read data file");
        assert!(
            !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
            "{} holds a call's arguments",
            path.display()
        );
    }

    // The grant dies: a human must act (exit 3), whatever the cache says.
    assert!(lab.revoke_client("demo-console") >= 1);
    let run = env.checked(&["call", "mcp", "add", r#"{"a":1,"b":2}"#], 3);
    assert!(run.stderr.contains("switchboard auth mcp"), "{run}");
    env.checked(&["tools", "mcp"], 3);
}

#[test]
fn ad_hoc_http_target_with_bearer_and_headers() {
    let lab = LabProcess::start("60s");
    let mut env = Session::new("");
    let token = service_token(&lab);
    let url = lab.mcp_url.clone();

    let run = env.checked(&["tools", "--url", &url, "--bearer", &token], 0);
    assert!(run.stdout.contains("  count_slowly "), "{run}");
    let header = format!("X-Canary: {CANARY}");
    let run = env.checked(
        &[
            "call", "--url", &url, "--bearer", &token, "--header", &header, "whoami",
        ],
        0,
    );
    assert!(run.stdout.contains("demo-service"), "{run}");
    assert!(
        !run.stderr.contains(&token) && !run.stdout.contains(&token),
        "{run}"
    );
    let run = env.checked(
        &[
            "call",
            "--url",
            &url,
            "--bearer",
            &token,
            "add",
            r#"{"a":2,"b":2}"#,
            "--json",
        ],
        0,
    );
    assert_eq!(
        parse_json(&run.stdout)["structuredContent"]["sum"],
        4.0,
        "{run}"
    );

    // No token, and no way to show a login (no $BROWSER, no terminal): the 401 is reported at
    // once with what to do.
    let browser = std::mem::take(&mut env.browser);
    let run = env.checked(&["tools", "--url", &url], 3);
    assert!(
        run.stderr.contains("--bearer") && run.stderr.contains("--no-browser"),
        "{run}"
    );
    // With a browser: MCP authorization from nothing but the URL (discovery, dynamic
    // registration, PKCE), for this one command.
    env.browser = browser;
    let run = env.checked(&["call", "--url", &url, "whoami"], 0);
    assert!(run.stdout.contains("lab_dyn_"), "{run}");
    assert!(run.stderr.contains("asks for authorization"), "{run}");
    // Usage errors.
    let run = env.checked(
        &[
            "call",
            "--url",
            &url,
            "--header",
            &format!("Bad {CANARY}"),
            "add",
        ],
        2,
    );
    assert!(!run.stderr.contains(CANARY), "{run}");
    // Legacy SSE ad hoc (the lab's SSE server takes anyone; the bearer rides along unused).
    let run = env.checked(
        &[
            "call",
            "--url",
            &lab.sse_url,
            "--transport",
            "sse",
            "--bearer",
            &token,
            "whoami",
        ],
        0,
    );
    assert!(run.stdout.contains("anonymous"), "{run}");
    let run = env.checked(
        &[
            "tools",
            "--url",
            &url,
            "--client-id",
            "x",
            "--bearer",
            &token,
        ],
        2,
    );
    assert!(run.stderr.contains("nothing to authorize"), "{run}");
    env.checked(&["call", "--url", &url, "--transport", "stdio", "add"], 2);
    // Ad hoc commands need no data directory and leave none behind.
    assert!(
        !env.data_dir.exists(),
        "an ad hoc command created the data directory"
    );
}

#[test]
fn stdio_targets_configured_and_ad_hoc() {
    let lab = LabProcess::start("60s");
    let mut env = Session::new(&config_for(&lab));
    let cmd = stdio_command();

    let run = env.checked(&["tools", "--stdio", &cmd], 0);
    assert!(run.stdout.starts_with("tools (4)\n"), "{run}");
    let run = env.checked(&["call", "--stdio", &cmd, "add", r#"{"a":1,"b":2}"#], 0);
    assert!(run.stdout.starts_with("[1] text\n3\n"), "{run}");
    let run = env.checked(&["call", "--stdio", &cmd, "whoami"], 0);
    assert!(run.stdout.contains("anonymous (stdio)"), "{run}");
    let run = env.checked(
        &[
            "call",
            "--stdio",
            &cmd,
            "count_slowly",
            r#"{"to":2,"delay_ms":20}"#,
            "--progress",
        ],
        0,
    );
    assert!(run.stderr.contains("progress count_slowly: 2/2"), "{run}");
    let run = env.checked(&["call", "--stdio", &cmd, "echo", r#"{"msg":"x"}"#], 2);
    assert!(
        run.stderr
            .contains(r#"/message: missing required property "message" (string)"#),
        "{run}"
    );
    let run = env.checked(
        &[
            "call",
            "--stdio",
            &cmd,
            "count_slowly",
            r#"{"to":50,"delay_ms":1000}"#,
            "--timeout",
            "1s",
        ],
        1,
    );
    assert!(run.stderr.contains("did not answer within 1s"), "{run}");
    assert!(
        !env.data_dir.exists(),
        "an ad hoc command created the data directory"
    );

    // The configured stdio connector: recorded in the event log.
    let run = env.checked(&["call", "stdio", "echo", r#"{"message":"hi"}"#], 0);
    assert!(run.stdout.contains("[1] text\nhi\n"), "{run}");
    // Ctrl-C cancels the call cleanly: exit 1, saying the server was told.
    let started = Instant::now();
    let run = env.interrupt_after(
        &[
            "call",
            "stdio",
            "count_slowly",
            r#"{"to":100,"delay_ms":200}"#,
            "--progress",
        ],
        "progress count_slowly: 1/",
    );
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr
            .contains("cancelled; the server was told to stop"),
        "{run}"
    );
    assert!(!run.stderr.contains("panicked"), "{run}");
    assert!(started.elapsed() < Duration::from_secs(15), "{run}");

    let calls = env.tool_calls();
    let row =
        |tool: &str, outcome: &str| ("stdio".to_string(), tool.to_string(), outcome.to_string());
    assert_eq!(calls, [row("echo", "ok"), row("count_slowly", "failed")]);
}
