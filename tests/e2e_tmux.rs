//! End to end: the real binary's demo in a real terminal (tmux), read off the screen.
//!
//! What an operator would see: several connections within seconds; every OAuth token refreshed
//! before it expires (its countdown jumps back up) and never shown as expired; the connection
//! whose grant the lab revokes ends up as *needs re-auth*; `q` restores the terminal.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
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

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs (tests/run installs it)")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "demo"]).stdout)
            .into_owned()
    }

    fn alive(&self) -> bool {
        self.cmd(&["has-session", "-t", "demo"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

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

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn demo_in_tmux_refreshes_before_expiry_and_flags_the_revoked_grant() {
    assert!(
        tmux_available(),
        "tmux is required for the end-to-end test; `tests/run` installs it"
    );
    let data = tempfile::tempdir().unwrap();
    let tmux = Tmux {
        socket: format!("switchboard-e2e-{}", std::process::id()),
    };
    // The key stays in the data directory, not in the keyring of whoever runs the tests.
    let command = format!(
        "env SWITCHBOARD_KEYRING=off {BIN} --data-dir {} demo",
        data.path().display()
    );
    let started = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "demo",
        "-x",
        "120",
        "-y",
        "40",
        &command,
    ]);
    assert!(
        started.status.success(),
        "tmux new-session: {}",
        String::from_utf8_lossy(&started.stderr)
    );
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

    // The tool panel: select an MCP row, `t` lists its tools, Enter opens the argument editor
    // prefilled from the schema, Enter calls, the result shows; Esc twice closes the panel.
    tmux.cmd(&["send-keys", "-t", "demo", "g"]);
    for _ in 0..12 {
        std::thread::sleep(Duration::from_millis(200));
        let screen = tmux.screen();
        if screen
            .lines()
            .any(|l| l.contains('▶') && l.contains("mcp/"))
        {
            break;
        }
        tmux.cmd(&["send-keys", "-t", "demo", "j"]);
    }
    let wait_for = |needle: &str| {
        let since = Instant::now();
        let mut screen = String::new();
        while since.elapsed() < Duration::from_secs(20) {
            screen = tmux.screen();
            if screen.contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{needle:?} never showed:\n{screen}");
    };
    tmux.cmd(&["send-keys", "-t", "demo", "t"]);
    wait_for("▶ add");
    wait_for("args: a: number, b: number");
    tmux.cmd(&["send-keys", "-t", "demo", "Enter"]);
    wait_for(r#"{"a":0,"b":0}"#);
    tmux.cmd(&["send-keys", "-t", "demo", "Enter"]);
    wait_for("add: ok in ");
    tmux.cmd(&["send-keys", "-t", "demo", "Escape"]);
    wait_for("▶ add");
    tmux.cmd(&["send-keys", "-t", "demo", "Escape"]);
    let since = Instant::now();
    while tmux.screen().contains("tools · ") && since.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!tmux.screen().contains("tools · "), "{}", tmux.screen());

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
