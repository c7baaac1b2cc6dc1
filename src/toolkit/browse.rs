//! What the panel's resources and prompts tabs need besides the catalogue: a resource
//! template's parameters and its expansion, the arguments of a prompt as a schema (so the
//! argument form serves them too), and plain-text renderings of a read resource and a prompt.

use std::fmt::Write;

use rmcp::model::Prompt;
use serde_json::{Map, Value, json};

/// The parameter names of an RFC 6570 template, in order: `a/{x}{?y,z}` → `x, y, z`.
pub fn template_params(template: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let inner = &rest[start + 1..start + len];
        let names = inner.trim_start_matches(['+', '#', '.', '/', ';', '?', '&']);
        for name in names.split(',') {
            let name = name.trim_end_matches('*');
            let name = name.split(':').next().unwrap_or(name);
            if !name.is_empty() && !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
        }
        rest = &rest[start + len + 1..];
    }
    out
}

/// Fills a template's expressions with `values` (RFC 6570 level 1 and 2 and the query forms,
/// which is what resource templates use): simple values percent-encoded, `{+x}` as given,
/// `{?a,b}` as a query of the values that are set.
pub fn expand_template(template: &str, values: &Map<String, Value>) -> String {
    let text = |name: &str| -> Option<String> {
        match values.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    };
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        let inner = &rest[start + 1..start + len];
        let (op, names) = match inner.chars().next() {
            Some(c @ ('+' | '#' | '.' | '/' | ';' | '?' | '&')) => (Some(c), &inner[1..]),
            _ => (None, inner),
        };
        let set: Vec<(&str, String)> = names
            .split(',')
            .filter_map(|n| {
                let n = n.trim_end_matches('*');
                text(n).map(|v| (n, v))
            })
            .collect();
        match op {
            Some('+') => out.push_str(
                &set.iter()
                    .map(|(_, v)| v.clone())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Some('?' | '&') if !set.is_empty() => {
                out.push(if op == Some('?') { '?' } else { '&' });
                let pairs: Vec<String> = set
                    .iter()
                    .map(|(n, v)| format!("{n}={}", encode(v)))
                    .collect();
                out.push_str(&pairs.join("&"));
            }
            Some('/' | '.' | '#') if !set.is_empty() => {
                let sep = op.unwrap_or('/');
                for (_, v) in &set {
                    out.push(sep);
                    out.push_str(&encode(v));
                }
            }
            _ => out.push_str(
                &set.iter()
                    .map(|(_, v)| encode(v))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// Percent-encodes all but the unreserved characters, so a value cannot add path segments.
fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A template's parameters as an object schema: every one a required, non-empty string.
pub fn template_schema(template: &str) -> Value {
    let params = template_params(template);
    let properties: Map<String, Value> = params
        .iter()
        .map(|p| (p.clone(), json!({"type": "string", "minLength": 1})))
        .collect();
    json!({"type": "object", "properties": properties, "required": params})
}

/// A prompt's arguments as an object schema: strings, with their descriptions and required
/// marks, so the argument form can fill them.
pub fn prompt_schema(prompt: &Prompt) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for a in prompt.arguments.iter().flatten() {
        let mut p = json!({"type": "string"});
        if let Some(d) = &a.description {
            p["description"] = Value::from(d.clone());
        }
        if a.required == Some(true) {
            // Empty is as good as missing to a server that requires the argument.
            p["minLength"] = Value::from(1);
            required.push(Value::from(a.name.clone()));
        }
        properties.insert(a.name.clone(), p);
    }
    json!({"type": "object", "properties": properties, "required": required})
}

/// A `resources/read` result for people: each content's URI and type, then its text (or the
/// size of its blob).
pub fn render_resource(result: &Value) -> String {
    let mut out = String::new();
    for (i, c) in result["contents"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let uri = c["uri"].as_str().unwrap_or("?");
        let mime = c["mimeType"].as_str();
        if let Some(text) = c["text"].as_str() {
            let _ = writeln!(
                out,
                "[{}] {uri} ({}, {} bytes)",
                i + 1,
                mime.unwrap_or("text"),
                text.len()
            );
            let _ = writeln!(out, "{text}");
        } else if let Some(blob) = c["blob"].as_str() {
            let mime = mime.unwrap_or("application/octet-stream");
            let _ = writeln!(
                out,
                "[{}] {uri} ({mime}, {} characters of base64)",
                i + 1,
                blob.len()
            );
        } else {
            let _ = writeln!(out, "[{}] {uri} (no text or blob)", i + 1);
        }
    }
    if out.is_empty() {
        out.push_str("(no contents)\n");
    }
    out
}

/// A `prompts/get` result for people: its description, then each message by role.
pub fn render_prompt(result: &Value) -> String {
    let mut out = String::new();
    if let Some(d) = result["description"].as_str() {
        let _ = writeln!(out, "{d}\n");
    }
    for m in result["messages"].as_array().into_iter().flatten() {
        let role = m["role"].as_str().unwrap_or("?");
        let content = &m["content"];
        match content["type"].as_str() {
            Some("text") => {
                let _ = writeln!(
                    out,
                    "{role}: {}",
                    content["text"].as_str().unwrap_or_default()
                );
            }
            Some("resource") => {
                let uri = content["resource"]["uri"].as_str().unwrap_or("?");
                let _ = writeln!(out, "{role}: [resource {uri}]");
                if let Some(t) = content["resource"]["text"].as_str() {
                    let _ = writeln!(out, "{t}");
                }
            }
            Some(kind) => {
                let _ = writeln!(out, "{role}: [{kind}]");
            }
            None => {
                let _ = writeln!(out, "{role}: (no content)");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parameters_and_their_expansion() {
        let t = "demo://resource/dynamic/text/{resourceId}";
        assert_eq!(template_params(t), ["resourceId"]);
        let values = json!({"resourceId": "7"});
        assert_eq!(
            expand_template(t, values.as_object().unwrap()),
            "demo://resource/dynamic/text/7"
        );
        let t = "file:///{+path}{?rev,mode}";
        assert_eq!(template_params(t), ["path", "rev", "mode"]);
        let values = json!({"path": "a/b c", "rev": "1&2"});
        // A simple value cannot add path segments or query pairs; `+` keeps reserved ones.
        assert_eq!(
            expand_template(t, values.as_object().unwrap()),
            "file:///a/b c?rev=1%262"
        );
        let values = json!({"resourceId": "../x/y"});
        assert_eq!(
            expand_template("r://{resourceId}", values.as_object().unwrap()),
            "r://..%2Fx%2Fy"
        );
        // Unclosed braces are left as they are.
        assert_eq!(template_params("a{b"), Vec::<String>::new());
        assert_eq!(expand_template("a{b", &Map::new()), "a{b");
    }

    #[test]
    fn resources_and_prompts_render_for_people() {
        let read = json!({"contents": [
            {"uri": "r://1", "mimeType": "text/plain", "text": "hello"},
            {"uri": "r://2", "blob": "AAAA"}
        ]});
        assert_eq!(
            render_resource(&read),
            "[1] r://1 (text/plain, 5 bytes)\nhello\n[2] r://2 (application/octet-stream, 4 characters of base64)\n"
        );
        assert_eq!(render_resource(&json!({})), "(no contents)\n");
        let got = json!({"description": "d", "messages": [
            {"role": "user", "content": {"type": "text", "text": "hi"}},
            {"role": "assistant", "content": {"type": "image", "data": "", "mimeType": "image/png"}}
        ]});
        assert_eq!(render_prompt(&got), "d\n\nuser: hi\nassistant: [image]\n");
    }
}
