//! The form read from a schema, the defaults answer, and typed values.

use serde_json::{Value, json};

use super::form::{Form, Kind, fill_defaults};
use rmcp::model::ElicitationSchema;

/// The form of the conformance suite's SEP-1034 scenario, as it comes over the wire (parsed
/// from text: a `json!` map would sort the properties).
pub(crate) fn sep1034() -> ElicitationSchema {
    let wire = r#"{
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "User name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": {"type": "string", "description": "User status",
                       "enum": ["active", "inactive", "pending"], "default": "active"},
            "verified": {"type": "boolean", "description": "Verification status", "default": true}
        },
        "required": []
    }"#;
    serde_json::from_str(wire).expect("a valid elicitation schema")
}

pub(super) fn schema(v: Value) -> ElicitationSchema {
    serde_json::from_value(v).expect("a valid elicitation schema")
}

pub(super) fn form(v: Value) -> Form {
    Form::from_schema(&schema(v)).expect("a usable form")
}

#[test]
fn fields_keep_the_servers_order_and_kinds() {
    let f = Form::from_schema(&sep1034()).unwrap();
    let names: Vec<&str> = f.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["name", "age", "score", "status", "verified"]);
    assert!(matches!(f.fields[1].kind, Kind::Integer { .. }));
    assert!(matches!(&f.fields[3].kind, Kind::OneOf(c) if c.len() == 3));
    assert_eq!(f.fields[4].default, Some(json!(true)));
}

#[test]
fn defaults_fill_every_field_that_has_one() {
    let content = fill_defaults(&Form::from_schema(&sep1034()).unwrap()).unwrap();
    assert_eq!(
        Value::Object(content),
        json!({"name": "John Doe", "age": 30, "score": 95.5, "status": "active", "verified": true})
    );
    // Optional without a default: left out. Required without one: named.
    let f = form(json!({"type": "object", "properties": {
        "nick": {"type": "string"},
        "team": {"type": "string", "default": "ops"}
    }}));
    assert_eq!(
        Value::Object(fill_defaults(&f).unwrap()),
        json!({"team": "ops"})
    );
    let f = form(
        json!({"type": "object", "required": ["email"], "properties": {
            "email": {"type": "string", "format": "email"},
            "team": {"type": "string", "default": "ops"}
        }}),
    );
    let unfilled = fill_defaults(&f).unwrap_err();
    assert_eq!(unfilled.field, "email");
    assert_eq!(unfilled.why, "it has no default");
}

#[test]
fn a_default_the_schema_rejects_is_set_aside() {
    let f = form(
        json!({"type": "object", "required": ["level"], "properties": {
            "level": {"type": "string", "enum": ["low", "high"], "default": "medium"},
            "n": {"type": "integer", "minimum": 1, "default": 0}
        }}),
    );
    assert_eq!(f.fields[0].default, None);
    let unfilled = fill_defaults(&f).unwrap_err();
    assert_eq!(unfilled.field, "level");
    assert!(unfilled.why.contains("\"medium\""), "{}", unfilled.why);
    assert!(
        f.fields[1]
            .ignored_default
            .as_deref()
            .unwrap_or("")
            .contains("below the minimum 1")
    );
}

#[test]
fn a_schema_no_answer_can_satisfy_is_refused() {
    let bad = schema(
        json!({"type": "object", "required": ["ghost"], "properties": {
            "a": {"type": "string"}
        }}),
    );
    let err = Form::from_schema(&bad).unwrap_err();
    assert!(err.contains("`ghost`"), "{err}");
}

#[test]
fn typed_answers_are_parsed_and_checked() {
    let f = form(json!({"type": "object", "properties": {
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "ratio": {"type": "number"},
        "ok": {"type": "boolean"},
        "color": {"type": "string", "oneOf": [
            {"const": "r", "title": "Red"}, {"const": "g", "title": "Green"}]},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]}, "maxItems": 2},
        "mail": {"type": "string", "format": "email"},
        "code": {"type": "string", "minLength": 3}
    }}));
    let field = |n: &str| f.fields.iter().find(|x| x.name == n).unwrap();
    assert_eq!(field("age").parse(" 42 "), Ok(json!(42)));
    assert_eq!(
        field("age").parse("abc"),
        Err("`abc` is not a whole number (e.g. 42)".into())
    );
    assert_eq!(
        field("age").parse("4.5"),
        Err("`4.5` is not a whole number (e.g. 42)".into())
    );
    assert_eq!(
        field("age").parse("200"),
        Err("200 is above the maximum 150".into())
    );
    assert_eq!(field("ratio").parse("0.25"), Ok(json!(0.25)));
    assert_eq!(field("ratio").parse("9"), Ok(json!(9)), "not 9.0");
    assert!(field("ratio").parse("NaN").is_err());
    assert_eq!(field("ok").parse("Yes"), Ok(json!(true)));
    assert_eq!(field("ok").parse("n"), Ok(json!(false)));
    assert_eq!(
        field("ok").parse("maybe"),
        Err("`maybe` is not yes or no".into())
    );
    assert_eq!(field("color").parse("2"), Ok(json!("g")));
    assert_eq!(field("color").parse("red"), Ok(json!("r")));
    assert_eq!(
        field("color").parse("blue"),
        Err("`blue` is not one of: r, g".into())
    );
    assert_eq!(field("tags").parse("a, 3, a"), Ok(json!(["a", "c"])));
    assert_eq!(
        field("tags").parse("a,b,c"),
        Err("3 picked, at most 2 allowed".into())
    );
    assert!(field("mail").parse("ops@example.com").is_ok());
    assert!(
        field("mail")
            .parse("ops")
            .unwrap_err()
            .contains("email address")
    );
    assert_eq!(
        field("code").parse("ab"),
        Err("2 characters, at least 3 needed".into())
    );
}
