//! A form-mode elicitation's `requestedSchema` as fields to fill: what each field accepts, how a
//! typed answer becomes a JSON value, and the answer made of the schema's defaults (SEP-1034).
//!
//! The schema is read as JSON rather than through rmcp's typed variants: the spec's five
//! shapes of enum (legacy `enumNames`, untitled, `oneOf` titled, and the two multi-selects)
//! then collapse into one choice list, and a variant rmcp adds later still reads the same.

use std::collections::HashSet;

use rmcp::model::{ElicitationSchema, JsonObject};
use serde_json::Value;

use super::checks::{check_count, check_range, check_text};

/// One selectable value, with the label the server gave it (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub value: String,
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Text {
        format: Option<String>,
        min_length: Option<u64>,
        max_length: Option<u64>,
    },
    Integer {
        minimum: Option<f64>,
        maximum: Option<f64>,
    },
    Number {
        minimum: Option<f64>,
        maximum: Option<f64>,
    },
    Boolean,
    /// Exactly one of the choices (a string).
    OneOf(Vec<Choice>),
    /// Any number of the choices (an array of strings).
    AnyOf {
        choices: Vec<Choice>,
        min_items: Option<u64>,
        max_items: Option<u64>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub required: bool,
    pub kind: Kind,
    /// The schema's default, only when it fits the field: sending a default the server's own
    /// schema rejects would fail the request anyway.
    pub default: Option<Value>,
    /// Why the schema's default was set aside, for the operator.
    pub ignored_default: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub fields: Vec<Field>,
}

impl Form {
    /// The fields in the server's order. Fails on a schema no answer could satisfy.
    pub fn from_schema(schema: &ElicitationSchema) -> Result<Self, String> {
        let required: HashSet<&str> = schema
            .required
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let mut names: Vec<&String> = schema.property_order.iter().flatten().collect();
        for name in schema.properties.keys() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let mut fields = Vec::new();
        for name in names {
            let Some(definition) = schema.properties.get(name) else {
                continue;
            };
            let json = serde_json::to_value(definition)
                .map_err(|e| format!("field `{name}` cannot be read: {e}"))?;
            fields.push(Field::from_json(
                name,
                &json,
                required.contains(name.as_str()),
            )?);
        }
        for name in &required {
            if !schema.properties.contains_key(*name) {
                return Err(format!(
                    "the schema requires `{name}` but does not describe it"
                ));
            }
        }
        Ok(Self { fields })
    }
}

/// Choices from `enum` (+ legacy `enumNames`), or `oneOf`/`anyOf` of `{const, title}`.
fn choices_of(schema: &Value) -> Option<Vec<Choice>> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let labels = schema.get("enumNames").and_then(Value::as_array);
        let choices = values.iter().enumerate().filter_map(|(i, v)| {
            Some(Choice {
                value: v.as_str()?.to_string(),
                label: labels
                    .and_then(|l| l.get(i))
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
        });
        return Some(choices.collect());
    }
    let options = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)?;
    let choices = options.iter().filter_map(|o| {
        Some(Choice {
            value: o.get("const")?.as_str()?.to_string(),
            label: o.get("title").and_then(Value::as_str).map(str::to_string),
        })
    });
    Some(choices.collect())
}

impl Field {
    fn from_json(name: &str, schema: &Value, required: bool) -> Result<Self, String> {
        let text = |k: &str| schema.get(k).and_then(Value::as_str).map(str::to_string);
        let count = |k: &str| schema.get(k).and_then(Value::as_u64);
        let bound = |k: &str| schema.get(k).and_then(Value::as_f64);
        let type_ = schema.get("type").and_then(Value::as_str).unwrap_or("");
        let kind = if type_ == "array" {
            let choices = schema
                .get("items")
                .and_then(choices_of)
                .filter(|c| !c.is_empty())
                .ok_or_else(|| format!("field `{name}` is a list without choices to pick"))?;
            Kind::AnyOf {
                choices,
                min_items: count("minItems"),
                max_items: count("maxItems"),
            }
        } else if let Some(choices) = choices_of(schema) {
            if choices.is_empty() {
                return Err(format!("field `{name}` offers no choices"));
            }
            Kind::OneOf(choices)
        } else {
            match type_ {
                "string" => Kind::Text {
                    format: text("format"),
                    min_length: count("minLength"),
                    max_length: count("maxLength"),
                },
                "integer" => Kind::Integer {
                    minimum: bound("minimum"),
                    maximum: bound("maximum"),
                },
                "number" => Kind::Number {
                    minimum: bound("minimum"),
                    maximum: bound("maximum"),
                },
                "boolean" => Kind::Boolean,
                other => {
                    return Err(format!(
                        "field `{name}` has type `{other}`, which a form cannot ask for"
                    ));
                }
            }
        };
        let mut field = Field {
            name: name.to_string(),
            title: text("title"),
            description: text("description"),
            required,
            kind,
            default: None,
            ignored_default: None,
        };
        if let Some(default) = schema.get("default") {
            match field.check(default) {
                Ok(()) => field.default = Some(default.clone()),
                Err(why) => field.ignored_default = Some(format!("its default {default}: {why}")),
            }
        }
        Ok(field)
    }

