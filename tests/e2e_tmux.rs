//! End to end: the real binary's demo in a real terminal (tmux), read off the screen.
//!
//! What an operator would see: several connections within seconds; every OAuth token refreshed
//! before it expires (its countdown jumps back up) and never shown as expired; the connection
//! whose grant the lab revokes ends up as *needs re-auth*; `q` restores the terminal. And a
//! developer calling tools: the argument editor's cursor moves into the prefilled JSON, typing
//! and pasting land there, and the call's result shows. And a server that asks for input in
//! the middle of a call (server-everything's elicitation tool): the console shows the request
//! over the call, the operator's answer reaches the server.

#[path = "support/everything.rs"]
mod everything;
#[path = "support/tmux.rs"]
mod tmux;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tmux::{BIN, Tmux};

/// Rows whose tokens the scheduler must refresh (display names from the demo config).
const OAUTH_ROWS: [&str; 3] = ["Lab MCP (HTTP)", "Lab REST API", "Lab service account"];
const DOOMED_ROW: &str = "Lab (grant revoked)";
const HEALTH_LABELS: [&str; 7] = [
    "up",
    "degraded",
    "down",
    "needs re-auth",
    "not authorized",
    "not configured",
    "pending",
];

/// The table row for `name`, if it is on screen.
fn row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(name))
}

/// Seconds in the first countdown-looking cell of a row: "29s", "1m 02s". `None` for "—".
fn countdown_secs(row: &str) -> Option<u64> {
    let cells: Vec<&str> = row.split_whitespace().collect();
    for (i, cell) in cells.iter().enumerate() {
        if let Some(m) = cell.strip_suffix('m').and_then(|m| m.parse::<u64>().ok()) {
            let s = cells.get(i + 1)?.strip_suffix('s')?.parse::<u64>().ok()?;
            return Some(m * 60 + s);
        }
        if let Some(s) = cell.strip_suffix('s').and_then(|s| s.parse::<u64>().ok()) {
            return Some(s);
        }
    }
    None
}

fn health_rows(screen: &str) -> usize {
    screen
        .lines()
        .filter(|l| {
            l.starts_with('│') && HEALTH_LABELS.iter().any(|h| l.contains(&format!(" {h} ")))
        })
        .count()
}

#[test]
fn demo_in_tmux_refreshes_before_expiry_and_flags_the_revoked_grant() {
    let data = tempfile::tempdir().unwrap();
    let tmux = Tmux::demo("refresh", data.path(), 120, 40);
    let t0 = Instant::now();

    // Several connections within 5 seconds.
    let mut first = String::new();
    while t0.elapsed() < Duration::from_secs(5) {
        first = tmux.screen();
        if health_rows(&first) >= 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        health_rows(&first) >= 4,
        "fewer than 4 connections after 5 s:\n{first}"
    );

    // Within 2 minutes: every OAuth row's countdown jumps back up (a refresh), never "expired";
    // the doomed row shows "needs re-auth".
    let mut last: BTreeMap<&str, u64> = BTreeMap::new();
    let mut refreshed: BTreeMap<&str, u32> = BTreeMap::new();
    let mut doomed_flagged = false;
    let mut screen = String::new();
    while t0.elapsed() < Duration::from_secs(120) {
        screen = tmux.screen();
        for name in OAUTH_ROWS {
            let Some(line) = row(&screen, name) else {
                continue;
            };
            assert!(
                !line.contains("expired"),
                "{name} shows an expired token:\n{screen}"
            );
            if let Some(secs) = countdown_secs(line) {
                if last.get(name).is_some_and(|&prev| secs > prev + 1) {
                    *refreshed.entry(name).or_default() += 1;
                }
                last.insert(name, secs);
            }
        }
        doomed_flagged |= row(&screen, DOOMED_ROW).is_some_and(|l| l.contains("needs re-auth"));
        if doomed_flagged && OAUTH_ROWS.iter().all(|n| refreshed.contains_key(n)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    for name in OAUTH_ROWS {
        assert!(
            refreshed.contains_key(name),
            "{name} was not seen refreshed within 2 minutes:\n{screen}"
        );
    }
    assert!(
        doomed_flagged,
        "the revoked grant never showed needs re-auth:\n{screen}"
    );
    assert!(
        screen.contains("leader"),
        "this console should run the scheduler:\n{screen}"
    );

    // Resizing redraws for the new size: at 80x24 the table still shows every connection.
    tmux.cmd(&["resize-window", "-t", "demo", "-x", "80", "-y", "24"]);
    let resized = Instant::now();
    let mut small = String::new();
    while resized.elapsed() < Duration::from_secs(5) {
        small = tmux.screen();
        if small.lines().all(|l| l.chars().count() <= 80) && health_rows(&small) >= 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        health_rows(&small) >= 4,
        "after resizing to 80x24:\n{small}"
    );
    assert!(
        small.lines().all(|l| l.chars().count() <= 80),
        "not redrawn for 80 columns:\n{small}"
    );

    // `q` quits and the process ends (the session closes with it).
    tmux.cmd(&["send-keys", "-t", "demo", "q"]);
    let quit = Instant::now();
    while tmux.alive() && quit.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !tmux.alive(),
        "the console did not exit on q:\n{}",
        tmux.screen()
    );

    // What the screen showed is what the store recorded, and no token is in plain text on disk.
    let status = Command::new(BIN)
        .args(["--data-dir"])
        .arg(data.path())
        .args(["--config"])
        .arg(data.path().join("config.toml"))
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "status failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    for id in ["lab-mcp", "lab-rest", "lab-service"] {
        let r = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["connector"] == id)
            .unwrap();
        assert!(
            r["last_refresh_at"].is_string(),
            "{id} has no refresh in the event log: {r}"
        );
    }
    let doomed = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["connector"] == "lab-doomed")
        .unwrap();
    assert_eq!(doomed["health"], "needs_reauth");
    assert_no_plain_tokens(data.path());
}

