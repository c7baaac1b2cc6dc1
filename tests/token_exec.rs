//! `token`, `exec` and `status --check` through the real binary against a lab process: the
//! token comes from the broker (refreshed when it is about to expire) and works at the lab's
//! API; `token` will not print onto a terminal without `--reveal`; `exec` hands the token over
//! in an environment variable and passes the exit code through; `status --check` turns the
//! fleet's health into its documented exit codes.

#[path = "support/cli.rs"]
mod support;

use std::time::Duration;

use support::{LabProcess, Session, rest_connector, scrubbed};

fn config(lab: &LabProcess) -> String {
    format!(
        "{}\n[[connectors]]\nid = \"dead\"\nkind = \"rest\"\n[connectors.rest]\nbase_url = \"http://127.0.0.1:9\"\nhealth_path = \"/\"\n[connectors.auth]\ntype = \"none\"\n",
        rest_connector(lab, "rest")
    )
}

fn stat(lab: &LabProcess, name: &str) -> u64 {
    lab.stats()[name].as_u64().unwrap_or(0)
}

/// `GET /me` at the lab with `token`: the HTTP status (the lab's API fails 10% of calls on
/// purpose, so a 5xx is retried).
fn me(lab: &LabProcess, token: &str) -> u16 {
    let mut code = 0;
    for _ in 0..5 {
        let out = scrubbed("curl")
            .args([
                "-s",
                "--noproxy",
                "*",
                "--max-time",
                "10",
                "-o",
                "/dev/null",
            ])
            .args(["-w", "%{http_code}", "-H"])
            .arg(format!("Authorization: Bearer {token}"))
            .arg(format!("{}/me", lab.rest_base))
            .output()
            .expect("curl");
        code = String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0);
        if code < 500 {
            break;
        }
    }
    code
}

#[test]
fn token_prints_a_working_token_and_refreshes_one_about_to_expire() {
    // 8 s tokens: the broker hands one out as is while more than a quarter of its lifetime
    // (2 s) is left, and refreshes it first after that.
    let lab = LabProcess::start("8s");
    let mut s = Session::new(&config(&lab));
    s.expect(&["auth", "rest"], 0);

    let requests = stat(&lab, "token_requests");
    let first = s.expect(&["token", "rest"], 0).stdout;
    let first = first.trim_end().to_owned();
    assert!(first.starts_with("lab_at_"), "{first}");
    assert_eq!(
        stat(&lab, "token_requests"),
        requests,
        "a fresh token is not refreshed"
    );
    assert_eq!(me(&lab, &first), 200);

    std::thread::sleep(Duration::from_secs(7));
    let refreshed = stat(&lab, "refresh_ok");
    let second = s.expect(&["token", "rest"], 0).stdout.trim_end().to_owned();
    assert_ne!(
        second, first,
        "a token inside the skew is refreshed before it is printed"
    );
    assert_eq!(stat(&lab, "refresh_ok"), refreshed + 1);
    assert_eq!(me(&lab, &second), 200);

    // Logged for the audit trail, without the token.
    let db = rusqlite::Connection::open(s.data_dir.join("switchboard.db")).unwrap();
    let handed: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM events WHERE kind = 'token' AND outcome = 'ok'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(handed, 2);

    // A connection without a token has nothing to print; an unknown one is a usage error.
    let run = s.expect(&["token", "dead"], 1);
    assert!(run.stderr.contains("uses no token"), "{run}");
    let run = s.expect(&["token", "nope"], 2);
    assert!(run.stderr.contains("known connections"), "{run}");
}

#[test]
fn token_refuses_a_terminal_without_reveal() {
    let lab = LabProcess::start("60s");
    let mut s = Session::new(&config(&lab));
    s.expect(&["auth", "rest"], 0);
    // `script` runs the command on a pseudo-terminal, as an operator's shell would.
    let on_a_terminal = |extra: &str| {
        let line = format!(
            "{} --config {} --data-dir {} token rest {extra}",
            support::BIN,
            s.config.display(),
            s.data_dir.display()
        );
        let out = scrubbed("script")
            .args(["-qec", &line, "/dev/null"])
            .output()
            .expect("run script");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let requests = stat(&lab, "token_requests");
    let (code, shown) = on_a_terminal("");
    assert_eq!(code, 2, "{shown}");
    assert!(!shown.contains("lab_at_"), "{shown}");
    assert!(shown.contains("--reveal"), "{shown}");
    assert_eq!(
        stat(&lab, "token_requests"),
        requests,
        "a refusal costs nothing"
    );
    let (code, shown) = on_a_terminal("--reveal");
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("lab_at_"), "{shown}");
}

