//! `switchboard lab authorize-all`, the seeding `benches/fleet.sh refresh` relies on: the real
//! binary runs the real authorization-code flow for every connection waiting for a grant against
//! a real lab process, which counts one code exchange per connection (its own client each).

#[path = "support/cli.rs"]
mod support;

use serde_json::Value;
use support::{LabProcess, Session, curl_json, parse_json};

fn connector(lab: &LabProcess, i: usize, client: &str) -> String {
    format!(
        r#"[[connectors]]
id = "c{i}"
kind = "rest"
[connectors.rest]
base_url = "{rest}"
health_path = "/me"
[connectors.auth]
type = "oauth2"
authorize_url = "{iss}/authorize"
token_url = "{iss}/token"
client_id = "{client}"
scopes = ["api:read", "offline_access"]
"#,
        rest = lab.rest_base,
        iss = lab.issuer
    )
}

fn status(s: &mut Session) -> Vec<Value> {
    let run = s.expect(&["status", "--json"], 0);
    match parse_json(&run.stdout) {
        Value::Array(rows) => rows,
        other => panic!("status --json is not an array: {other}"),
    }
}

#[test]
fn authorize_all_gives_every_waiting_connection_a_grant_with_one_exchange_each() {
    let lab = LabProcess::start("300s");
    let config: String = (0..6)
        .map(|i| connector(&lab, i, &format!("fleet-{i}")))
        .collect();
    let mut s = Session::new(&config);
    let before = status(&mut s);
    assert!(
        before.iter().all(|r| r["health"] == "unauthorized"),
        "{before:?}"
    );

    let run = s.expect(&["lab", "authorize-all", "--concurrency", "3"], 0);
    assert!(
        run.stdout.starts_with("authorized 6 of 6 connections"),
        "{run}"
    );
    let after = status(&mut s);
    assert_eq!(after.len(), 6);
    for row in &after {
        assert_ne!(row["health"], "unauthorized", "{row}");
    }
    let clients = curl_json(&[&format!("{}/admin/clients?full=1", lab.issuer)]);
    for i in 0..6 {
        let counts = &clients["by_client"][format!("fleet-{i}")];
        assert_eq!(counts["token_requests"], 1, "{clients}");
        assert_eq!(counts["tokens_issued"], 1, "{clients}");
    }
    assert_eq!(lab.stats()["by_grant"]["authorization_code"], 6);

    // Nothing waits any more: a second run asks the lab nothing.
    let again = s.expect(&["lab", "authorize-all"], 0);
    assert!(again.stdout.starts_with("authorized 0 of 0"), "{again}");
    assert_eq!(lab.stats()["token_requests"], 6);
}

#[test]
fn a_login_the_server_never_completes_is_given_up_and_named() {
    let lab = LabProcess::start("300s");
    // The lab answers an unknown client's authorization request with an error page: no code
    // ever reaches the loopback callback.
    let config = connector(&lab, 0, "fleet-0") + &connector(&lab, 1, "stranger");
    let mut s = Session::new(&config);
    let run = s.expect(&["lab", "authorize-all", "--timeout", "3s"], 1);
    assert!(run.stdout.starts_with("authorized 1 of 2"), "{run}");
    assert!(
        run.stderr
            .contains("1 connections were not authorized (first: c1: not authorized within 3 s)"),
        "{run}"
    );
    let rows = status(&mut s);
    let health = |id: &str| {
        rows.iter()
            .find(|r| r["connection"].as_str().is_some_and(|c| c.starts_with(id)))
            .map(|r| r["health"].clone())
    };
    assert_ne!(health("c0"), Some(Value::from("unauthorized")), "{rows:?}");
    assert_eq!(health("c1"), Some(Value::from("unauthorized")), "{rows:?}");
}
