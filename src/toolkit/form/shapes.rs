//! Small pure helpers of the argument form: what a schema node is, how a value shows in a row.

use serde_json::{Map, Value};

use super::Kind;
use crate::toolkit::schema::{describe, resolve_ref};

pub(super) use crate::toolkit::schema::escape;

pub(super) fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Whether `pointer` is `base` or inside it (`/a/b` is under `/a`; `/ab` is not).
pub(super) fn under(pointer: &str, base: &str) -> bool {
    pointer == base
        || pointer
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'))
}

pub(super) fn is_null_type(root: &Value, branch: &Value) -> bool {
    let b = resolve_ref(root, branch).unwrap_or(branch);
    b.get("type").and_then(Value::as_str) == Some("null") || b.get("const") == Some(&Value::Null)
}

pub(super) fn kind(node: &Value) -> Kind {
    if let Some(options) = node.get("enum").and_then(Value::as_array) {
        return Kind::Choice(options.clone());
    }
    if let Some(c) = node.get("const") {
        return Kind::Choice(vec![c.clone()]);
    }
    match node.get("type").and_then(Value::as_str) {
        Some("string") => Kind::String,
        Some("number") => Kind::Number,
        Some("integer") => Kind::Integer,
        Some("boolean") => Kind::Boolean,
        Some("object") => Kind::Object,
        Some("array") => Kind::Array,
        Some(_) => Kind::Any,
        None if node.get("properties").is_some() => Kind::Object,
        None if node.get("items").is_some() => Kind::Array,
        None => Kind::Any,
    }
}

pub(super) fn type_label(root: &Value, node: &Value, kind: &Kind) -> String {
    match kind {
        Kind::Choice(options) if options.len() == 1 => "const".into(),
        Kind::Choice(_) => "enum".into(),
        Kind::Array => {
            let item = node
                .get("items")
                .map(|i| describe(root, i))
                .unwrap_or_default();
            if item.is_empty() {
                "array".into()
            } else {
                format!("array of {item}")
            }
        }
        Kind::String => match node.get("format").and_then(Value::as_str) {
            Some(f) => format!("string ({f})"),
            None => "string".into(),
        },
        Kind::Number => "number".into(),
        Kind::Integer => "integer".into(),
        Kind::Boolean => "boolean".into(),
        Kind::Object => "object".into(),
        Kind::Any => "any (JSON)".into(),
    }
}

/// What an alternative of a union is called in its row: its title, else what it wants.
pub(super) fn variant_label(root: &Value, branch: &Value) -> String {
    let b = resolve_ref(root, branch).unwrap_or(branch);
    if let Some(t) = b.get("title").and_then(Value::as_str) {
        return t.to_string();
    }
    if let Some(name) = branch
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
    {
        return name.to_string();
    }
    let d = describe(root, b);
    if d.is_empty() {
        "alternative".into()
    } else {
        d
    }
}

/// A value as its row shows it; containers by their size (their members have rows).
pub(super) fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => format!("{{{} field{}}}", m.len(), plural(m.len())),
        Value::Array(a) => format!("[{} item{}]", a.len(), plural(a.len())),
        other => other.to_string(),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `allOf` as one schema: the branches' properties and required lists together.
pub(super) fn merge_all(root: &Value, node: &Value, all: &[Value]) -> Value {
    let mut out = node.as_object().cloned().unwrap_or_default();
    out.remove("allOf");
    let mut props = out
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut required: Vec<Value> = out
        .get("required")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for branch in all {
        let b = resolve_ref(root, branch).unwrap_or(branch);
        if let Some(p) = b.get("properties").and_then(Value::as_object) {
            for (k, v) in p {
                props.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        for r in b
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !required.contains(r) {
                required.push(r.clone());
            }
        }
        if let Some(Value::Object(b)) = Some(b) {
            for (k, v) in b {
                if !matches!(k.as_str(), "properties" | "required") {
                    out.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
    }
    if !props.is_empty() {
        out.insert("properties".into(), Value::Object(props));
        out.insert("type".into(), Value::from("object"));
    }
    if !required.is_empty() {
        out.insert("required".into(), Value::Array(required));
    }
    Value::Object(out)
}

/// A union's chosen branch, keeping what the union itself says about the value (its
/// description, title, default) where the branch says nothing.
pub(super) fn with_own(node: &Value, branch: &Value) -> Value {
    let mut out: Map<String, Value> = branch.as_object().cloned().unwrap_or_default();
    for key in ["description", "title", "default"] {
        if let Some(v) = node.get(key) {
            out.entry(key.to_string()).or_insert_with(|| v.clone());
        }
    }
    Value::Object(out)
}

/// A branch checked on its own still resolves the root's `$defs`.
pub(super) fn with_defs(root: &Value, branch: &Value) -> Value {
    let mut out = branch.clone();
    if let Some(m) = out.as_object_mut() {
        for key in ["$defs", "definitions"] {
            if let Some(defs) = root.get(key) {
                m.entry(key.to_string()).or_insert_with(|| defs.clone());
            }
        }
    }
    out
}
