//! Elicitation on a *configured* connector through the real binary: server-everything (a real
//! third-party MCP peer, over stdio) asks for input from inside `trigger-elicitation-request`.
//! `call CONNECTOR` answers as `--elicit` says, like an ad hoc target: typed at the prompt
//! (answers piped to stdin), declined, or refused for want of a required field's default. The
//! server reports back what it received, so each answer is checked on the server's side.

#[path = "support/everything.rs"]
mod everything;
#[path = "support/cli.rs"]
mod support;

use std::io::Write;
use std::process::Stdio;

use support::{Run, Session};

const TOOL: &str = "trigger-elicitation-request";

fn session() -> Session {
    Session::new(&everything::stdio_config())
}

/// Runs `args` with `stdin` written to the command's standard input, then closed.
fn run_with_stdin(s: &mut Session, args: &[&str], stdin: &str) -> Run {
    let (mut cmd, out, err) = s.command(args);
    let mut child = cmd
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run switchboard: {e}"));
    if let Some(mut pipe) = child.stdin.take() {
        // The prompt may exit before reading all of it; a broken pipe is fine.
        let _ = pipe.write_all(stdin.as_bytes());
    }
    s.finish(args, child, &out, &err)
}

#[test]
fn a_configured_connector_answers_elicitation_at_the_prompt() {
    let mut s = session();
    // A name for the one required field, then Enter for everything else (a default where the
    // schema has one, else left out) and for the review.
    let answers = format!("Ada Lovelace\n{}", "\n".repeat(40));
    let run = run_with_stdin(
        &mut s,
        &["call", "--elicit", "ask", "everything", TOOL],
        &answers,
    );
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("- Name: Ada Lovelace"), "{run}");
    // Defaults taken with Enter reach the server typed, not as strings.
    assert!(run.stdout.contains("- Favorite Integer: 42"), "{run}");
    assert!(run.stdout.contains("- Favorite Number: 3.14"), "{run}");
    assert!(!run.stderr.contains("panicked"), "{run}");

    // The call went through the engine: it is in the event log, with its outcome.
    let db = rusqlite::Connection::open(s.data_dir.join("switchboard.db")).expect("db");
    let outcome: String = db
        .query_row(
            "SELECT outcome FROM events WHERE kind = 'tool_call' AND connector = 'everything' \
             AND detail = ?1",
            [TOOL],
            |r| r.get(0),
        )
        .expect("one tool_call event for the call");
    assert_eq!(outcome, "ok");

    // The list that call saw (with the tool offered only to clients that answer elicitation)
    // is not the one the console and the daemon share through the store: a declining session
    // must not be shown, and sent, a tool the server will not run for it.
    let run = s.expect(&["call", "--elicit", "decline", "everything", TOOL], 2);
    assert!(
        run.stderr.contains("has no tool") && run.stderr.contains("get-sum"),
        "{run}"
    );
}

#[test]
fn a_configured_connector_declines_or_refuses_without_a_person() {
    let mut s = session();
    // `decline` does not announce elicitation at all, so this server does not even offer the
    // tool; the error lists what it does offer. (First: the catalogue is cached, and a later
    // session that announced elicitation would have listed the tool.)
    let run = s.expect(&["call", "--elicit", "decline", "everything", TOOL], 2);
    assert!(run.stderr.contains("has no tool"), "{run}");

    // `defaults` announces the capability, but `name` is required and has no default: the
    // server hears a decline, and the operator hears which field and what to do.
    let run = s.expect(&["call", "--elicit", "defaults", "everything", TOOL], 0);
    assert!(run.stdout.contains("User declined"), "{run}");
    assert!(!run.stdout.contains("- Name:"), "{run}");
    assert!(
        run.stderr.contains("required field `name`") && run.stderr.contains("--elicit ask"),
        "{run}"
    );
}
