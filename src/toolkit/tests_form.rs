use serde_json::{Value, json};

use super::{Form, Kind, Row};

/// The shapes generated forms stumble on, in one schema.
fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "what to look for"},
            "limit": {"type": ["integer", "null"], "default": 10},
            "mode": {"enum": ["fast", "exact"]},
            "verbose": {"type": "boolean"},
            "target": {"$ref": "#/$defs/Target", "description": "where"},
            "after": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]},
            "shape": {"oneOf": [
                {"title": "circle", "type": "object",
                 "properties": {"r": {"type": "number"}}, "required": ["r"]},
                {"title": "label", "type": "string"}
            ]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "both": {"allOf": [
                {"properties": {"x": {"type": "integer"}}, "required": ["x"]},
                {"properties": {"y": {"type": "integer"}}}
            ]}
        },
        "required": ["query", "target"],
        "$defs": {
            "Target": {"type": "object",
                       "properties": {"host": {"type": "string"}, "port": {"type": "integer"}},
                       "required": ["host"]}
        }
    })
}

fn row<'a>(rows: &'a [Row], pointer: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.pointer == pointer)
        .unwrap_or_else(|| panic!("no row {pointer} in {rows:#?}"))
}

#[test]
fn every_property_has_a_row_with_its_type_mark_and_description() {
    let form = Form::template(&schema());
    let rows = form.rows();
    let names: Vec<&str> = rows.iter().map(|r| r.pointer.as_str()).collect();
    // Required first in the schema's order, then the rest; nested rows follow their parent.
    assert_eq!(
        names,
        [
            "/query",
            "/target",
            "/target/host",
            "/target/port",
            "/after",
            "/both",
            "/limit",
            "/mode",
            "/shape",
            "/tags",
            "/verbose"
        ]
    );
    let query = row(&rows, "/query");
    assert!(query.required && query.kind == Kind::String);
    assert_eq!(query.description.as_deref(), Some("what to look for"));
    let target = row(&rows, "/target");
    assert_eq!((target.kind.clone(), target.depth), (Kind::Object, 0));
    assert_eq!(target.description.as_deref(), Some("where"));
    assert_eq!(row(&rows, "/target/host").depth, 1);
    // Nullable types are their non-null type, marked.
    let limit = row(&rows, "/limit");
    assert_eq!(
        (
            limit.kind.clone(),
            limit.type_label.as_str(),
            limit.nullable
        ),
        (Kind::Integer, "integer or null", true)
    );
    // The default is filled in.
    assert_eq!((limit.present, limit.text.as_str()), (true, "10"));
    let after = row(&rows, "/after");
    assert_eq!(after.type_label, "string (date) or null");
    assert_eq!(
        row(&rows, "/mode").kind,
        Kind::Choice(vec![json!("fast"), json!("exact")])
    );
    assert_eq!(row(&rows, "/shape").variants, ["circle", "label"]);
    assert_eq!(row(&rows, "/tags").type_label, "array of string");
    assert_eq!(row(&rows, "/both").kind, Kind::Object);
    assert!(!row(&rows, "/verbose").present);
}

#[test]
fn typing_choosing_and_adding_build_the_arguments_and_the_check_follows() {
    let mut form = Form::template(&schema());
    let problems: Vec<String> = form.problems().iter().map(ToString::to_string).collect();
    assert!(problems.is_empty(), "{problems:?}");

    let rows = form.rows();
    form.set_text(row(&rows, "/target/host"), "example.org".into());
    form.set_text(row(&rows, "/limit"), "abc".into());
    let problems: Vec<String> = form.problems().iter().map(ToString::to_string).collect();
    assert!(
        problems.iter().any(|p| p.starts_with("/limit:")),
        "{problems:?}"
    );
    form.set_text(row(&rows, "/limit"), "25".into());
    form.cycle(row(&rows, "/mode"), true);
    form.cycle(row(&rows, "/mode"), true);
    form.cycle(row(&rows, "/verbose"), true);
    // An absent array gets its template, then an item, which gets a row of its own.
    form.add(row(&rows, "/tags"));
    form.add(row(&form.rows(), "/tags"));
    let rows = form.rows();
    form.set_text(row(&rows, "/tags/0"), "red".into());
    assert!(row(&rows, "/tags/0").item);
    // The union's other shape: its placeholder replaces the value, and its rows appear.
    form.add(row(&rows, "/shape"));
    let rows = form.rows();
    assert_eq!(row(&rows, "/shape").variant, 0);
    assert!(rows.iter().any(|r| r.pointer == "/shape/r"));
    form.cycle(row(&rows, "/shape"), true);
    let rows = form.rows();
    assert_eq!(row(&rows, "/shape").variant, 1);
    assert_eq!(row(&rows, "/shape").kind, Kind::String);
    form.set_text(row(&rows, "/shape"), "hello".into());
    assert_eq!(
        form.value(),
        &json!({
            "query": "", "target": {"host": "example.org"}, "limit": 25, "mode": "exact",
            "verbose": true, "tags": ["red"], "shape": "hello"
        })
    );
    assert!(form.problems().is_empty(), "{:?}", form.problems());
}

#[test]
fn removing_leaves_optional_out_nulls_a_nullable_and_drops_an_item() {
    let schema = json!({
        "properties": {
            "a": {"type": ["string", "null"]},
            "b": {"type": "string"},
            "list": {"type": "array", "items": {"type": "integer"}}
        },
        "required": ["a"]
    });
    let mut form = Form::new(&schema, json!({"a": "x", "b": "y", "list": [1, 2, 3]}));
    let rows = form.rows();
    form.remove(row(&rows, "/a"));
    form.remove(row(&rows, "/b"));
    form.remove(row(&rows, "/list/1"));
    assert_eq!(form.value(), &json!({"a": null, "list": [1, 3]}));
    // An integer field shows what was typed, and what is not a number is flagged, not lost.
    let rows = form.rows();
    form.set_text(row(&rows, "/list/0"), "-".into());
    assert_eq!(row(&form.rows(), "/list/0").text, "-");
    let problems: Vec<String> = form.problems().iter().map(ToString::to_string).collect();
    assert_eq!(problems, ["/list/0: expected integer, got \"-\""]);
}

#[test]
fn a_self_referencing_schema_and_a_huge_array_stay_bounded() {
    let schema = json!({
        "properties": {"node": {"$ref": "#"}, "items": {"type": "array"}},
        "required": ["node"]
    });
    let mut deep = json!({});
    for _ in 0..50 {
        deep = json!({"node": deep});
    }
    let form = Form::new(&schema, deep);
    // Two properties a level, down to the depth limit.
    assert_eq!(form.rows().len(), 2 * super::MAX_DEPTH);
    let many: Vec<Value> = (0..10_000).map(Value::from).collect();
    let form = Form::new(&schema, json!({"items": many}));
    assert_eq!(form.rows().len(), super::MAX_ROWS);
}

#[test]
fn keys_the_schema_does_not_name_get_rows_and_the_check_flags_them() {
    let schema = json!({
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "additionalProperties": false
    });
    let form = Form::new(&schema, json!({"a": "x", "zzz": 1}));
    let rows = form.rows();
    assert_eq!(row(&rows, "/zzz").kind, Kind::Any);
    let problems: Vec<String> = form.problems().iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("/zzz: unexpected"), "{problems:?}");
}
