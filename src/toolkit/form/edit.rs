//! Editing the form's value: typing into a field, turning a choice, adding and removing
//! items and optional fields. Every edit goes through a JSON pointer into the one value.

use serde_json::Value;

use super::shapes::{under, unescape};
use super::{Form, Kind, Row};
use crate::toolkit::skeleton::placeholder;

impl Form {
    /// Types into a field: the text becomes the value of the field's type, or stays a string
    /// the schema check will flag (`"abc"` for a number says what is wrong).
    pub fn set_text(&mut self, row: &Row, text: String) {
        let value = match row.kind {
            _ if text.is_empty() && !row.required && !row.item => None,
            Kind::String => Some(Value::String(text.clone())),
            Kind::Integer => Some(
                text.trim()
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(text.clone())),
            ),
            Kind::Number => Some(
                text.trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(|n| match n.as_f64() {
                        Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => Value::from(f as i64),
                        _ => Value::Number(n),
                    })
                    .unwrap_or_else(|| Value::String(text.clone())),
            ),
            Kind::Any => {
                Some(serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone())))
            }
            _ => return,
        };
        self.texts.insert(row.pointer.clone(), text);
        self.put(&row.pointer, value);
    }

    /// ←/→ on a row: the next (or previous) choice, `true`/`false`, or alternative.
    pub fn cycle(&mut self, row: &Row, forward: bool) {
        let step = |i: usize, n: usize| {
            if forward {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            }
        };
        if row.variants.len() > 1 {
            let next = step(row.variant, row.variants.len());
            self.chosen.insert(row.pointer.clone(), next);
            self.texts.retain(|p, _| !under(p, &row.pointer));
            let schema = self.schema_at(&row.pointer);
            let shape = self.shape(&schema, &row.pointer, None);
            let value = placeholder(&self.root, &shape.node, 1);
            self.put(&row.pointer, Some(value));
            return;
        }
        let value = match &row.kind {
            Kind::Boolean => {
                let now = self
                    .get(&row.pointer)
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                Value::Bool(!now)
            }
            Kind::Choice(options) if !options.is_empty() => {
                let at = self
                    .get(&row.pointer)
                    .and_then(|v| options.iter().position(|o| o == v));
                let next = match at {
                    Some(i) => step(i, options.len()),
                    None if forward => 0,
                    None => options.len() - 1,
                };
                options[next].clone()
            }
            _ => return,
        };
        self.put(&row.pointer, Some(value));
    }

    /// Adds an item to an array row, or gives an absent row its template value.
    pub fn add(&mut self, row: &Row) {
        let schema = self.schema_at(&row.pointer);
        let shape = self.shape(&schema, &row.pointer, self.get(&row.pointer));
        match self.get(&row.pointer) {
            Some(Value::Array(items)) => {
                let item = shape
                    .node
                    .get("items")
                    .cloned()
                    .unwrap_or(Value::Bool(true));
                let value = placeholder(&self.root, &item, 1);
                let pointer = format!("{}/{}", row.pointer, items.len());
                self.put(&pointer, Some(value));
            }
            Some(_) => {}
            None => {
                let value = placeholder(&self.root, &shape.node, 1);
                self.put(&row.pointer, Some(value));
            }
        }
    }

    /// Removes an array item, leaves an optional property out, sets a required nullable one
    /// to null, and resets any other required one to its template value.
    pub fn remove(&mut self, row: &Row) {
        // Removing an item renumbers the ones after it: their typed texts would land on the
        // wrong items.
        let base = match row.pointer.rsplit_once('/') {
            Some((parent, _)) if row.item => parent.to_string(),
            _ => row.pointer.clone(),
        };
        self.texts.retain(|p, _| !under(p, &base));
        if row.item || !row.required {
            self.put(&row.pointer, None);
        } else if row.nullable {
            self.put(&row.pointer, Some(Value::Null));
        } else {
            let schema = self.schema_at(&row.pointer);
            let shape = self.shape(&schema, &row.pointer, None);
            self.put(&row.pointer, Some(placeholder(&self.root, &shape.node, 1)));
        }
    }

    fn get(&self, pointer: &str) -> Option<&Value> {
        self.value.pointer(pointer)
    }

    /// The (raw) schema of the value at `pointer`, found by walking the rows' shapes.
    fn schema_at(&self, pointer: &str) -> Value {
        let mut schema = self.root.clone();
        let mut at = String::new();
        for token in pointer.split('/').skip(1) {
            let value = self.value.pointer(&at);
            let node = self.shape(&schema, &at, value).node;
            let name = unescape(token);
            schema = match value {
                Some(Value::Array(_)) => node.get("items").cloned(),
                _ => node.get("properties").and_then(|p| p.get(&name)).cloned(),
            }
            .unwrap_or(Value::Bool(true));
            at = format!("{at}/{token}");
        }
        schema
    }

    /// Sets (or with `None` removes) the value at `pointer`; its parent must exist.
    fn put(&mut self, pointer: &str, value: Option<Value>) {
        let Some((parent, last)) = pointer.rsplit_once('/') else {
            return;
        };
        let name = unescape(last);
        match (self.value.pointer_mut(parent), value) {
            (Some(Value::Object(map)), Some(v)) => {
                map.insert(name, v);
            }
            (Some(Value::Object(map)), None) => {
                map.remove(&name);
            }
            (Some(Value::Array(items)), v) => match (name.parse::<usize>(), v) {
                (Ok(i), Some(v)) if i < items.len() => items[i] = v,
                (Ok(i), Some(v)) if i == items.len() => items.push(v),
                (Ok(i), None) if i < items.len() => {
                    items.remove(i);
                }
                _ => {}
            },
            _ => {}
        }
    }
}
