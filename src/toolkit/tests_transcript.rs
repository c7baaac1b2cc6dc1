use serde_json::json;

use super::*;

#[test]
fn messages_are_classified_with_method_and_id() {
    let request = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {}});
    let e = Entry::new(1, 0, Direction::Sent, &request);
    assert_eq!(
        (e.kind, e.headline().as_str()),
        ("request", "→ request tools/call #3")
    );
    let note = json!({"jsonrpc": "2.0", "method": "notifications/progress"});
    let e = Entry::new(2, 0, Direction::Received, &note);
    assert_eq!(e.headline(), "← notification notifications/progress");
    let error = json!({"jsonrpc": "2.0", "id": "a", "error": {"code": -1, "message": "no"}});
    assert_eq!(
        Entry::new(3, 0, Direction::Received, &error).headline(),
        "← error #a"
    );
    let result = json!({"jsonrpc": "2.0", "id": 3, "result": {}});
    assert_eq!(
        Entry::new(4, 0, Direction::Received, &result).kind,
        "response"
    );
}

#[test]
fn secrets_are_redacted_wherever_they_sit() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz";
    let message = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"arguments": {
            "headers": {"Authorization": "Bearer s3cr3t-opaque", "X-Api-Key": "k-123"},
            "note": format!("use {jwt} then"),
            "refresh_token": "rt-456",
            "password": "hunter2",
            "text": "Authorization: Basic dXNlcjpwYXNz",
            "plain": "nothing to hide"
        }}
    });
    let e = Entry::new(1, 0, Direction::Sent, &message);
    for secret in [
        "s3cr3t-opaque",
        "k-123",
        jwt,
        "rt-456",
        "hunter2",
        "dXNlcjpwYXNz",
    ] {
        assert!(!e.body.contains(secret), "{secret} leaked:\n{}", e.body);
    }
    assert!(e.body.contains("nothing to hide"), "{}", e.body);
    assert!(e.body.contains("use ‹redacted› then"), "{}", e.body);
    // Pretty-printed: one key a line.
    assert!(e.body.lines().count() > 10, "{}", e.body);
}

#[test]
fn bodies_are_capped_and_the_ring_is_bounded_in_count_and_bytes() {
    let huge = json!({"jsonrpc": "2.0", "id": 1, "result": {"text": "é".repeat(BODY_CAP)}});
    let e = Entry::new(1, 0, Direction::Received, &huge);
    assert!(e.body.len() < BODY_CAP + 100, "{}", e.body.len());
    assert!(
        e.body.ends_with("more bytes not kept"),
        "{}",
        &e.body[e.body.len() - 60..]
    );

    let mut ring = Ring::default();
    for i in 0..(RING_ENTRIES + 10) {
        ring.push(
            i as i64,
            Direction::Sent,
            &json!({"jsonrpc": "2.0", "method": "ping", "id": i}),
        );
    }
    let entries = ring.entries();
    assert_eq!(entries.len(), RING_ENTRIES);
    assert_eq!(entries[0].seq, 11);
    let mut ring = Ring::default();
    for _ in 0..40 {
        ring.push(0, Direction::Received, &huge);
    }
    let kept: usize = ring.entries().iter().map(|e| e.body.len()).sum();
    assert!(kept <= RING_BYTES, "{kept}");
    assert_eq!(ring.entries().last().map(|e| e.seq), Some(40));
}

#[test]
fn a_log_message_reads_back_with_its_level_logger_and_data_redacted() {
    let note = json!({"jsonrpc": "2.0", "method": "notifications/message",
        "params": {"level": "error", "logger": "db", "data": "login failed for Bearer abc.def"}});
    let e = Entry::new(1, 0, Direction::Received, &note);
    assert_eq!(
        e.log_line(),
        Some(LogLine {
            level: "error".into(),
            logger: Some("db".into()),
            text: "login failed for Bearer ‹redacted›".into()
        })
    );
    let structured = json!({"jsonrpc": "2.0", "method": "notifications/message",
        "params": {"level": "info", "data": {"rows": 3}}});
    let e = Entry::new(2, 0, Direction::Received, &structured);
    assert_eq!(
        e.log_line().map(|l| l.text),
        Some(r#"{"rows":3}"#.to_string())
    );
    // Our own messages and other notifications are not log lines.
    assert_eq!(Entry::new(3, 0, Direction::Sent, &note).log_line(), None);
    let progress = json!({"jsonrpc": "2.0", "method": "notifications/progress"});
    assert_eq!(
        Entry::new(4, 0, Direction::Received, &progress).log_line(),
        None
    );
}
