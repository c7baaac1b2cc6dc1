//! The operator's side of an elicitation at a terminal: each field asked in the server's order
//! (prompts on one stream, answers on another, so it runs the same over a terminal and in
//! tests), checked as it is typed, and the answers shown for review before anything is sent,
//! as the spec asks of clients.

use std::io::{self, BufRead, Write};

use rmcp::model::JsonObject;
use serde_json::Value;

use super::form::{Field, Form, Kind};
use crate::text::printable;

/// What the operator decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Accept(JsonObject),
    Decline,
    Cancel,
}

impl Answer {
    /// What the operator did, as a past-tense verb ("declined").
    pub fn verb(&self) -> &'static str {
        match self {
            Answer::Accept(_) => "accepted",
            Answer::Decline => "declined",
            Answer::Cancel => "cancelled",
        }
    }
}

const HELP: &str = "Enter takes the [default]; `!decline` declines the request; Ctrl-D or `!cancel` cancels it \
(`!!` starts an answer with `!`).";

/// A value as the operator would type it.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => printable(s, false),
        Value::Bool(true) => "yes".to_string(),
        Value::Bool(false) => "no".to_string(),
        Value::Array(items) => items.iter().map(shown).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// One line of input: `None` at end of input (Ctrl-D, or a closed pipe).
fn read_line(input: &mut impl BufRead) -> io::Result<Option<Result<String, ()>>> {
    let mut bytes = Vec::new();
    if input.read_until(b'\n', &mut bytes)? == 0 {
        return Ok(None);
    }
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
    Ok(Some(String::from_utf8(bytes).map_err(|_| ())))
}

enum Step {
    Value(Option<Value>),
    Decline,
    Cancel,
}

/// A line that starts with `!`: a command, or (`!!`) a literal `!`.
enum Line {
    Text(String),
    Decline,
    Cancel,
    Unknown(String),
}

fn classify(line: String) -> Line {
    let trimmed = line.trim();
    match trimmed {
        "!decline" => Line::Decline,
        "!cancel" => Line::Cancel,
        _ if trimmed.starts_with("!!") => Line::Text(line.replacen("!!", "!", 1)),
        _ if trimmed.starts_with('!') => Line::Unknown(trimmed.to_string()),
        _ => Line::Text(line),
    }
}

