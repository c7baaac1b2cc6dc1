//! contrib/switchboard.service: `systemd-analyze verify` accepts it (with its ExecStart pointed
//! at the binary under test), its hardening scores as systemd's own `security` check expects,
//! and the flags its ExecStart passes are ones the binary takes.

#[path = "support/cli.rs"]
mod support;

use std::path::Path;

use support::{BIN, scrubbed};

fn unit() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/switchboard.service");
    std::fs::read_to_string(path).expect("contrib/switchboard.service")
}

fn exec_start(unit: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    line.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn exec_start_uses_flags_the_binary_takes() {
    let argv = exec_start(&unit());
    assert_eq!(argv[0], "/usr/local/bin/switchboard");
    // clap validates every flag and value before it looks at --help.
    let out = scrubbed(BIN)
        .args(&argv[1..])
        .arg("--help")
        .output()
        .expect("run switchboard");
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn systemd_analyze_verifies_the_unit_and_its_hardening() {
    let found = scrubbed("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("systemd-analyze is not installed here; skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.service");
    std::fs::write(
        &path,
        unit().replace(
            "ExecStart=/usr/local/bin/switchboard",
            &format!("ExecStart={BIN}"),
        ),
    )
    .unwrap();
    let out = scrubbed("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("run systemd-analyze verify");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // systemd's own exposure score (0 best, 10 worst); 2.0 or less is "OK".
    let out = scrubbed("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
        .arg(&path)
        .output()
        .expect("run systemd-analyze security");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}{}",
        said.lines().last().unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr)
    );
}
