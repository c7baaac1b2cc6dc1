//! Ctrl-C during a refresh must not lose the rotated refresh token. The lab rotates on receipt
//! and answers late (like a slow network back), so SIGINT lands after the authorization server
//! has already rotated: a process that died there would keep a used refresh token and lose the
//! grant at its next refresh. switchboard waits for the answer, saves it, then exits 130.

#[path = "support/cli.rs"]
mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{BIN, LabProcess, rest_connector, scrubbed, write_script};

fn switchboard(dir: &Path, browser: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = scrubbed(BIN);
    cmd.arg("--config")
        .arg(dir.join("config.toml"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(args)
        .env("BROWSER", browser)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn curl_post(url: &str) {
    let ok = scrubbed("curl")
        .args(["-sS", "--fail", "--noproxy", "*", "-X", "POST", url])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "POST {url}");
}

#[test]
fn ctrl_c_during_a_refresh_saves_the_rotated_token_before_exiting() {
    let lab = LabProcess::start("60s");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), rest_connector(&lab, "api")).unwrap();
    let browser = dir.path().join("browser.sh");
    write_script(
        &browser,
        "#!/bin/sh\nexec curl -s -L --noproxy '*' -o /dev/null \"$1\"\n",
    );
    let auth = switchboard(dir.path(), &browser, &["auth", "api"])
        .output()
        .unwrap();
    assert!(
        auth.status.success(),
        "{}",
        String::from_utf8_lossy(&auth.stderr)
    );

    // Every token answer now comes 1.5 s after the rotation happened.
    curl_post(&format!("{}/admin/answer-delay?ms=1500", lab.issuer));
    let child = switchboard(dir.path(), &browser, &["refresh", "api"])
        .spawn()
        .unwrap();
    let started = Instant::now();
    // Wait until the refresh request has reached the lab, then interrupt.
    while lab.stats()["by_grant"]["refresh_token"]
        .as_u64()
        .unwrap_or(0)
        == 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the refresh never reached the lab"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "stderr: {stderr}");
    assert!(
        stderr.contains("saving the token request in flight"),
        "{stderr}"
    );

    // The rotated token was saved: the next refresh presents it, not the used one.
    curl_post(&format!("{}/admin/answer-delay?ms=0", lab.issuer));
    let again = switchboard(dir.path(), &browser, &["refresh", "api"])
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let stats = lab.stats();
    assert_eq!(
        stats["reuse_detected"], 0,
        "a used refresh token was presented: {stats}"
    );
    assert_eq!(stats["refresh_ok"], 2, "{stats}");
}
