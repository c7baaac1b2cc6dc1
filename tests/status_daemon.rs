//! `status` answered by a running daemon through the real binary: the daemon's socket in the
//! data directory gives the same fleet a one-shot reads from the store (JSON, table,
//! `--check`'s code), only for the config it runs; an edited config, a stopped daemon or one
//! killed with -9 leave `status` reading the store, and a new daemon takes a dead socket over.

#[path = "support/cli.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::{KillOnDrop, Session, parse_json};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

fn config() -> String {
    let mut text = String::new();
    for id in ["lab-a", "lab-b"] {
        text.push_str(&format!(
            "[[connectors]]\nid = \"{id}\"\nkind = \"mcp\"\n[connectors.mcp]\ntransport = \"stdio\"\n\
             command = \"{BIN}\"\nargs = [\"lab\", \"mcp-stdio\"]\n[connectors.schedule]\nprobe = \"1s\"\n\n"
        ));
    }
    // Nothing listens on the discard port: down, which `--check` reports.
    text.push_str(
        "[[connectors]]\nid = \"gone\"\nkind = \"rest\"\n[connectors.rest]\n\
         base_url = \"http://127.0.0.1:9/api\"\nhealth_path = \"/health\"\n\
         [connectors.schedule]\nprobe = \"1s\"\n",
    );
    text
}

/// connection → health, from `status --json` with `extra` arguments.
fn healths(s: &mut Session, extra: &[&str]) -> (BTreeMap<String, String>, String) {
    let mut args = vec!["status", "--json"];
    args.extend_from_slice(extra);
    let run = s.expect(&args, 0);
    let rows = parse_json(&run.stdout);
    let map = rows
        .as_array()
        .unwrap_or_else(|| panic!("an array: {run}"))
        .iter()
        .map(|r| {
            (
                r["connection"].as_str().unwrap_or_default().to_owned(),
                r["health"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (map, run.stderr)
}

fn answered_in_log(s: &Session) -> usize {
    support::log_text(&s.data_dir)
        .matches("answered status")
        .count()
}

fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn sigterm(daemon: &KillOnDrop) {
    let pid = daemon.0.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
}

fn daemon(s: &Session) -> KillOnDrop {
    let (mut cmd, _, _) = s.command(&["daemon"]);
    KillOnDrop(cmd.spawn().expect("start the daemon"))
}

#[test]
fn a_running_daemon_answers_status_for_its_own_config_only() {
    let mut s = Session::new(&config());
    let socket = s.data_dir.join("status.sock");
    let mut first = daemon(&s);
    wait_for("the daemon's socket", Duration::from_secs(20), || {
        socket.exists()
    });
    {
        use std::os::unix::fs::MetadataExt;
        let mode = std::fs::metadata(&socket).expect("socket").mode() & 0o777;
        assert_eq!(mode, 0o600, "the socket is its user's alone");
    }
    let settled = |m: &BTreeMap<String, String>| {
        m.get("lab-a").map(String::as_str) == Some("up")
            && m.get("lab-b").map(String::as_str) == Some("up")
            && m.get("gone").map(String::as_str) == Some("down")
    };
    wait_for("the fleet to settle", Duration::from_secs(30), || {
        settled(&healths(&mut s, &[]).0)
    });

    // The daemon's answer is the fleet a one-shot reads from the store.
    let before = answered_in_log(&s);
    let (from_daemon, stderr) = healths(&mut s, &[]);
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(answered_in_log(&s), before + 1, "the daemon answered");
    let (direct, _) = healths(&mut s, &["--no-daemon"]);
    assert_eq!(
        answered_in_log(&s),
        before + 1,
        "--no-daemon read the store"
    );
    assert_eq!(from_daemon, direct);

    // `--check` gives the same code and reason either way; the table its usual lines.
    let checked = s.expect(&["status", "--check"], 1);
    let direct = s.expect(&["status", "--check", "--no-daemon"], 1);
    for run in [&checked, &direct] {
        assert!(run.stderr.contains("gone down"), "{run}");
        assert!(run.stdout.contains("vault key:"), "{run}");
        for id in ["lab-a", "lab-b", "gone"] {
            assert!(run.stdout.contains(id), "{run}");
        }
    }
    assert_eq!(answered_in_log(&s), before + 2);

    // An edited config is not what the daemon runs: `status` shows the file and says why.
    let original = std::fs::read_to_string(&s.config).expect("config");
    std::fs::write(
        &s.config,
        format!(
            "{original}\n[[connectors]]\nid = \"added\"\nkind = \"rest\"\n[connectors.rest]\n\
             base_url = \"http://127.0.0.1:9/api\"\nhealth_path = \"/health\"\n"
        ),
    )
    .expect("edit");
    let (edited, stderr) = healths(&mut s, &[]);
    assert!(edited.contains_key("added"), "{edited:?}");
    assert!(stderr.contains("another config"), "{stderr}");
    assert_eq!(answered_in_log(&s), before + 2);
    // So is the same file read with another value for a variable it names.
    std::fs::write(&s.config, original.replace("/health", "/${HEALTH_PATH}")).expect("edit");
    drop(first);
    std::fs::remove_file(&socket).ok();
    s.env.push(("HEALTH_PATH".into(), "health".into()));
    let mut second = daemon(&s);
    wait_for(
        "the second daemon's socket",
        Duration::from_secs(20),
        || socket.exists(),
    );
    let answered = answered_in_log(&s);
    healths(&mut s, &[]);
    assert_eq!(answered_in_log(&s), answered + 1, "same file, same value");
    s.env.pop();
    s.env.push(("HEALTH_PATH".into(), "elsewhere".into()));
    let (_, stderr) = healths(&mut s, &[]);
    assert!(stderr.contains("another config"), "{stderr}");
    s.env.pop();
    s.env.push(("HEALTH_PATH".into(), "health".into()));

    // A daemon started beside a live one leaves its socket alone, also when it stops.
    let mut beside = daemon(&s);
    wait_for(
        "the daemon beside to see the socket taken",
        Duration::from_secs(20),
        || support::log_text(&s.data_dir).contains("another daemon answers status"),
    );
    sigterm(&beside);
    wait_for("the daemon beside to stop", Duration::from_secs(10), || {
        beside.0.try_wait().ok().flatten().is_some()
    });
    assert!(
        socket.exists(),
        "the daemon beside removed the live one's socket"
    );
    let answered = answered_in_log(&s);
    healths(&mut s, &[]);
    assert_eq!(answered_in_log(&s), answered + 1, "the first still answers");

    // A daemon killed with -9 leaves its socket: `status` reads the store without a word,
    // and the next daemon takes the name over.
    second.0.kill().expect("kill -9");
    second.0.wait().expect("reaped");
    assert!(socket.exists(), "the dead daemon's socket stays");
    let (after_kill, stderr) = healths(&mut s, &[]);
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(after_kill.len(), 3);

    first = daemon(&s);
    let answered = answered_in_log(&s);
    wait_for(
        "the third daemon to answer",
        Duration::from_secs(20),
        || {
            healths(&mut s, &[]);
            answered_in_log(&s) > answered
        },
    );

    // SIGTERM: the daemon takes its socket with it.
    sigterm(&first);
    wait_for("the daemon to stop", Duration::from_secs(10), || {
        first.0.try_wait().ok().flatten().is_some()
    });
    assert!(!socket.exists(), "the socket outlived its daemon");
}