fn ask_field(
    field: &Field,
    default: Option<&Value>,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> io::Result<Step> {
    let label = match &field.title {
        Some(t) if t != &field.name => format!("{} ({})", printable(t, false), field.name),
        _ => field.name.clone(),
    };
    let mut header = label;
    if let Some(d) = &field.description {
        header.push_str(&format!(" — {}", printable(d, false)));
    }
    if field.required {
        header.push_str(" (required)");
    }
    writeln!(out, "{header}")?;
    if let Kind::OneOf(choices) | Kind::AnyOf { choices, .. } = &field.kind {
        for (i, c) in choices.iter().enumerate() {
            match &c.label {
                Some(l) if l != &c.value => writeln!(
                    out,
                    "    {}) {} — {}",
                    i + 1,
                    printable(&c.value, false),
                    printable(l, false)
                )?,
                _ => writeln!(out, "    {}) {}", i + 1, printable(&c.value, false))?,
            }
        }
    }
    let bracket = match (default, field.required) {
        (Some(d), _) => format!(" [{}]", shown(d)),
        (None, false) => " [skip]".to_string(),
        (None, true) => String::new(),
    };
    loop {
        write!(out, "  {}{bracket}: ", field.expected())?;
        out.flush()?;
        let Some(line) = read_line(input)? else {
            return Ok(Step::Cancel);
        };
        let Ok(line) = line else {
            writeln!(out, "  ✗ that line is not valid UTF-8; type it again")?;
            continue;
        };
        let text = match classify(line) {
            Line::Decline => return Ok(Step::Decline),
            Line::Cancel => return Ok(Step::Cancel),
            Line::Unknown(cmd) => {
                writeln!(
                    out,
                    "  ✗ `{}` is not a command: `!decline` declines, `!cancel` cancels, `!!` starts an answer with `!`",
                    printable(&cmd, false)
                )?;
                continue;
            }
            Line::Text(text) => text,
        };
        if text.trim().is_empty() {
            match (default, field.required) {
                (Some(d), _) => return Ok(Step::Value(Some(d.clone()))),
                (None, false) => return Ok(Step::Value(None)),
                (None, true) => {
                    writeln!(
                        out,
                        "  ✗ {} is required: type {}, or `!decline`",
                        field.name,
                        field.expected()
                    )?;
                    continue;
                }
            }
        }
        match field.parse(&text) {
            Ok(value) => return Ok(Step::Value(Some(value))),
            Err(why) => writeln!(out, "  ✗ {}: {}", field.name, printable(&why, false))?,
        }
    }
}

/// Asks for every field of `form`, then for confirmation; `n` at review declines, `e` asks
/// again with the answers so far as defaults. End of input cancels.
pub fn ask_form(
    server: &str,
    message: &str,
    form: &Form,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> io::Result<Answer> {
    writeln!(
        out,
        "{} asks: {}",
        printable(server, false),
        printable(message, true)
    )?;
    if !form.fields.is_empty() {
        writeln!(out, "{HELP}")?;
    }
    let mut previous = JsonObject::new();
    loop {
        let mut content = JsonObject::new();
        for field in &form.fields {
            let default = previous.get(&field.name).or(field.default.as_ref());
            match ask_field(field, default, input, out)? {
                Step::Value(Some(v)) => {
                    content.insert(field.name.clone(), v);
                }
                Step::Value(None) => {}
                Step::Decline => return Ok(Answer::Decline),
                Step::Cancel => return Ok(Answer::Cancel),
            }
        }
        let question = if form.fields.is_empty() {
            "Accept? [Y/n]: "
        } else {
            writeln!(out, "Answers:")?;
            for field in &form.fields {
                let value = content.get(&field.name).map(shown);
                writeln!(
                    out,
                    "  {}: {}",
                    field.name,
                    value.as_deref().unwrap_or("(left out)")
                )?;
            }
            "Send them? [Y]es, [e]dit, [n]o (declines): "
        };
        loop {
            write!(out, "{question}")?;
            out.flush()?;
            let Some(line) = read_line(input)? else {
                return Ok(Answer::Cancel);
            };
            let line = line.unwrap_or_default().trim().to_lowercase();
            match line.as_str() {
                "" | "y" | "yes" => return Ok(Answer::Accept(content)),
                "n" | "no" | "!decline" => return Ok(Answer::Decline),
                "!cancel" => return Ok(Answer::Cancel),
                "e" | "edit" if !form.fields.is_empty() => break,
                _ => writeln!(
                    out,
                    "  ✗ answer y or n{}",
                    if form.fields.is_empty() {
                        ""
                    } else {
                        " (or e to edit)"
                    }
                )?,
            }
        }
        previous = content;
    }
}

/// A URL-mode request: the operator opens the URL themselves (switchboard never does); Enter
/// accepts, meaning they will. The host is spelled out, since the link text alone can mislead.
pub fn ask_url(
    server: &str,
    message: &str,
    url: &str,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> io::Result<Answer> {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string));
    writeln!(
        out,
        "{} asks you to open a URL: {}",
        printable(server, false),
        printable(message, true)
    )?;
    writeln!(out, "  {}", printable(url, false))?;
    let Some(host) = host else {
        writeln!(out, "  ✗ that is not a URL a browser can open; declining")?;
        return Ok(Answer::Decline);
    };
    writeln!(
        out,
        "  (host {}; switchboard does not open it for you)",
        printable(&host, false)
    )?;
    loop {
        write!(
            out,
            "Open it yourself and press Enter to accept; `!decline` declines, Ctrl-D cancels: "
        )?;
        out.flush()?;
        let Some(line) = read_line(input)? else {
            return Ok(Answer::Cancel);
        };
        match classify(line.unwrap_or_default()) {
            Line::Text(t) if t.trim().is_empty() => return Ok(Answer::Accept(JsonObject::new())),
            Line::Decline => return Ok(Answer::Decline),
            Line::Cancel => return Ok(Answer::Cancel),
            _ => writeln!(out, "  ✗ press Enter to accept, or type `!decline`")?,
        }
    }
}
