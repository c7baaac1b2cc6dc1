//! Tool arguments checked against the tool's `inputSchema` before anything is sent, so a typo
//! costs no round trip and the operator reads every problem at once, each at its JSON pointer.
//!
//! JSON Schema 2020-12 (the MCP default when a schema names no `$schema`) through the
//! `jsonschema` crate, offline: a `$ref` that leaves the schema is an error, never a fetch.

use std::fmt;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Draft, ValidationError};
use serde_json::Value;

/// One problem with the arguments: where (a JSON pointer into them) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "(arguments)"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    Valid,
    Invalid(Vec<Violation>),
    /// The server's schema is itself broken; the caller decides whether to send unchecked.
    SchemaUnusable(String),
}

/// Longest rendering of an offending value; arguments can be large (or hold secrets).
const VALUE_PREVIEW: usize = 60;

pub fn check(schema: &Value, arguments: &Value) -> Checked {
    let mut options = jsonschema::options().offline();
    if schema.get("$schema").is_none() {
        options = options.with_draft(Draft::Draft202012);
    }
    let validator = match options.build(schema) {
        Ok(v) => v,
        Err(e) => return Checked::SchemaUnusable(e.to_string()),
    };
    // One group per error (an anyOf brings its alternatives along), in document order.
    let mut groups: Vec<Vec<Violation>> = validator
        .iter_errors(arguments)
        .map(|error| {
            let mut group = Vec::new();
            violations(schema, &error, &mut group);
            group
        })
        .collect();
    groups.sort_by(|a, b| {
        let first = |g: &Vec<Violation>| g.first().map(|v| v.pointer.clone());
        first(a).cmp(&first(b))
    });
    let mut out: Vec<Violation> = groups.into_iter().flatten().collect();
    out.dedup();
    if out.is_empty() {
        Checked::Valid
    } else {
        Checked::Invalid(out)
    }
}

fn violations(root: &Value, e: &ValidationError<'_>, out: &mut Vec<Violation>) {
    let pointer = e.instance_path().as_str().to_string();
    let got = preview(e.instance());
    let at = |message: String| Violation {
        pointer: pointer.clone(),
        message,
    };
    match e.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let schema = subschema(root, e.schema_path().as_str(), 1);
            let kind = schema
                .and_then(|s| s.get("properties"))
                .and_then(|p| p.get(name))
                .map(|p| describe(root, p))
                .filter(|d| !d.is_empty())
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            out.push(Violation {
                pointer: format!("{pointer}/{}", escape(name)),
                message: format!("missing required property \"{name}\"{kind}"),
            });
        }
        ValidationErrorKind::Type { kind } => {
            out.push(at(format!("expected {}, got {got}", type_names(kind))));
        }
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            let allowed = subschema(root, e.schema_path().as_str(), 1)
                .and_then(|s| s.get("properties"))
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "))
                .filter(|s| !s.is_empty())
                .map(|s| format!(" (allowed: {s})"))
                .unwrap_or_default();
            for name in unexpected {
                out.push(Violation {
                    pointer: format!("{pointer}/{}", escape(name)),
                    message: format!("unexpected property \"{name}\"{allowed}"),
                });
            }
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            let keyword = e.kind().keyword();
            alternatives(root, keyword, &pointer, &got, context, out);
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => out.push(at(format!(
            "matches more than one oneOf alternative, but must match exactly one (got {got})"
        ))),
        ValidationErrorKind::Enum { options } => {
            out.push(at(format!("expected one of {options}, got {got}")))
        }
        ValidationErrorKind::Constant { expected_value } => {
            out.push(at(format!("expected {expected_value}, got {got}")))
        }
        ValidationErrorKind::Minimum { limit } => {
            out.push(at(format!("must be ≥ {limit}, got {got}")))
        }
        ValidationErrorKind::Maximum { limit } => {
            out.push(at(format!("must be ≤ {limit}, got {got}")))
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            out.push(at(format!("must be > {limit}, got {got}")))
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            out.push(at(format!("must be < {limit}, got {got}")))
        }
        ValidationErrorKind::MinLength { limit } => out.push(at(format!(
            "must be at least {limit} characters long, got {got}"
        ))),
        ValidationErrorKind::MaxLength { limit } => {
            out.push(at(format!("must be at most {limit} characters long")))
        }
        ValidationErrorKind::MinItems { limit } => {
            out.push(at(format!("must have at least {limit} items")))
        }
        ValidationErrorKind::MaxItems { limit } => {
            out.push(at(format!("must have at most {limit} items")))
        }
        ValidationErrorKind::Pattern { pattern } => {
            out.push(at(format!("must match the pattern {pattern}, got {got}")))
        }
        ValidationErrorKind::Format { format } => {
            out.push(at(format!("is not a valid {format}: {got}")))
        }
        ValidationErrorKind::Referencing(r) => out.push(at(format!(
            "the tool's schema has a $ref that cannot be resolved offline: {r}"
        ))),
        _ => out.push(at(e.to_string())),
    }
}

