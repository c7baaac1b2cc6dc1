use serde_json::json;

use super::*;

fn messages(schema: Value, args: Value) -> Vec<String> {
    match check(&schema, &args) {
        Checked::Invalid(v) => v.iter().map(ToString::to_string).collect(),
        other => panic!("expected violations, got {other:?}"),
    }
}

fn add_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        "required": ["a", "b"]
    })
}

#[test]
fn valid_arguments_pass() {
    assert_eq!(
        check(&add_schema(), &json!({"a": 1, "b": 2.5})),
        Checked::Valid
    );
}

#[test]
fn missing_required_names_the_property_and_its_type() {
    assert_eq!(
        messages(add_schema(), json!({"a": 1})),
        ["/b: missing required property \"b\" (number)"]
    );
}

#[test]
fn wrong_type_shows_pointer_expectation_and_value() {
    assert_eq!(
        messages(add_schema(), json!({"a": "x", "b": 1})),
        ["/a: expected number, got \"x\""]
    );
}

#[test]
fn every_violation_is_reported() {
    let got = messages(add_schema(), json!({"a": "x"}));
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.contains(&"/a: expected number, got \"x\"".to_string()));
    assert!(got.contains(&"/b: missing required property \"b\" (number)".to_string()));
}

#[test]
fn arguments_that_are_not_an_object() {
    assert_eq!(
        messages(add_schema(), json!([1, 2])),
        ["(arguments): expected object, got [1,2]"]
    );
}

#[test]
fn refs_into_defs_are_followed() {
    let schema = json!({
        "type": "object",
        "$defs": {"Point": {
            "type": "object",
            "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
            "required": ["x", "y"]
        }},
        "properties": {"at": {"$ref": "#/$defs/Point"}},
        "required": ["at"]
    });
    assert_eq!(
        messages(schema.clone(), json!({"at": {"x": 1.5}})),
        [
            "/at/x: expected integer, got 1.5",
            "/at/y: missing required property \"y\" (integer)"
        ]
    );
    assert_eq!(
        messages(schema, json!({})),
        ["/at: missing required property \"at\" (object)"]
    );
}

#[test]
fn nullable_type_arrays() {
    let schema = json!({
        "type": "object",
        "properties": {"note": {"type": ["string", "null"]}}
    });
    assert_eq!(check(&schema, &json!({"note": null})), Checked::Valid);
    assert_eq!(check(&schema, &json!({"note": "hi"})), Checked::Valid);
    assert_eq!(
        messages(schema, json!({"note": 3})),
        ["/note: expected null or string, got 3"]
    );
}

#[test]
fn any_of_of_types_reads_as_one_line() {
    let schema = json!({
        "type": "object",
        "properties": {"limit": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
        "required": ["limit"]
    });
    assert_eq!(
        messages(schema.clone(), json!({"limit": "ten"})),
        ["/limit: expected integer or null, got \"ten\""]
    );
    assert_eq!(
        messages(schema, json!({})),
        ["/limit: missing required property \"limit\" (integer or null)"]
    );
}

#[test]
fn one_of_lists_each_alternative() {
    let schema = json!({
        "type": "object",
        "properties": {"target": {"oneOf": [
            {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
            {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
        ]}}
    });
    let got = messages(schema.clone(), json!({"target": {"id": "7"}}));
    assert_eq!(
        got,
        [
            "/target: matches none of the oneOf alternatives (got {\"id\":\"7\"})",
            "/target/id: alternative 1: expected integer, got \"7\"",
            "/target/name: alternative 2: missing required property \"name\" (string)",
        ]
    );
    let got = messages(schema, json!({"target": {"id": 1, "name": "x"}}));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("/target: matches more than one oneOf alternative"));
}

#[test]
fn additional_properties_and_enums() {
    let schema = json!({
        "type": "object",
        "properties": {"mode": {"enum": ["fast", "slow"]}},
        "additionalProperties": false
    });
    assert_eq!(
        messages(schema, json!({"mode": "medium", "extra": 1})),
        [
            "/extra: unexpected property \"extra\" (allowed: mode)",
            "/mode: expected one of [\"fast\",\"slow\"], got \"medium\""
        ]
    );
}

#[test]
fn remote_refs_are_never_fetched() {
    let schema = json!({"$ref": "http://127.0.0.1:9/schema.json"});
    assert!(matches!(
        check(&schema, &json!({})),
        Checked::SchemaUnusable(_)
    ));
}

#[test]
fn long_values_are_cut() {
    let long = "x".repeat(500);
    let got = messages(add_schema(), json!({"a": long, "b": 1}));
    assert!(got[0].chars().count() < 100, "{got:?}");
    assert!(got[0].ends_with('…'), "{got:?}");
}
