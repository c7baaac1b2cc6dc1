use super::*;

#[test]
fn endpoints_resolve_against_the_sse_url_and_stay_on_its_origin() {
    let base = Url::parse("http://127.0.0.1:9/mcp/sse").unwrap();
    let rel = resolve_endpoint(&base, "/messages?sessionId=abc").unwrap();
    assert_eq!(rel.as_str(), "http://127.0.0.1:9/messages?sessionId=abc");
    let sibling = resolve_endpoint(&base, "message?sessionId=1").unwrap();
    assert_eq!(
        sibling.as_str(),
        "http://127.0.0.1:9/mcp/message?sessionId=1"
    );
    let abs = resolve_endpoint(&base, "http://127.0.0.1:9/m?s=1").unwrap();
    assert_eq!(abs.path(), "/m");
    for evil in [
        "http://evil.example/m",
        "https://127.0.0.1:9/m",
        "//127.0.0.1:10/m",
    ] {
        let f = resolve_endpoint(&base, evil).unwrap_err();
        assert_eq!(f.class, ErrorClass::Protocol, "{evil}");
        assert!(f.message.contains("another origin"), "{}", f.message);
    }
}

mod messages {
    use proptest::prelude::*;
    use rmcp::model::{NumberOrString, ServerJsonRpcMessage};
    use serde_json::{Value, json};
    use sse_stream::Sse;

    use super::super::message_of;
    use crate::domain::ErrorClass;

    fn event(kind: Option<&str>, data: &str) -> Sse {
        Sse {
            event: kind.map(str::to_string),
            data: Some(data.to_string()),
            ..Sse::default()
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        for deep in ["[".repeat(100_000), "{\"a\":".repeat(100_000)] {
            let f = message_of(event(None, &deep)).expect_err("not a message");
            assert_eq!(f.class, ErrorClass::Protocol);
            assert!(f.message.contains("malformed JSON-RPC message"), "{f}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any text in any event: no panic; other event types and empty data are skipped;
        /// a message event is a message or a clear error.
        #[test]
        fn arbitrary_event_data_never_panics(
            kind in prop_oneof![
                Just(None),
                Just(Some("message".to_string())),
                Just(Some("endpoint".to_string())),
                ".{0,8}".prop_map(Some),
            ],
            data in ".{0,200}",
        ) {
            let is_message = matches!(kind.as_deref(), None | Some("message"));
            match message_of(event(kind.as_deref(), &data)) {
                Ok(Some(_)) => prop_assert!(is_message),
                Ok(None) => prop_assert!(!is_message || data.trim().is_empty()),
                Err(f) => {
                    prop_assert!(is_message);
                    prop_assert!(f.message.starts_with("malformed JSON-RPC message on the SSE stream"), "{}", f.message);
                }
            }
        }

        /// Any JSON shape, in or around a JSON-RPC envelope: no panic, and never silently
        /// taken for something it is not.
        #[test]
        fn arbitrary_json_never_panics(value in json_value(), id in any::<i64>()) {
            for candidate in [
                value.clone(),
                json!({"jsonrpc": "2.0", "id": id, "result": value}),
                json!({"jsonrpc": "2.0", "id": id, "error": value}),
                json!({"jsonrpc": "2.0", "method": "notifications/message", "params": value}),
            ] {
                let _ = message_of(event(None, &candidate.to_string()));
            }
        }

        /// A well-formed response keeps its id, whatever its result holds.
        #[test]
        fn responses_keep_their_id(value in json_value(), id in any::<i64>(), text_id in "[a-z0-9-]{1,12}") {
            let result = json!({"anything": value});
            for (wire, want) in [
                (json!(id), NumberOrString::Number(id)),
                (json!(text_id), NumberOrString::String(text_id.clone().into())),
            ] {
                let data = json!({"jsonrpc": "2.0", "id": wire, "result": result}).to_string();
                match message_of(event(Some("message"), &data)) {
                    Ok(Some(ServerJsonRpcMessage::Response(r))) => prop_assert_eq!(r.id, want),
                    other => prop_assert!(false, "{data} gave {other:?}"),
                }
            }
        }
    }
}