/// `anyOf`/`oneOf` with no matching branch. When every branch failed only on its type at this
/// very spot (the usual nullable or "string or number" shape), one line says what would do;
/// otherwise each alternative's own problems are listed.
fn alternatives(
    root: &Value,
    keyword: &str,
    pointer: &str,
    got: &str,
    context: &[Vec<ValidationError<'static>>],
    out: &mut Vec<Violation>,
) {
    let mut types = Vec::new();
    let only_types = context.iter().all(|branch| {
        branch.len() == 1
            && branch[0].instance_path().as_str() == pointer
            && match branch[0].kind() {
                ValidationErrorKind::Type { kind } => {
                    types.push(type_names(kind));
                    true
                }
                _ => false,
            }
    });
    if only_types && !types.is_empty() {
        out.push(Violation {
            pointer: pointer.to_string(),
            message: format!("expected {}, got {got}", types.join(" or ")),
        });
        return;
    }
    out.push(Violation {
        pointer: pointer.to_string(),
        message: format!("matches none of the {keyword} alternatives (got {got})"),
    });
    for (i, branch) in context.iter().enumerate() {
        let mut inner = Vec::new();
        for error in branch {
            violations(root, error, &mut inner);
        }
        for v in inner {
            out.push(Violation {
                pointer: v.pointer,
                message: format!("alternative {}: {}", i + 1, v.message),
            });
        }
    }
}

fn type_names(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => t.to_string(),
        TypeKind::Multiple(set) => set
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

/// A short description of what a property schema wants: its type(s), else its alternatives'.
pub fn describe(root: &Value, schema: &Value) -> String {
    let schema = resolve_ref(root, schema).unwrap_or(schema);
    match schema.get("type") {
        Some(Value::String(t)) => return t.clone(),
        Some(Value::Array(ts)) => {
            return ts
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" or ");
        }
        _ => {}
    }
    for keyword in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = schema.get(keyword) {
            let parts: Vec<String> = branches
                .iter()
                .map(|b| describe(root, b))
                .filter(|d| !d.is_empty())
                .collect();
            return parts.join(" or ");
        }
    }
    if schema.get("enum").is_some() {
        return "enum".into();
    }
    String::new()
}

/// A local `$ref` (`#/$defs/X`), resolved within the root schema.
pub(super) fn resolve_ref<'a>(root: &'a Value, schema: &'a Value) -> Option<&'a Value> {
    let reference = schema.get("$ref")?.as_str()?;
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

/// The schema object at a keyword location (`/properties/x/$ref/required`), minus its last
/// `drop` segments, following local `$ref`s on the way.
fn subschema<'a>(root: &'a Value, location: &str, drop: usize) -> Option<&'a Value> {
    let segments: Vec<String> = location
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let keep = segments.len().checked_sub(drop)?;
    let mut node = root;
    for segment in &segments[..keep] {
        node = if segment == "$ref" {
            resolve_ref(root, node)?
        } else {
            match node {
                Value::Object(m) => m.get(segment)?,
                Value::Array(a) => a.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            }
        };
    }
    Some(node)
}

/// A name as a JSON pointer token (RFC 6901: `~` → `~0`, `/` → `~1`).
pub(crate) fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn preview(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= VALUE_PREVIEW {
        return text;
    }
    let cut: String = text.chars().take(VALUE_PREVIEW).collect();
    format!("{cut}…")
}

#[cfg(test)]
#[path = "tests_schema.rs"]
mod tests;