#[test]
fn demo_in_tmux_edits_tool_arguments_at_the_cursor_and_calls() {
    let data = tempfile::tempdir().unwrap();
    let tmux = Tmux::demo("editor", data.path(), 120, 40);
    tmux.wait_until("4 connections", |s| health_rows(s) >= 4);
    // Select an MCP row; `t` lists its tools, Enter opens the editor on the template.
    tmux.keys(&["g"]);
    for _ in 0..12 {
        std::thread::sleep(Duration::from_millis(200));
        if tmux
            .screen()
            .lines()
            .any(|l| l.contains('▶') && l.contains("mcp/"))
        {
            break;
        }
        tmux.keys(&["j"]);
    }
    tmux.keys(&["t"]);
    tmux.wait_for("▶ add");
    tmux.wait_for("args: a: number, b: number");
    tmux.keys(&["Enter"]);
    tmux.wait_for(r#"{"a": 0, "b": 0}"#);

    // Into the middle: line start, a word right twice (past `a`, past its 0), replace the 0.
    tmux.keys(&["Home", "C-Right", "C-Right", "BSpace"]);
    tmux.type_text("40");
    tmux.wait_for(r#"{"a": 40, "b": 0}"#);
    tmux.keys(&["End", "Left", "BSpace"]);
    tmux.type_text("2.5");
    let screen = tmux.wait_for(r#"{"a": 40, "b": 2.5}"#);
    // The terminal's cursor is on the `}` it is before.
    let (y, line) = screen
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(r#"{"a": 40, "b": 2.5}"#))
        .expect("the arguments on screen");
    let x = line.find("2.5}").map(|b| line[..b].chars().count() + 3);
    assert_eq!(Some(tmux.cursor()), x.map(|x| (x, y)), "{screen}");
    // Alt-Enter breaks the line there instead of sending.
    tmux.keys(&["M-Enter"]);
    tmux.wait_until("the line break", |s| {
        s.contains(r#"{"a": 40, "b": 2.5 "#) && s.contains(" 2:1 ")
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("add: ok in ");
    tmux.wait_for("42.5");

    // Back in the editor the last arguments are still there.
    tmux.keys(&["Escape"]);
    tmux.wait_for("▶ add");
    tmux.keys(&["Enter"]);
    tmux.wait_for(r#"{"a": 40, "b": 2.5 "#);
    tmux.keys(&["Escape"]);
    tmux.wait_for("▶ add");

    // Multi-byte text: a bracketed paste of several lines, then typing inside the string.
    tmux.keys(&["j", "j"]);
    tmux.wait_for("▶ echo");
    tmux.keys(&["Enter"]);
    tmux.wait_for(r#"{"message": ""}"#);
    tmux.keys(&["C-u"]);
    tmux.wait_until("the cleared editor", |s| !s.contains(r#"{"message": ""}"#));
    tmux.paste("{\n  \"message\": \"héllo 日本 🦀\"\n}");
    tmux.wait_for(r#"  "message": "héllo 日本 🦀""#);
    tmux.keys(&["Up", "End", "Left"]);
    tmux.type_text(" wörld");
    tmux.wait_for(r#""héllo 日本 🦀 wörld""#);
    tmux.keys(&["Enter"]);
    tmux.wait_for("echo: ok in ");
    tmux.wait_for("héllo 日本 🦀 wörld");

    back_out_and_quit(&tmux, "▶ echo");
}

/// From a call's result: Esc to the list (`selected` on screen), Esc to close, `q` quits. One
/// key at a time: Escape with a key right behind it reads as Alt+key.
fn back_out_and_quit(tmux: &Tmux, selected: &str) {
    tmux.keys(&["Escape"]);
    tmux.wait_for(selected);
    tmux.keys(&["Escape"]);
    tmux.wait_until("the panel closed", |s| !s.contains("tools · "));
    tmux.keys(&["q"]);
    let quit = Instant::now();
    // Patience, not a speed claim: quitting the demo stops its engine, MCP children and lab,
    // and with six demos starting at once on two cores that once took over 10 s in CI.
    while tmux.alive() && quit.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!tmux.alive(), "the console did not exit on q");
}

#[test]
fn console_answers_a_servers_request_for_input_during_a_call() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, everything::stdio_config()).unwrap();
    let tmux = Tmux::console("elicit", &config, &dir.path().join("data"), 120, 40);
    tmux.wait_for("everything");
    tmux.keys(&["t"]);
    // The tool is offered only to clients that can answer elicitation: the console can.
    tmux.wait_for("trigger-elicitation-request");
    for _ in 0..40 {
        if tmux
            .screen()
            .lines()
            .any(|l| l.contains("▶ trigger-elicitation-request "))
        {
            break;
        }
        tmux.keys(&["j"]);
        std::thread::sleep(Duration::from_millis(100));
    }
    tmux.wait_for("▶ trigger-elicitation-request ");
    tmux.keys(&["Enter"]);
    tmux.wait_for("trigger-elicitation-request arguments (JSON):");
    tmux.keys(&["Enter"]);

    // The request opens over the call: the server's message, its fields, the defaults.
    tmux.wait_for("asks: Please provide inputs for the following fields:");
    // The field list is drawn below the editor, and a capture can land between the two: wait
    // for it rather than assert on the first screen that shows the question.
    let screen = tmux.wait_for("name* (text): Your full, legal name");
    assert!(screen.contains(r#""integer": 42"#), "{screen}");
    // The blank for the required name is not an answer.
    tmux.keys(&["Enter"]);
    tmux.wait_for("name: required: type a value");
    // The cursor waits in that blank: typing fills it, the defaults go as they are.
    tmux.type_text("Ada Lovelace");
    tmux.wait_for(r#""name": "Ada Lovelace","#);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("- Name: Ada Lovelace");
    assert!(screen.contains("- Favorite Integer: 42"), "{screen}");
    assert!(
        screen.contains("trigger-elicitation-request: ok in "),
        "{screen}"
    );

    back_out_and_quit(&tmux, "▶ trigger-elicitation-request ");
}

/// The MCP panel against a real server (server-everything over stdio: the demo's lab server
/// has no resources or prompts): fill the argument form and call a tool, read a resource, get a
/// prompt with an argument, set the server's log level, open the protocol tab and find the
/// session's messages there.
#[test]
fn console_mcp_panel_form_resource_and_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, everything::stdio_config()).unwrap();
    let tmux = Tmux::console("mcp-panel", &config, &dir.path().join("data"), 120, 40);
    tmux.wait_for("everything");
    tmux.keys(&["t"]);
    tmux.wait_for("get-sum");
    for _ in 0..40 {
        if tmux.screen().lines().any(|l| l.contains("▶ get-sum ")) {
            break;
        }
        tmux.keys(&["j"]);
        std::thread::sleep(Duration::from_millis(100));
    }
    tmux.wait_for("▶ get-sum ");
    tmux.keys(&["Enter"]);
    tmux.wait_for("get-sum arguments (JSON):");
    // Tab: the form, a row per argument with its type and the required mark.
    tmux.keys(&["Tab"]);
    tmux.wait_for("get-sum arguments (form; * required):");
    tmux.wait_for("✓ the arguments match the schema");
    tmux.keys(&["C-u"]);
    tmux.type_text("x");
    tmux.wait_for("/a: expected number, got \"x\"");
    tmux.keys(&["BSpace"]);
    tmux.type_text("2");
    tmux.keys(&["Down", "C-u"]);
    tmux.type_text("3");
    tmux.wait_for("✓ the arguments match the schema");
    tmux.keys(&["Enter"]);
    tmux.wait_for("The sum of 2 and 3 is 5.");
    tmux.wait_for("get-sum: ok in ");
    tmux.keys(&["Escape"]);
    tmux.wait_for("▶ get-sum ");

    // The resources tab: the first resource, read.
    tmux.keys(&["Tab"]);
    tmux.wait_for("▶ demo://resource/static/document/");
    tmux.keys(&["Enter"]);
    tmux.wait_for("[1] demo://resource/static/document/");
    tmux.keys(&["Escape"]);
    tmux.wait_for("▶ demo://resource/static/document/");

    // The protocol tab: the session from its initialize, the call among its messages.
    // The prompts tab: one with arguments, filled in the form.
    tmux.keys(&["Tab"]);
    tmux.wait_for("▶ simple-prompt");
    tmux.keys(&["Down"]);
    tmux.wait_for("▶ args-prompt");
    tmux.keys(&["Enter"]);
    tmux.wait_for("args-prompt (* required):");
    tmux.type_text("Paris");
    tmux.wait_for("✓ the arguments match the schema");
    tmux.keys(&["Enter"]);
    tmux.wait_for("user: What's weather in Paris?");
    tmux.keys(&["Escape"]);
    tmux.wait_for("▶ args-prompt");
    // The log tab: the level the server logs from is the operator's to set.
    tmux.keys(&["Tab"]);
    tmux.wait_for("level: the server's default");
    tmux.keys(&["Right"]);
    tmux.wait_for("the server now logs from info up");
    tmux.keys(&["Tab"]);
    let screen = tmux.wait_for("→ request resources/read");
    assert!(screen.contains("→ request logging/setLevel"), "{screen}");
    assert!(screen.contains("→ request tools/call"), "{screen}");
    // The newest message is selected and its body shown, pretty-printed.
    assert!(screen.contains("  \"jsonrpc\": \"2.0\","), "{screen}");
    // Up through the list to where the session began.
    let on_initialize = |s: &str| {
        s.lines()
            .any(|l| l.contains("▶ ") && l.contains("→ request initialize"))
    };
    for _ in 0..60 {
        if on_initialize(&tmux.screen()) {
            break;
        }
        tmux.keys(&["Up"]);
        std::thread::sleep(Duration::from_millis(50));
    }
    let screen = tmux.wait_until("the initialize request selected", on_initialize);
    assert!(screen.contains("\"protocolVersion\""), "{screen}");
    assert!(screen.contains("\"clientInfo\""), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.wait_until("the panel closed", |s| !s.contains("→ request initialize"));
    tmux.keys(&["q"]);
    for _ in 0..50 {
        if !tmux.alive() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!tmux.alive(), "the console did not exit on q");
}

fn assert_no_plain_tokens(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for prefix in [b"lab_at_".as_slice(), b"lab_rt_".as_slice()] {
            assert!(
                !bytes.windows(prefix.len()).any(|w| w == prefix),
                "{} holds a plain token ({})",
                path.display(),
                String::from_utf8_lossy(prefix)
            );
        }
    }
}

#[test]
fn countdown_cells_parse_like_the_screen_shows_them() {
    assert_eq!(
        countdown_secs("│▶ ● up  Lab MCP (HTTP)  mcp/streamable-http 29s  100%"),
        Some(29)
    );
    assert_eq!(countdown_secs("│  ● up  Lab  rest 1m 02s  100%"), Some(62));
    assert_eq!(countdown_secs("│  ● up  Lab  mcp/stdio  —  100%"), None);
}

/// The demo's temporary directories under `tmp`.
fn demo_dirs(tmp: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(tmp)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("switchboard-demo-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_demo_stopped_by_sigterm_removes_its_temporary_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let tmux = Tmux::demo_in("sigterm", tmp.path(), 120, 40);
    let t0 = Instant::now();
    while health_rows(&tmux.screen()) < 4 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the demo console never showed its fleet:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        demo_dirs(tmp.path()).len(),
        1,
        "{:?}",
        demo_dirs(tmp.path())
    );
    let pid = tmux.program_pid().expect("the demo's pid");
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let t1 = Instant::now();
    while tmux.alive() {
        assert!(
            t1.elapsed() < Duration::from_secs(30),
            "the demo did not stop on SIGTERM:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        demo_dirs(tmp.path()).is_empty(),
        "left behind: {:?}",
        demo_dirs(tmp.path())
    );
}
