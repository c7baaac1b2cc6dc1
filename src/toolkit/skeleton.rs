//! A starting point for a tool's arguments: its required properties, each at a placeholder of
//! the type the schema asks for, in the order the schema lists them. A template to edit beats
//! a blank to remember, and leaving optional properties out keeps the template valid as it
//! stands whenever the placeholders are.

use serde_json::{Map, Value};

use super::schema::resolve_ref;

/// Beyond this, a nested (or self-referencing) schema gets `null`: a template need not be deep.
const MAX_DEPTH: usize = 4;
/// A template up to this wide stays on one line; wider ones get a line per property.
const ONE_LINE: usize = 60;

/// The arguments template for `schema` as text: `{"a": 0, "b": ""}`, or one property a line
/// when that would be long; `{}` when the schema has no required properties.
pub fn skeleton_text(schema: &Value) -> String {
    let fields = fields(schema, schema, 0);
    if fields.is_empty() {
        return "{}".into();
    }
    let items: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("{}: {}", Value::from(name.as_str()), inline(value)))
        .collect();
    let one_line = format!("{{{}}}", items.join(", "));
    if one_line.chars().count() <= ONE_LINE {
        return one_line;
    }
    format!("{{\n  {}\n}}", items.join(",\n  "))
}

/// The required properties of an object schema with their placeholders, in `required` order
/// (a JSON object's keys have none worth trusting once parsed).
fn fields(root: &Value, schema: &Value, depth: usize) -> Vec<(String, Value)> {
    let schema = resolve_ref(root, schema).unwrap_or(schema);
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let required = schema.get("required").and_then(Value::as_array);
    required
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|name| {
            let value = props
                .get(name)
                .map_or(Value::Null, |p| placeholder(root, p, depth + 1));
            (name.to_string(), value)
        })
        .collect()
}

/// A value of the type `schema` asks for: its default, const, first enum value or example,
/// else an empty one; objects with their required properties.
pub(super) fn placeholder(root: &Value, schema: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    let schema = resolve_ref(root, schema).unwrap_or(schema);
    for keyword in ["default", "const"] {
        if let Some(v) = schema.get(keyword) {
            return v.clone();
        }
    }
    for keyword in ["enum", "examples"] {
        if let Some(v) = schema
            .get(keyword)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return v.clone();
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        // `["integer", "null"]` is how an optional number is often written: take the number.
        Some(Value::Array(ts)) => {
            let mut names = ts.iter().filter_map(Value::as_str);
            let first = names.clone().next();
            names.find(|t| *t != "null").or(first)
        }
        _ => None,
    };
    match kind {
        Some("string") => Value::String(String::new()),
        Some("integer" | "number") => Value::from(0),
        Some("boolean") => Value::Bool(false),
        Some("array") => Value::Array(Vec::new()),
        Some("object") => object(root, schema, depth),
        Some(_) => Value::Null,
        None if schema.get("properties").is_some() => object(root, schema, depth),
        None => ["anyOf", "oneOf"]
            .iter()
            .filter_map(|k| schema.get(*k).and_then(Value::as_array))
            .flatten()
            .find(|b| b.get("type").and_then(Value::as_str) != Some("null"))
            .map_or(Value::Null, |b| placeholder(root, b, depth + 1)),
    }
}

fn object(root: &Value, schema: &Value, depth: usize) -> Value {
    Value::Object(
        fields(root, schema, depth)
            .into_iter()
            .collect::<Map<_, _>>(),
    )
}

/// Compact JSON with a space after `:` and `,`, easier to read and to move through by word.
fn inline(value: &Value) -> String {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::from(k.as_str()), inline(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(items) if !items.is_empty() => {
            let items: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn required_properties_in_schema_order_at_typed_placeholders() {
        let schema = json!({
            "type": "object",
            "properties": {
                "z": {"type": "string"},
                "a": {"type": "number"},
                "flag": {"type": "boolean"},
                "optional": {"type": "string"}
            },
            "required": ["z", "a", "flag"]
        });
        assert_eq!(
            skeleton_text(&schema),
            r#"{"z": "", "a": 0, "flag": false}"#
        );
    }

    #[test]
    fn no_required_properties_or_none_at_all_is_an_empty_object() {
        assert_eq!(skeleton_text(&json!({"type": "object"})), "{}");
        let optional = json!({"properties": {"to": {"type": ["integer", "null"]}}});
        assert_eq!(skeleton_text(&optional), "{}");
    }

    #[test]
    fn enums_defaults_refs_and_nullable_types_pick_a_usable_value() {
        let schema = json!({
            "properties": {
                "mode": {"enum": ["fast", "slow"]},
                "limit": {"type": ["null", "integer"]},
                "retries": {"type": "integer", "default": 3},
                "target": {"$ref": "#/$defs/Target"},
                "either": {"anyOf": [{"type": "null"}, {"type": "array"}]}
            },
            "required": ["mode", "limit", "retries", "target", "either"],
            "$defs": {
                "Target": {"type": "object", "properties": {"host": {"type": "string"}},
                           "required": ["host"]}
            }
        });
        assert_eq!(
            skeleton_text(&schema),
            "{\n  \"mode\": \"fast\",\n  \"limit\": 0,\n  \"retries\": 3,\n  \
             \"target\": {\"host\": \"\"},\n  \"either\": []\n}"
        );
    }

    #[test]
    fn a_self_referencing_schema_stops_at_the_depth_limit() {
        let schema = json!({
            "properties": {"node": {"$ref": "#"}},
            "required": ["node"]
        });
        let text = skeleton_text(&schema);
        assert!(text.contains("null"), "{text}");
        assert!(serde_json::from_str::<Value>(&text).is_ok(), "{text}");
    }
}
