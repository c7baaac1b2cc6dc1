//! An argument form for an object schema: one row per property, nested objects and array items
//! as indented rows below their parent, each row knowing its type, whether it is required, its
//! description and its choices. The form edits a JSON value; the rows are derived from the
//! schema and that value every time, so the JSON editor and the form are two views of one value
//! and switching between them loses nothing.
//!
//! `$ref`, `allOf`, `anyOf`/`oneOf` and nullable types are where generated forms usually give
//! up; here a nullable type is its non-null type with a "may be null" mark, a union of several
//! shapes is a row whose variant the operator picks, and `$ref`s resolve within the schema
//! (depth-limited, so a self-referencing schema ends).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::schema::{Checked, Violation, check, resolve_ref};
use super::skeleton::placeholder;

/// Nested rows stop here; deeper values are edited in the JSON editor.
const MAX_DEPTH: usize = 8;
/// Rows one form shows at most: a huge array in the arguments must not make a huge form.
pub const MAX_ROWS: usize = 500;

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    String,
    Number,
    Integer,
    Boolean,
    /// `enum` or `const`: the values to choose from.
    Choice(Vec<Value>),
    Object,
    Array,
    /// No type the form knows: the text is taken as JSON when it parses, else as a string.
    Any,
}

impl Kind {
    /// Whether the row is edited by typing (rather than by choosing or by its children).
    pub fn typed(&self) -> bool {
        matches!(
            self,
            Kind::String | Kind::Number | Kind::Integer | Kind::Any
        )
    }
}

/// One line of the form.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Where the row's value is in the arguments (a JSON pointer).
    pub pointer: String,
    pub depth: usize,
    /// The property name, or `[i]` for an array item.
    pub label: String,
    pub kind: Kind,
    /// `string`, `integer or null`, `array of string`, `enum`, ...
    pub type_label: String,
    pub required: bool,
    pub nullable: bool,
    pub description: Option<String>,
    /// The value is in the arguments (an optional property may be left out).
    pub present: bool,
    /// The value as the row shows it (for objects and arrays, a count).
    pub text: String,
    /// The alternatives of an `anyOf`/`oneOf` with several shapes, and which one is chosen.
    pub variants: Vec<String>,
    pub variant: usize,
    /// An array item can be removed; a property is unset.
    pub item: bool,
}

/// The form: a schema and the value being built.
#[derive(Debug, Clone)]
pub struct Form {
    root: Value,
    value: Value,
    /// What was typed in a field whose value shows differently (`1.` is the number 1, `-` is
    /// not a number yet), so the text under the cursor stays what the operator typed.
    texts: HashMap<String, String>,
    /// A variant the operator picked, where the value alone would not tell.
    chosen: HashMap<String, usize>,
}

/// A schema node as the form sees it: `$ref`s followed, `allOf` merged, null split off.
struct Shape {
    node: Value,
    nullable: bool,
    variants: Vec<Value>,
}

impl Form {
    /// A form over `schema` holding `value` (the arguments so far, e.g. from the JSON editor).
    pub fn new(schema: &Value, value: Value) -> Form {
        Form {
            root: schema.clone(),
            value: if value.is_object() {
                value
            } else {
                Value::Object(Map::new())
            },
            texts: HashMap::new(),
            chosen: HashMap::new(),
        }
    }

    /// A form over `schema` starting from its template, optional properties with a default
    /// filled in with it.
    pub fn template(schema: &Value) -> Form {
        let mut value = placeholder(schema, schema, 0);
        if let (Some(map), Some(props)) = (
            value.as_object_mut(),
            schema.get("properties").and_then(Value::as_object),
        ) {
            for (name, prop) in props {
                let prop = resolve_ref(schema, prop).unwrap_or(prop);
                if let Some(d) = prop.get("default") {
                    map.entry(name.clone()).or_insert_with(|| d.clone());
                }
            }
        }
        Form::new(schema, value)
    }

    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The arguments checked against the schema, each problem at its pointer.
    pub fn problems(&self) -> Vec<Violation> {
        match check(&self.root, &self.value) {
            Checked::Invalid(v) => v,
            Checked::Valid | Checked::SchemaUnusable(_) => Vec::new(),
        }
    }

