//! A running daemon and one-shot commands beside it on one data directory: a `revoke` or an
//! `auth` run at the terminal reaches the daemon's broker within seconds, without a restart and
//! without the daemon spending a token request to find out.

#[path = "support/cli.rs"]
mod support;

use std::time::{Duration, Instant};

use support::{KillOnDrop, LabProcess, Session, rest_connector};

fn config(lab: &LabProcess) -> String {
    // Probes would find a revoked token through a 401 on their own; hourly ones leave the
    // store as the only way the daemon can learn of it.
    format!(
        "{}[connectors.schedule]\nprobe = \"1h\"\n",
        rest_connector(lab, "rest")
    )
}

fn token_requests(lab: &LabProcess) -> u64 {
    lab.stats()["token_requests"].as_u64().unwrap_or(0)
}

/// Waits until the daemon's log holds `needle`.
fn wait_for_log(s: &Session, needle: &str, within: Duration) {
    let start = Instant::now();
    loop {
        let text = support::log_text(&s.data_dir);
        if text.contains(needle) {
            return;
        }
        assert!(
            start.elapsed() < within,
            "the daemon never logged {needle:?} within {within:?}; its log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_daemon_picks_up_revocations_and_authorizations_made_beside_it() {
    // 10 s tokens: the daemon's refresh is due 5 s after each authorization.
    let lab = LabProcess::start("10s");
    let mut s = Session::new(&config(&lab));
    s.expect(&["auth", "rest"], 0);

    let (mut cmd, _, _) = s.command(&["daemon"]);
    let _daemon = KillOnDrop(cmd.spawn().expect("start the daemon"));
    wait_for_log(
        &s,
        "this process runs the scheduler",
        Duration::from_secs(15),
    );

    s.expect(&["revoke", "rest"], 0);
    let after_revoke = token_requests(&lab);
    wait_for_log(
        &s,
        "rest: its token was revoked or forgotten by another switchboard process",
        Duration::from_secs(10),
    );
    // Past the refresh deadline of the revoked token: the daemon did not try to refresh a
    // grant it knew was gone (which would cost a refused request and a "needs re-auth").
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(token_requests(&lab), after_revoke, "{}", lab.stats());

    s.expect(&["auth", "rest"], 0);
    wait_for_log(
        &s,
        "rest: picked up a token another switchboard process stored",
        Duration::from_secs(10),
    );
    // And it keeps the new grant fresh.
    let start = Instant::now();
    while lab.stats()["refresh_ok"].as_u64().unwrap_or(0) < 1 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the daemon never refreshed the new grant: {}",
            lab.stats()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn grants_revoked(lab: &LabProcess) -> u64 {
    lab.stats()["grants_revoked"].as_u64().unwrap_or(0)
}

/// A connector removed from the config takes its grant with it: revoked at the AS by the
/// leader after the grace period (announced meanwhile), or at once by `switchboard revoke`,
/// with the endpoints and client kept when it was authorized.
#[test]
fn grants_of_removed_connectors_are_revoked() {
    let lab = LabProcess::start("60s");
    let all = ["rest", "gone", "manual"]
        .map(|id| rest_connector(&lab, id))
        .join("\n");
    let mut s = Session::new(&all);
    for id in ["rest", "gone", "manual"] {
        s.expect(&["auth", id], 0);
    }
    std::fs::write(&s.config, rest_connector(&lab, "rest")).expect("rewrite the config");

    let out = s.expect(&["revoke", "manual"], 0);
    assert!(out.stdout.contains("revoked manual at"), "{out}");
    assert_eq!(grants_revoked(&lab), 1, "{}", lab.stats());
    let out = s.expect(&["revoke", "never-was"], 2);
    assert!(out.stderr.contains("no connector `never-was`"), "{out}");

    // Within the grace period the daemon only says what will happen.
    s.env
        .push(("SWITCHBOARD_REVOKE_REMOVED_AFTER".into(), "1h".into()));
    let (mut cmd, _, _) = s.command(&["daemon"]);
    let daemon = KillOnDrop(cmd.spawn().expect("start the daemon"));
    wait_for_log(
        &s,
        "gone is no longer in the config; its grant will be revoked at",
        Duration::from_secs(15),
    );
    assert_eq!(grants_revoked(&lab), 1, "{}", lab.stats());
    drop(daemon);

    // Past it, the next leader revokes.
    s.env
        .push(("SWITCHBOARD_REVOKE_REMOVED_AFTER".into(), "0s".into()));
    let (mut cmd, _, _) = s.command(&["daemon"]);
    let _daemon = KillOnDrop(cmd.spawn().expect("start the daemon"));
    wait_for_log(
        &s,
        "gone was removed from the config; its grant is revoked at",
        Duration::from_secs(15),
    );
    assert_eq!(grants_revoked(&lab), 2, "{}", lab.stats());
    // The connector still configured kept its grant.
    s.expect(&["refresh", "rest"], 0);
}
