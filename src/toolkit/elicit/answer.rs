//! A form as a JSON document to edit (the console's way of answering), and the whole answer
//! checked against every field.

use rmcp::model::JsonObject;
use serde_json::Value;

use super::form::{Field, Form, Kind};

impl Field {
    /// What the field takes in a JSON answer (the console's): as `expected`, but a list of
    /// choices is an array and yes/no a boolean there.
    fn json_type(&self) -> String {
        match &self.kind {
            Kind::Boolean => "true or false".to_string(),
            Kind::AnyOf { .. } => "an array of the choices".to_string(),
            _ => self.expected(),
        }
    }
}

impl Form {
    /// A JSON answer to edit, as the console shows it: every default, and a blank of the
    /// right type for each required field without one. Optional fields without a default are
    /// left out (they are listed beside the editor), so sending it untouched sends no guess.
    pub fn template(&self) -> JsonObject {
        let mut content = JsonObject::new();
        for field in &self.fields {
            let value = match (&field.default, field.required) {
                (Some(value), _) => value.clone(),
                (None, false) => continue,
                (None, true) => match &field.kind {
                    Kind::Text { .. } => Value::String(String::new()),
                    Kind::Integer { minimum, .. } | Kind::Number { minimum, .. } => {
                        Value::from(minimum.map_or(0, |m| m.ceil() as i64))
                    }
                    Kind::Boolean => Value::Bool(false),
                    Kind::OneOf(choices) => choices
                        .first()
                        .map_or(Value::Null, |c| Value::String(c.value.clone())),
                    Kind::AnyOf { .. } => Value::Array(Vec::new()),
                },
            };
            content.insert(field.name.clone(), value);
        }
        content
    }

    /// A whole answer, as JSON, checked against every field: unknown names, missing required
    /// fields and each bad value are all reported, one line each.
    pub fn check_answer(&self, answer: &Value) -> Result<JsonObject, Vec<String>> {
        let Value::Object(content) = answer else {
            return Err(vec!["the answer must be a JSON object".to_string()]);
        };
        let mut problems = Vec::new();
        for name in content.keys() {
            if !self.fields.iter().any(|f| &f.name == name) {
                problems.push(format!("{name}: not a field of this request"));
            }
        }
        for field in &self.fields {
            match content.get(&field.name) {
                // The template's blank for a required text is not an answer to it.
                Some(Value::String(s))
                    if field.required
                        && s.trim().is_empty()
                        && matches!(field.kind, Kind::Text { .. }) =>
                {
                    problems.push(format!("{}: required: type a value", field.name));
                }
                Some(value) => {
                    if let Err(why) = field.check(value) {
                        problems.push(format!("{}: {why}", field.name));
                    }
                }
                None if field.required => {
                    problems.push(format!("{}: required ({})", field.name, field.json_type()));
                }
                None => {}
            }
        }
        if problems.is_empty() {
            Ok(content.clone())
        } else {
            Err(problems)
        }
    }

    /// Each field on one line, for beside the editor: `name* (text): description [choices]`.
    pub fn summary(&self) -> Vec<String> {
        self.fields
            .iter()
            .map(|f| {
                let star = if f.required { "*" } else { "" };
                let mut line = format!("{}{star} ({})", f.name, f.json_type());
                if let Some(d) = f.description.as_deref().or(f.title.as_deref()) {
                    line.push_str(&format!(": {d}"));
                }
                if let Kind::OneOf(choices) | Kind::AnyOf { choices, .. } = &f.kind {
                    let values: Vec<&str> = choices.iter().map(|c| c.value.as_str()).collect();
                    line.push_str(&format!(" [{}]", values.join(", ")));
                }
                line
            })
            .collect()
    }
}
