//! A running daemon and one-shot commands beside it on one data directory: a `revoke` or an
//! `auth` run at the terminal reaches the daemon's broker within seconds, without a restart and
//! without the daemon spending a token request to find out.

#[path = "support/cli.rs"]
mod support;

use std::time::{Duration, Instant};

use support::{KillOnDrop, LabProcess, Session};

fn config(lab: &LabProcess) -> String {
    format!(
        r#"[[connectors]]
id = "rest"
kind = "rest"
[connectors.rest]
base_url = "{}"
health_path = "/me"
[connectors.auth]
type = "oauth2"
issuer = "{}"
client_id = "demo-console"
scopes = ["api:read", "offline_access"]
# Probes would find a revoked token through a 401 on their own; hourly ones leave the
# store as the only way the daemon can learn of it.
[connectors.schedule]
probe = "1h"
"#,
        lab.rest_base, lab.issuer
    )
}

fn token_requests(lab: &LabProcess) -> u64 {
    lab.stats()["token_requests"].as_u64().unwrap_or(0)
}

/// Waits until the daemon's log holds `needle`.
fn wait_for_log(s: &Session, needle: &str, within: Duration) {
    let log = s.data_dir.join("switchboard.log");
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
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
