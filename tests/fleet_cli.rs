//! One bad connection never takes down the fleet, through the real binary: a token row that
//! cannot be decrypted, a process started with another vault key, an MCP endpoint that answers
//! 404. Each is something an operator meets (a copied database, a wrong `SWITCHBOARD_KEY` in a
//! unit file, a mistyped URL) and each used to fail the whole fleet or mislead.

#[path = "support/cli.rs"]
mod cli;
mod support;

use cli::{LabProcess, Session, parse_json, rest_connector};
use serde_json::Value;
use support::hostile::{Hostile, Reply};
use switchboard::store::{DB_FILE, KeySource, Vault};

fn status(s: &mut Session) -> Vec<Value> {
    let run = s.expect(&["status", "--json"], 0);
    match parse_json(&run.stdout) {
        Value::Array(rows) => rows,
        other => panic!("status --json is not an array: {other}"),
    }
}

fn row<'a>(rows: &'a [Value], connection: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["connection"] == connection)
        .unwrap_or_else(|| panic!("status lacks {connection}: {rows:?}"))
}

fn db(s: &Session) -> rusqlite::Connection {
    rusqlite::Connection::open(s.data_dir.join(DB_FILE)).expect("open the binary's database")
}

/// Replaces `connector`'s sealed token with one sealed under another key: what a row copied
/// from another machine looks like to this one.
fn seal_under_another_key(s: &Session, connector: &str) {
    let other = Vault::from_key(&[0xee; 32], KeySource::Env);
    let aad = format!("switchboard:token:{connector}/default");
    let sealed = other.seal(&aad, br#"{"a":"lab_at_forged","r":"lab_rt_forged"}"#);
    let n = db(s)
        .execute(
            "UPDATE tokens SET sealed = ?1 WHERE connector = ?2",
            rusqlite::params![sealed, connector],
        )
        .expect("rewrite the row");
    assert_eq!(n, 1, "{connector} has a token row");
}

#[test]
fn an_undecryptable_token_marks_its_connection_and_spares_the_fleet() {
    let lab = LabProcess::start("60s");
    let config = format!(
        "{}\n{}",
        rest_connector(&lab, "good"),
        rest_connector(&lab, "bad")
    );
    let mut s = Session::new(&config);
    s.expect(&["auth", "good"], 0);
    s.expect(&["auth", "bad"], 0);
    seal_under_another_key(&s, "bad");

    // status: the fleet is shown, `bad` by name as needing re-auth, with the reason.
    let rows = status(&mut s);
    let bad = row(&rows, "bad");
    assert_eq!(bad["health"], "needs_reauth", "{rows:?}");
    let detail = bad["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("could not be decrypted"), "{detail}");
    assert!(detail.contains("`switchboard auth bad`"), "{detail}");
    assert_ne!(row(&rows, "good")["health"], "needs_reauth", "{rows:?}");
    let run = s.expect(&["status"], 0);
    assert!(run.stdout.contains("could not be decrypted"), "{run}");

    // A daemon starts and runs the fleet: its first probe round reaches `good`.
    let (mut cmd, out, err) = s.command(&["daemon"]);
    let daemon = cmd.spawn().expect("start the daemon");
    let started = std::time::Instant::now();
    loop {
        let rows = status(&mut s);
        if row(&rows, "good")["probes_1h"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the daemon never probed the good connection: {rows:?}\n{}",
            std::fs::read_to_string(&err).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let term = std::process::Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let run = s.finish(&["daemon"], daemon, &out, &err);
    assert_eq!(run.code, 0, "{run}");

    // The rest of the fleet works; `bad` asks for a human (exit 3) and sends nothing.
    s.expect(&["refresh", "good"], 0);
    let run = s.expect(&["refresh", "bad"], 3);
    assert!(run.stderr.contains("switchboard auth bad"), "{run}");

    // `auth` overwrites the unreadable row.
    s.expect(&["auth", "bad"], 0);
    let rows = status(&mut s);
    assert_ne!(row(&rows, "bad")["health"], "needs_reauth", "{rows:?}");
    s.expect(&["refresh", "bad"], 0);

    // `revoke` forgets an unreadable row (it cannot be revoked at the server: nothing to send).
    seal_under_another_key(&s, "bad");
    let run = s.expect(&["revoke", "bad"], 0);
    assert!(run.stdout.contains("could not be decrypted"), "{run}");
    assert!(run.stdout.contains("provider's console"), "{run}");
    let left: i64 = db(&s)
        .query_row(
            "SELECT COUNT(*) FROM tokens WHERE connector = 'bad'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(left, 0, "the unreadable row is forgotten");
    let rows = status(&mut s);
    assert_eq!(row(&rows, "bad")["health"], "unauthorized", "{rows:?}");
    s.expect(&["refresh", "good"], 0);
}

/// Rows of the event log and the token generation: what any write would change.
fn fingerprint(s: &Session) -> (i64, i64) {
    let c = db(s);
    let events = c
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .expect("events");
    let generation = c
        .query_row("SELECT MAX(generation) FROM tokens", [], |r| r.get(0))
        .expect("generation");
    (events, generation)
}

#[test]
fn a_process_with_another_key_refuses_to_write() {
    let lab = LabProcess::start("60s");
    let mut s = Session::new(&rest_connector(&lab, "rest"));
    let first = "11".repeat(32);
    let second = "22".repeat(32);
    s.env.push(("SWITCHBOARD_KEY".into(), first.clone().into()));
    s.expect(&["auth", "rest"], 0);
    s.expect(&["refresh", "rest"], 0);
    let before = fingerprint(&s);

    s.env = vec![("SWITCHBOARD_KEY".into(), second.into())];
    for args in [
        &["status", "--json"][..],
        &["refresh", "rest"],
        &["auth", "rest"],
        &["revoke", "rest"],
    ] {
        let run = s.expect(args, 1);
        assert!(run.stderr.contains("another vault key"), "{run}");
        assert!(run.stderr.contains("$SWITCHBOARD_KEY"), "{run}");
        assert!(run.stderr.contains("nothing was written"), "{run}");
        assert!(!run.stderr.contains(&first), "{run}");
    }
    assert_eq!(fingerprint(&s), before, "the second key wrote nothing");

    // The right key still finds everything as it was.
    s.env = vec![("SWITCHBOARD_KEY".into(), first.into())];
    let rows = status(&mut s);
    assert_ne!(row(&rows, "rest")["health"], "needs_reauth", "{rows:?}");
    s.expect(&["refresh", "rest"], 0);
}

#[test]
fn a_database_from_before_the_key_check_takes_it_from_the_key_that_opens_it() {
    let lab = LabProcess::start("60s");
    let mut s = Session::new(&rest_connector(&lab, "rest"));
    let (first, second) = ("33".repeat(32), "44".repeat(32));
    s.env.push(("SWITCHBOARD_KEY".into(), first.clone().into()));
    s.expect(&["auth", "rest"], 0);
    // As it was before migration 6: no meta table (nor what later migrations add), schema
    // version 5.
    let c = db(&s);
    c.execute_batch(
        "DROP TABLE meta; DROP TABLE rollups; DROP INDEX probes_by_time_covering;
         DROP INDEX events_by_time; DROP TABLE paused; DROP TABLE at_risk;
         DROP TRIGGER events_no_delete; DROP TABLE events_prune_permit;
         DROP TABLE alert_outbox; DROP TABLE alert_incidents; DROP TABLE alert_deliveries;
         DROP TRIGGER events_refresh_stats; DROP TABLE refresh_stats; DROP TABLE rollup_spans; DROP TABLE windows;
         ALTER TABLE leases DROP COLUMN fence; ALTER TABLE connections DROP COLUMN token_fence;
         PRAGMA user_version = 5;",
    )
    .expect("downgrade");
    drop(c);

    s.env = vec![("SWITCHBOARD_KEY".into(), second.clone().into())];
    let run = s.expect(&["refresh", "rest"], 1);
    assert!(
        run.stderr.contains("none of its 1 stored token decrypt"),
        "{run}"
    );

    s.env = vec![("SWITCHBOARD_KEY".into(), first.into())];
    s.expect(&["refresh", "rest"], 0);
    // Now the check value is there: the second key is refused even with no token to try.
    db(&s).execute("DELETE FROM tokens", []).expect("forget");
    s.env = vec![("SWITCHBOARD_KEY".into(), second.into())];
    let run = s.expect(&["status"], 1);
    assert!(run.stderr.contains("another vault key"), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_endpoint_that_answers_404_is_not_an_auth_failure() {
    let peer = Hostile::start(|_| Reply::text(404, "text/plain", "Not Found")).await;
    let config = format!(
        r#"[[connectors]]
id = "lost"
kind = "mcp"
[connectors.mcp]
transport = "streamable-http"
url = "{}"
"#,
        peer.url("/mcp")
    );
    let run = tokio::task::spawn_blocking(move || {
        let mut s = Session::new(&config);
        s.expect(&["probe", "lost", "--json"], 1)
    })
    .await
    .expect("probe ran");
    let result = parse_json(&run.stdout);
    let failure = &result["failure"];
    assert_eq!(failure["class"], "protocol", "{run}");
    let message = failure["message"].as_str().unwrap_or_default();
    assert!(message.contains("404"), "{run}");
    assert!(!run.stderr.contains("auth:"), "{run}");
    assert!(!peer.requests_to("/mcp").is_empty(), "the peer was asked");
}

/// `status` at a fleet's scale leaves its engine's rows to the process's exit
/// (`Running::shutdown_before_exit`): every connection is still shown, in the config's order,
/// on a new data directory and again on the store the first run made, and the table too.
#[test]
fn a_large_fleets_status_shows_every_connection() {
    const N: usize = 3_000;
    let mut config = String::new();
    for i in 0..N {
        config.push_str(&format!(
            "[[connectors]]\nid = \"c{i:05}\"\nkind = \"rest\"\n[connectors.rest]\n\
             base_url = \"http://127.0.0.1:9/api\"\nhealth_path = \"/health\"\n\n"
        ));
    }
    let mut s = Session::new(&config);
    for _ in 0..2 {
        let rows = status(&mut s);
        assert_eq!(rows.len(), N);
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r["connection"], format!("c{i:05}"), "{r}");
            assert_eq!(r["health"], "pending", "{r}");
        }
    }
    let table = s.expect(&["status"], 0);
    assert!(table.stdout.contains("c00000") && table.stdout.contains("c02999"));
}
