//! Facts a user reads through the real binary, in the words and with the values they mean:
//! who caused a refresh, how a probe got through.

#[path = "support/cli.rs"]
mod cli;
mod support;

use cli::{LabProcess, Session};
use support::hostile::{Hostile, Reply};

/// The actor of every `refresh` event, oldest first.
fn refresh_actors(s: &Session) -> Vec<String> {
    let db = rusqlite::Connection::open(s.data_dir.join("switchboard.db")).expect("db");
    let mut stmt = db
        .prepare("SELECT actor FROM events WHERE kind = 'refresh' ORDER BY id")
        .expect("query");
    stmt.query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("events")
}

#[test]
fn a_refresh_caused_by_a_cli_call_is_logged_as_the_cli() {
    // Tokens live 5 s; once one has expired, the call must refresh before it can ask.
    let lab = LabProcess::start("5s");
    let config = format!(
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
"#,
        mcp = lab.mcp_url,
        issuer = lab.issuer,
    );
    let mut s = Session::new(&config);
    s.expect(&["auth", "mcp"], 0);
    assert!(refresh_actors(&s).is_empty(), "{:?}", refresh_actors(&s));
    std::thread::sleep(std::time::Duration::from_secs(6));
    let run = s.expect(&["call", "mcp", "add", r#"{"a":1,"b":2}"#], 0);
    assert!(run.stdout.contains('3'), "{run}");
    let actors = refresh_actors(&s);
    assert!(!actors.is_empty(), "the call refreshed nothing: {run}");
    assert!(actors.iter().all(|a| a == "cli"), "{actors:?}");
}

#[test]
fn probe_names_the_rest_fallback_in_words() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let peer = rt.block_on(Hostile::start(|req| match req.path() {
        "/health" => Reply::text(200, "text/plain", "ok"),
        _ => Reply::text(503, "text/plain", "maintenance"),
    }));
    let config = format!(
        r#"[[connectors]]
id = "api"
kind = "mcp"
[connectors.mcp]
transport = "streamable-http"
url = "{mcp}"
[connectors.rest]
base_url = "{base}"
health_path = "/health"
"#,
        mcp = peer.url("/mcp"),
        base = peer.url(""),
    );
    let mut s = Session::new(&config);
    let text = s.expect(&["probe", "api"], 0);
    assert!(text.stdout.contains("up via REST fallback"), "{text}");
    assert!(text.stdout.contains("MCP down"), "{text}");
    assert!(!text.stdout.contains("RestFallback"), "{text}");
    let json = s.expect(&["probe", "api", "--json"], 0);
    assert!(!json.stdout.contains("RestFallback"), "{json}");
    let status = s.expect(&["status"], 0);
    assert!(status.stdout.contains("REST fallback"), "{status}");
}

/// The exit code `config check --help` promises for a config that is not usable.
fn promised_exit_for_a_bad_config() -> i32 {
    let help = cli::scrubbed(cli::BIN)
        .args(["config", "check", "--help"])
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout).replace('\n', " ");
    let before = help
        .split(" when it is not")
        .next()
        .filter(|b| b.len() < help.len())
        .unwrap_or_else(|| panic!("help does not say how a bad config exits: {help}"));
    before
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exit code before \"when it is not\": {help}"))
}

#[test]
fn config_check_exits_as_its_help_says() {
    let promised = promised_exit_for_a_bad_config();
    let mut s = Session::new("[[connectors]]\nid = \"a\"\nkind = \"rest\"\n");
    let run = s.run(&["config", "check"]);
    assert_eq!(run.code, promised, "{run}");
    // The same rule as every other command that reads a bad config.
    let status = s.run(&["status"]);
    assert_eq!(status.code, promised, "{status}");
}

#[test]
fn config_check_refuses_a_theme_that_does_not_exist() {
    let rest = "[[connectors]]\nid = \"a\"\nkind = \"rest\"\n[connectors.rest]\nbase_url = \"http://127.0.0.1:9\"\n";
    let mut s = Session::new(&format!("[console]\ntheme = \"nope\"\n\n{rest}"));
    // A theme beside the config, as the console finds them.
    let themes = s.config.parent().expect("config dir").join("themes");
    std::fs::create_dir_all(&themes).expect("themes dir");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/themes/mono.toml"),
        themes.join("ocean.toml"),
    )
    .expect("theme");

    let run = s.run(&["config", "check"]);
    assert_eq!(run.code, promised_exit_for_a_bad_config(), "{run}");
    let line = run.stderr.trim_end();
    assert_eq!(line.lines().count(), 1, "{run}");
    let at = format!("error: {}:2:9: console.theme: ", s.config.display());
    assert!(line.starts_with(&at), "expected {at:?}...: {run}");
    assert!(line.contains("\"nope\" not found"), "{run}");
    assert!(line.contains("themes that exist:"), "{run}");
    assert!(line.contains("ocean") && line.contains("default"), "{run}");

    std::fs::write(&s.config, format!("[console]\ntheme = \"ocean\"\n\n{rest}")).expect("config");
    s.expect(&["config", "check"], 0);
}
