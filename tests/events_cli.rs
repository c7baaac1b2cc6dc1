//! `switchboard events` through the real binary against a lab process: `--json` lines carry
//! exactly what the store holds (a round trip), the filters filter, `--follow` prints events
//! written after it started, a closed pipe ends it quietly, and the log is append-only: the
//! store refuses UPDATE and DELETE, and `events prune` is the one way rows leave it.

#[path = "support/cli.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{BIN, KillOnDrop, LabProcess, Session, rest_connector, scrubbed};

fn db(s: &Session) -> rusqlite::Connection {
    rusqlite::Connection::open(s.data_dir.join("switchboard.db")).expect("open the store")
}

/// (id, at, kind, outcome, detail) of every row, as SQLite holds them.
type Row = (i64, i64, String, String, Option<String>);

fn rows(s: &Session) -> Vec<Row> {
    let c = db(s);
    let mut stmt = c
        .prepare("SELECT id, at, kind, outcome, detail FROM events ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(support::parse_json).collect()
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .timestamp_millis()
}

#[test]
fn events_json_round_trips_and_filters() {
    let lab = LabProcess::start("60s");
    let mut s = Session::new(&rest_connector(&lab, "rest"));
    s.expect(&["auth", "rest"], 0);
    s.expect(&["refresh", "rest"], 0);
    s.expect(&["refresh", "rest"], 0);
    let _ = s.run(&["probe", "rest"]);

    let run = s.expect(&["events", "--json"], 0);
    let got = lines(&run.stdout);
    let stored = rows(&s);
    assert!(stored.len() >= 4, "{stored:?}");
    assert_eq!(got.len(), stored.len(), "{run}");
    for (line, (id, at, kind, outcome, detail)) in got.iter().zip(&stored) {
        assert_eq!(line["id"], *id, "{line}");
        assert_eq!(ms(line["at"].as_str().unwrap()), *at, "{line}");
        assert_eq!(line["kind"], kind.as_str(), "{line}");
        assert_eq!(line["outcome"], outcome.as_str(), "{line}");
        assert_eq!(line["detail"].as_str(), detail.as_deref(), "{line}");
    }
    // Text has the same rows, one a line, with the same RFC 3339 instants.
    let text = s.expect(&["events"], 0).stdout;
    assert_eq!(text.lines().count(), stored.len(), "{text}");
    for line in &got {
        assert!(text.contains(line["at"].as_str().unwrap()), "{text}");
    }

    let run = s.expect(
        &[
            "events",
            "--connector",
            "rest",
            "--kind",
            "refresh",
            "--json",
        ],
        0,
    );
    let refreshes = lines(&run.stdout);
    assert_eq!(refreshes.len(), 2, "{run}");
    assert!(
        refreshes
            .iter()
            .all(|l| l["kind"] == "refresh" && l["connector"] == "rest")
    );
    let run = s.expect(&["events", "--since", "1h", "--limit", "2", "--json"], 0);
    let newest = lines(&run.stdout);
    assert_eq!(newest.len(), 2);
    assert_eq!(
        newest[1]["id"],
        stored.last().unwrap().0,
        "the newest are kept"
    );
    let run = s.expect(&["events", "--since", "2999-01-01T00:00:00Z"], 0);
    assert!(run.stdout.is_empty(), "{run}");
    let run = s.expect(&["events", "--since", "yesterday"], 2);
    assert!(run.stderr.contains("RFC 3339"), "{run}");

    // A reader that goes away (`events | head -1`) ends the command quietly.
    let script = format!(
        "'{BIN}' --config '{}' --data-dir '{}' events | head -1 >/dev/null; echo \"${{PIPESTATUS[0]}}\"",
        s.config.display(),
        s.data_dir.display()
    );
    let out = scrubbed("bash").args(["-c", &script]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(said.trim(), "0", "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn follow_prints_events_written_after_it_started() {
    let lab = LabProcess::start("60s");
    let mut s = Session::new(&rest_connector(&lab, "rest"));
    s.expect(&["auth", "rest"], 0);
    let (mut cmd, out, _) = s.command(&["events", "--follow", "--json", "--kind", "refresh"]);
    let _follow = KillOnDrop(cmd.spawn().expect("start events --follow"));
    // Keeps the next command's output files apart from this one's (they are numbered by runs).
    s.transcript.push(support::Run {
        args: "events --follow (running)".into(),
        code: -1,
        stdout: String::new(),
        stderr: String::new(),
    });
    std::thread::sleep(Duration::from_secs(2));
    let before = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(before.is_empty(), "no refresh yet: {before}");
    s.expect(&["refresh", "rest"], 0);
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if let Some(line) = text.lines().next() {
            let v = support::parse_json(line);
            assert_eq!(v["kind"], "refresh");
            assert_eq!(v["connection"], "rest");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "--follow never printed the refresh"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_log_is_append_only_and_prune_is_the_one_way_out() {
    let lab = LabProcess::start("60s");
    let mut s = Session::new(&rest_connector(&lab, "rest"));
    s.expect(&["auth", "rest"], 0);
    s.expect(&["refresh", "rest"], 0);
    let before = rows(&s).len();
    assert!(before >= 2);

    let c = db(&s);
    let e = c.execute("DELETE FROM events", []).unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    let e = c
        .execute("UPDATE events SET outcome = 'ok'", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    drop(c);
    assert_eq!(rows(&s).len(), before);

    let cutoff = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    std::thread::sleep(Duration::from_millis(20));
    let run = s.expect(&["events", "prune", "--older-than", &cutoff], 0);
    assert!(
        run.stdout.contains(&format!("pruned {before} events")),
        "{run}"
    );
    let left = rows(&s);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].2, "events_pruned", "the prune is on the record");
    // The guard is back on after the prune.
    assert!(db(&s).execute("DELETE FROM events", []).is_err());
}