#[test]
fn exec_passes_the_token_in_the_environment_and_the_exit_code_back() {
    let lab = LabProcess::start("60s");
    let mut s = Session::new(&config(&lab));
    s.expect(&["auth", "rest"], 0);

    let script = format!(
        "curl -s --noproxy '*' -o /dev/null -w '%{{http_code}}' -H \"Authorization: Bearer $SWITCHBOARD_TOKEN\" {}/me; \
         case \"$(cat /proc/$$/cmdline)\" in *\"lab\"_at_*) exit 99;; esac; exit 7",
        lab.rest_base
    );
    let run = s.expect(&["exec", "rest", "--", "sh", "-c", &script], 7);
    assert!(
        ["200", "500", "503"].contains(&run.stdout.as_str()),
        "{run}"
    );
    assert!(!run.stderr.contains("lab_at_"), "{run}");

    let run = s.expect(
        &[
            "exec",
            "rest",
            "--env",
            "MY_TOKEN",
            "--",
            "sh",
            "-c",
            "test -z \"$SWITCHBOARD_TOKEN\" && case \"$MY_TOKEN\" in lab_at_*) exit 0;; esac; exit 1",
        ],
        0,
    );
    assert!(run.stdout.is_empty(), "{run}");

    let run = s.expect(&["exec", "rest", "--", "/nonexistent/program"], 127);
    assert!(
        run.stderr.contains("cannot run /nonexistent/program"),
        "{run}"
    );
    let run = s.expect(&["exec", "rest", "--env", "1BAD", "--", "true"], 2);
    assert!(run.stderr.contains("not a variable name"), "{run}");
}

#[test]
fn status_check_exits_with_the_documented_codes() {
    let lab = LabProcess::start("60s");
    let mut s = Session::new(&config(&lab));
    s.expect(&["auth", "rest"], 0);
    s.expect(&["status", "--check"], 0);

    // Down is three failed probes in a row; two are not enough.
    for _ in 0..2 {
        s.expect(&["probe", "dead"], 1);
    }
    s.expect(&["status", "--check"], 0);
    s.expect(&["probe", "dead"], 1);
    let run = s.expect(&["status", "--check"], 1);
    assert!(run.stderr.contains("dead down"), "{run}");
    // --json still prints the array, and the exit code still says it.
    let run = s.expect(&["status", "--check", "--json"], 1);
    assert!(run.stdout.trim_start().starts_with('['), "{run}");

    // A revoked grant found by a refresh needs a human: 3 outranks 1.
    assert!(lab.revoke_client("demo-console") >= 1);
    s.expect(&["refresh", "rest"], 3);
    let run = s.expect(&["status", "--check"], 3);
    assert!(run.stderr.contains("rest needs re-auth"), "{run}");
    let run = s.expect(&["token", "rest"], 3);
    assert!(run.stderr.contains("switchboard auth rest"), "{run}");
}

#[test]
fn status_watch_redraws_until_stopped() {
    let lab = LabProcess::start("60s");
    let s = Session::new(&config(&lab));
    let (mut cmd, out, _) = s.command(&["status", "--watch", "--interval", "300ms"]);
    let _watch = support::KillOnDrop(cmd.spawn().expect("start status --watch"));
    let start = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        // Each redraw homes the cursor and clears the screen, then prints the whole table.
        let frames = text.matches("\x1b[H\x1b[2J").count();
        if frames >= 2 {
            let last = text.rsplit("\x1b[H\x1b[2J").next().unwrap_or_default();
            assert!(
                last.contains("CONNECTION") && last.contains("dead"),
                "{last}"
            );
            assert!(last.contains("Ctrl-C stops"), "{last}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "status --watch drew {frames} frames:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = {
        let mut s = s;
        s.expect(&["status", "--watch", "--json"], 2)
    };
    assert!(run.stderr.contains("cannot be used with"), "{run}");
}

#[test]
fn exec_passes_sigterm_to_the_command_and_its_exit_code_back() {
    let lab = LabProcess::start("60s");
    let mut s = Session::new(&config(&lab));
    s.expect(&["auth", "rest"], 0);
    let ready = s.dir.path().join("ready");
    let script = format!(
        "trap 'kill $!; exit 42' TERM; touch '{}'; sleep 30 & wait",
        ready.display()
    );
    let args = ["exec", "rest", "--", "sh", "-c", script.as_str()];
    let (mut cmd, out, err) = s.command(&args);
    let child = cmd.spawn().expect("start exec");
    let start = std::time::Instant::now();
    while !ready.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the command never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let run = s.finish(&args, child, &out, &err);
    assert_eq!(
        run.code, 42,
        "the command's own exit code after SIGTERM: {run}"
    );
}
