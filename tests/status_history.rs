//! What a one-shot `status` shows comes from the store, so it matches what other processes saw:
//! a probe's failure recorded by `switchboard probe` (or by a daemon) is the connection's last
//! error in a later `status`, not only in the process that probed.

#[path = "support/cli.rs"]
mod cli;
mod support;

use support::hostile::{Hostile, Reply};

#[test]
fn a_failed_probe_is_the_last_error_in_a_later_status() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let api = rt.block_on(Hostile::start(|_| {
        Reply::text(503, "text/plain", "maintenance")
    }));
    let config = format!(
        r#"[[connectors]]
id = "api"
kind = "rest"
[connectors.rest]
base_url = "{}"
health_path = "/health"
[connectors.auth]
type = "bearer"
token = "static-token-value"
"#,
        api.url("")
    );
    let mut s = cli::Session::new(&config);
    let probe = s.run(&["probe", "api"]);
    assert_ne!(probe.code, 0, "{probe}");
    let status = s.expect(&["status", "--json"], 0);
    let rows = cli::parse_json(&status.stdout);
    let row = &rows[0];
    assert_eq!(row["last_error"]["class"], "server", "{status}");
    assert!(
        row["last_error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("503")),
        "{status}"
    );
    assert!(!status.stdout.contains("static-token-value"));
}