    /// Whether a JSON value is an acceptable answer; the error reads after the field's name.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        match (&self.kind, value) {
            (
                Kind::Text {
                    format,
                    min_length,
                    max_length,
                },
                Value::String(s),
            ) => check_text(s, format.as_deref(), *min_length, *max_length),
            (Kind::Integer { minimum, maximum }, Value::Number(n)) => {
                let whole =
                    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0);
                if !whole {
                    return Err(format!("{n} is not a whole number"));
                }
                check_range(n, *minimum, *maximum)
            }
            (Kind::Number { minimum, maximum }, Value::Number(n)) => {
                check_range(n, *minimum, *maximum)
            }
            (Kind::Boolean, Value::Bool(_)) => Ok(()),
            (Kind::OneOf(choices), Value::String(s)) => pick(choices, s, true).map(|_| ()),
            (
                Kind::AnyOf {
                    choices,
                    min_items,
                    max_items,
                },
                Value::Array(items),
            ) => {
                for item in items {
                    let s = item
                        .as_str()
                        .ok_or_else(|| format!("{item} is not one of the choices"))?;
                    pick(choices, s, true)?;
                }
                check_count(items.len(), *min_items, *max_items)
            }
            (_, other) => Err(format!("{other} is not {}", self.expected())),
        }
    }

    /// A typed line as this field's value; the error says what would be accepted.
    pub fn parse(&self, input: &str) -> Result<Value, String> {
        let trimmed = input.trim();
        let value = match &self.kind {
            Kind::Text { .. } => Value::String(input.to_string()),
            Kind::Integer { .. } => match trimmed.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => return Err(format!("`{trimmed}` is not a whole number (e.g. 42)")),
            },
            // A whole number stays one on the wire: `9`, not `9.0`.
            Kind::Number { .. } => match (trimmed.parse::<i64>(), trimmed.parse::<f64>()) {
                (Ok(n), _) => Value::from(n),
                (_, Ok(f)) if f.is_finite() => Value::from(f),
                _ => return Err(format!("`{trimmed}` is not a number (e.g. 4.5)")),
            },
            Kind::Boolean => match trimmed.to_ascii_lowercase().as_str() {
                "y" | "yes" | "true" | "1" | "on" => Value::Bool(true),
                "n" | "no" | "false" | "0" | "off" => Value::Bool(false),
                _ => return Err(format!("`{trimmed}` is not yes or no")),
            },
            Kind::OneOf(choices) => Value::String(pick(choices, trimmed, false)?.to_string()),
            Kind::AnyOf { choices, .. } => {
                let mut picked: Vec<Value> = Vec::new();
                for part in trimmed.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let value = Value::String(pick(choices, part, false)?.to_string());
                    if !picked.contains(&value) {
                        picked.push(value);
                    }
                }
                Value::Array(picked)
            }
        };
        self.check(&value)?;
        Ok(value)
    }

    /// What the field takes, for prompts and errors: "text (email)", "whole number 0 to 150".
    pub fn expected(&self) -> String {
        let range = |min: &Option<f64>, max: &Option<f64>| match (min, max) {
            (Some(a), Some(b)) => format!(" from {a} to {b}"),
            (Some(a), None) => format!(" of at least {a}"),
            (None, Some(b)) => format!(" of at most {b}"),
            (None, None) => String::new(),
        };
        match &self.kind {
            Kind::Text {
                format: Some(f), ..
            } => format!("text ({f})"),
            Kind::Text { .. } => "text".to_string(),
            Kind::Integer { minimum, maximum } => {
                format!("a whole number{}", range(minimum, maximum))
            }
            Kind::Number { minimum, maximum } => format!("a number{}", range(minimum, maximum)),
            Kind::Boolean => "yes or no".to_string(),
            Kind::OneOf(_) => "one of the choices".to_string(),
            Kind::AnyOf { .. } => "some of the choices, comma-separated".to_string(),
        }
    }
}

/// The choice `input` names: its exact value, else its number in the list (unless `exact`),
/// else a case-insensitive match of one value or label.
fn pick<'a>(choices: &'a [Choice], input: &str, exact: bool) -> Result<&'a str, String> {
    if let Some(c) = choices.iter().find(|c| c.value == input) {
        return Ok(&c.value);
    }
    if !exact {
        if let Some(c) = input
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| choices.get(i))
        {
            return Ok(&c.value);
        }
        let lower = input.to_lowercase();
        let mut matches = choices.iter().filter(|c| {
            c.value.to_lowercase() == lower
                || c.label.as_ref().is_some_and(|l| l.to_lowercase() == lower)
        });
        if let (Some(c), None) = (matches.next(), matches.next()) {
            return Ok(&c.value);
        }
    }
    let values: Vec<&str> = choices.iter().map(|c| c.value.as_str()).collect();
    Err(format!("`{input}` is not one of: {}", values.join(", ")))
}

/// Why `--elicit defaults` cannot accept: a required field the defaults do not fill.
#[derive(Debug, Clone, PartialEq)]
pub struct Unfilled {
    pub field: String,
    pub why: String,
}

/// The answer made of every field's default (SEP-1034); fields without one are left out,
/// unless required.
pub fn fill_defaults(form: &Form) -> Result<JsonObject, Unfilled> {
    let mut content = JsonObject::new();
    for field in &form.fields {
        match (&field.default, field.required) {
            (Some(value), _) => {
                content.insert(field.name.clone(), value.clone());
            }
            (None, false) => {}
            (None, true) => {
                return Err(Unfilled {
                    field: field.name.clone(),
                    why: field
                        .ignored_default
                        .clone()
                        .unwrap_or_else(|| "it has no default".to_string()),
                });
            }
        }
    }
    Ok(content)
}