    pub fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        let shape = self.shape(&self.root, "", Some(&self.value));
        self.children(&shape.node, "", &self.value, 0, &mut rows);
        rows.truncate(MAX_ROWS);
        rows
    }

    fn children(
        &self,
        node: &Value,
        pointer: &str,
        value: &Value,
        depth: usize,
        out: &mut Vec<Row>,
    ) {
        if depth >= MAX_DEPTH {
            return;
        }
        match value {
            Value::Object(map) => {
                let props = node.get("properties").and_then(Value::as_object);
                let required: Vec<&str> = node
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                // Required first, in the schema's order; then the rest; then keys the schema
                // does not name (the check will say whether they are allowed).
                let mut names: Vec<&str> = required.clone();
                for name in props.into_iter().flat_map(|p| p.keys()) {
                    if !names.contains(&name.as_str()) {
                        names.push(name);
                    }
                }
                for name in map.keys() {
                    if !names.contains(&name.as_str()) {
                        names.push(name);
                    }
                }
                for name in names {
                    let schema = props
                        .and_then(|p| p.get(name))
                        .unwrap_or(&Value::Bool(true));
                    let child = format!("{pointer}/{}", escape(name));
                    let row = self.row(schema, &child, map.get(name), depth, name);
                    let row = Row {
                        required: required.contains(&name),
                        ..row
                    };
                    out.push(row);
                    if out.len() >= MAX_ROWS {
                        return;
                    }
                    if let Some(v) = map.get(name) {
                        let shape = self.shape(schema, &child, Some(v));
                        self.children(&shape.node, &child, v, depth + 1, out);
                    }
                }
            }
            Value::Array(items) => {
                let schema = node.get("items").unwrap_or(&Value::Bool(true));
                for (i, v) in items.iter().enumerate() {
                    let child = format!("{pointer}/{i}");
                    let mut row = self.row(schema, &child, Some(v), depth, &format!("[{i}]"));
                    row.item = true;
                    out.push(row);
                    if out.len() >= MAX_ROWS {
                        return;
                    }
                    let shape = self.shape(schema, &child, Some(v));
                    self.children(&shape.node, &child, v, depth + 1, out);
                }
            }
            _ => {}
        }
    }

    fn row(
        &self,
        schema: &Value,
        pointer: &str,
        value: Option<&Value>,
        depth: usize,
        label: &str,
    ) -> Row {
        let shape = self.shape(schema, pointer, value);
        let kind = kind(&shape.node);
        let variant = self.variant_of(&shape, pointer, value);
        let mut type_label = type_label(&self.root, &shape.node, &kind);
        if shape.nullable {
            type_label.push_str(" or null");
        }
        let text = match (self.texts.get(pointer), value) {
            (Some(t), _) => t.clone(),
            (None, None) => String::new(),
            (None, Some(v)) => shown(v),
        };
        Row {
            pointer: pointer.to_string(),
            depth,
            label: label.to_string(),
            kind,
            type_label,
            required: false,
            nullable: shape.nullable,
            description: shape
                .node
                .get("description")
                .or_else(|| schema.get("description"))
                .and_then(Value::as_str)
                .map(str::to_string),
            present: value.is_some(),
            text,
            variants: shape
                .variants
                .iter()
                .map(|v| variant_label(&self.root, v))
                .collect(),
            variant,
            item: false,
        }
    }

    /// The schema a value at `pointer` is edited by.
    fn shape(&self, schema: &Value, pointer: &str, value: Option<&Value>) -> Shape {
        let mut node = schema.clone();
        let mut nullable = false;
        for _ in 0..MAX_DEPTH {
            if let Some(target) = resolve_ref(&self.root, &node) {
                let mut merged = target.clone();
                // Siblings of a `$ref` (a description, a default) describe this use of it.
                if let (Some(m), Some(own)) = (merged.as_object_mut(), node.as_object()) {
                    for (k, v) in own {
                        if k != "$ref" {
                            m.insert(k.clone(), v.clone());
                        }
                    }
                }
                node = merged;
                continue;
            }
            if let Some(all) = node.get("allOf").and_then(Value::as_array).cloned() {
                node = merge_all(&self.root, &node, &all);
                continue;
            }
            let branches = ["anyOf", "oneOf"]
                .iter()
                .find_map(|k| node.get(*k).and_then(Value::as_array))
                .cloned();
            if let Some(branches) = branches {
                let (nulls, rest): (Vec<Value>, Vec<Value>) = branches
                    .into_iter()
                    .partition(|b| is_null_type(&self.root, b));
                nullable |= !nulls.is_empty();
                if rest.len() == 1 {
                    node = with_own(&node, &rest[0]);
                    continue;
                }
                if rest.len() > 1 {
                    let shape = Shape {
                        node: Value::Null,
                        nullable,
                        variants: rest,
                    };
                    let chosen = self.variant_of(&shape, pointer, value);
                    let node = with_own(&node, &shape.variants[chosen]);
                    let inner = self.shape(&node, pointer, value);
                    return Shape {
                        node: inner.node,
                        nullable: nullable || inner.nullable,
                        variants: shape.variants,
                    };
                }
            }
            break;
        }
        if let Some(Value::Array(types)) = node.get("type") {
            nullable |= types.iter().any(|t| t == "null");
            let first = types.iter().find(|t| *t != "null").cloned();
            if let (Some(m), Some(t)) = (node.as_object_mut(), first) {
                m.insert("type".into(), t);
            }
        }
        Shape {
            node,
            nullable,
            variants: Vec::new(),
        }
    }

    /// The chosen alternative: the operator's pick, else the first whose type fits the value.
    fn variant_of(&self, shape: &Shape, pointer: &str, value: Option<&Value>) -> usize {
        if shape.variants.is_empty() {
            return 0;
        }
        if let Some(&i) = self.chosen.get(pointer) {
            return i.min(shape.variants.len() - 1);
        }
        let fits = |b: &Value| {
            let v = value?;
            let b = resolve_ref(&self.root, b).unwrap_or(b);
            Some(matches!(
                check(&with_defs(&self.root, b), v),
                Checked::Valid
            ))
        };
        shape
            .variants
            .iter()
            .position(|b| fits(b) == Some(true))
            .unwrap_or(0)
    }
}

#[cfg(test)]
#[path = "tests_form.rs"]
mod tests;

mod edit;
mod shapes;
use shapes::{
    escape, is_null_type, kind, merge_all, shown, type_label, variant_label, with_defs, with_own,
};
