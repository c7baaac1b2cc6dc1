//! Plain-text renderings of a catalogue and of a call's result, for people (the `--json`
//! output is the raw MCP result instead). Shared by the CLI and the console.

use std::fmt::Write;

use base64::Engine;
use rmcp::model::{CallToolResult, ContentBlock, ResourceContents, Tool};
use serde_json::Value;

use super::catalogue::Catalogue;
use super::schema::describe;

/// Descriptions are cut to one line of this many characters in lists.
const DESCRIPTION_WIDTH: usize = 100;

pub fn one_line(text: &str, width: usize) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    if line.chars().count() <= width && !text.trim().contains('\n') {
        return line.to_string();
    }
    let cut: String = line.chars().take(width.saturating_sub(1)).collect();
    format!("{}…", cut.trim_end())
}

/// `a: number, b?: number`: each property, `?` when optional, with its type.
pub fn argument_summary(tool: &Tool) -> String {
    let schema = Value::Object((*tool.input_schema).clone());
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return String::new();
    };
    // Required first, in the schema's order; then the optional ones.
    let mut names: Vec<&String> = props.keys().collect();
    names.sort_by_key(|n| {
        required
            .iter()
            .position(|r| r == n)
            .unwrap_or(required.len())
    });
    names
        .into_iter()
        .filter_map(|name| props.get(name).map(|p| (name, p)))
        .map(|(name, p)| {
            let optional = if required.contains(&name.as_str()) {
                ""
            } else {
                "?"
            };
            match describe(&schema, p) {
                d if d.is_empty() => format!("{name}{optional}"),
                d => format!("{name}{optional}: {d}"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn render_catalogue(c: &Catalogue) -> String {
    let mut out = String::new();
    let width = c.tools.iter().map(|t| t.name.len()).max().unwrap_or(0);
    let _ = writeln!(out, "tools ({})", c.tools.len());
    for t in &c.tools {
        let description = t
            .description
            .as_deref()
            .map(|d| one_line(d, DESCRIPTION_WIDTH))
            .unwrap_or_default();
        let _ = writeln!(out, "  {:<width$}  {description}", t.name);
        let args = argument_summary(t);
        let args = if args.is_empty() {
            "(no arguments)".to_string()
        } else {
            args
        };
        let _ = writeln!(out, "  {:<width$}  args: {args}", "");
    }
    if !c.resources.is_empty() {
        let _ = writeln!(out, "resources ({})", c.resources.len());
        for r in &c.resources {
            let mime = r.mime_type.as_deref().unwrap_or("");
            let _ = writeln!(out, "  {}  {}  {mime}", r.uri, r.name);
        }
    }
    if !c.prompts.is_empty() {
        let _ = writeln!(out, "prompts ({})", c.prompts.len());
        for p in &c.prompts {
            let description = p
                .description
                .as_deref()
                .map(|d| one_line(d, DESCRIPTION_WIDTH))
                .unwrap_or_default();
            let _ = writeln!(out, "  {}  {description}", p.name);
        }
    }
    out
}

fn decoded_size(data: &str) -> String {
    match base64::engine::general_purpose::STANDARD.decode(data.trim()) {
        Ok(bytes) => format!("{} bytes", bytes.len()),
        Err(_) => format!("{} characters of invalid base64", data.len()),
    }
}

fn block(out: &mut String, i: usize, b: &ContentBlock) {
    match b {
        ContentBlock::Text(t) => {
            let _ = writeln!(out, "[{i}] text");
            let _ = writeln!(out, "{}", t.text);
        }
        ContentBlock::Image(img) => {
            let size = decoded_size(&img.data);
            let _ = writeln!(out, "[{i}] image {} ({size})", img.mime_type);
        }
        ContentBlock::Audio(a) => {
            let size = decoded_size(&a.data);
            let _ = writeln!(out, "[{i}] audio {} ({size})", a.mime_type);
        }
        ContentBlock::Resource(r) => match &r.resource {
            ResourceContents::TextResourceContents {
                uri,
                mime_type,
                text,
                ..
            } => {
                let mime = mime_type.as_deref().unwrap_or("text");
                let _ = writeln!(out, "[{i}] resource {uri} ({mime}, {} bytes)", text.len());
                let _ = writeln!(out, "{text}");
            }
            ResourceContents::BlobResourceContents {
                uri,
                mime_type,
                blob,
                ..
            } => {
                let mime = mime_type.as_deref().unwrap_or("application/octet-stream");
                let _ = writeln!(out, "[{i}] resource {uri} ({mime}, {})", decoded_size(blob));
            }
            _ => {
                let _ = writeln!(out, "[{i}] resource (of a kind not rendered; use --json)");
            }
        },
        ContentBlock::ResourceLink(r) => {
            let mut facts = vec![r.name.clone()];
            facts.extend(r.mime_type.clone());
            facts.extend(r.size.map(|s| format!("{s} bytes")));
            let _ = writeln!(out, "[{i}] resource link {} ({})", r.uri, facts.join(", "));
        }
        #[allow(unreachable_patterns)] // ContentBlock is non_exhaustive.
        other => {
            let kind = serde_json::to_value(other)
                .ok()
                .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| "unknown".into());
            let _ = writeln!(out, "[{i}] {kind} (not rendered; use --json)");
        }
    }
}

/// Every block in order, then structured content, then the verdict line.
pub fn render_result(tool: &str, r: &CallToolResult, latency_ms: u64) -> String {
    let mut out = String::new();
    for (i, b) in r.content.iter().enumerate() {
        block(&mut out, i + 1, b);
    }
    if r.content.is_empty() {
        let _ = writeln!(out, "(no content blocks)");
    }
    if let Some(s) = &r.structured_content {
        let pretty = serde_json::to_string_pretty(s).unwrap_or_else(|_| s.to_string());
        let _ = writeln!(out, "structuredContent:\n{pretty}");
    }
    let verdict = if r.is_error == Some(true) {
        "returned an error (isError)"
    } else {
        "ok"
    };
    let _ = writeln!(out, "{tool}: {verdict} in {latency_ms} ms");
    out
}

#[cfg(test)]
#[path = "tests_render.rs"]
mod tests;
