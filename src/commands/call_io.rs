//! The local side of `switchboard call`: arguments parsed and checked before anything is sent,
//! progress on stderr, Ctrl-C as cancellation.

use std::io::{IsTerminal, Write};

use rmcp::model::JsonObject;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::Exit;
use crate::cli::EXIT_USAGE;
use crate::toolkit::Catalogue;
use crate::toolkit::schema::{Checked, check};

fn usage(message: impl Into<String>) -> Exit {
    Exit::new(EXIT_USAGE, message)
}

/// ARGS as a JSON object; a parse error names its line and column.
pub(super) fn parse_arguments(raw: Option<&str>) -> Result<Option<JsonObject>, Exit> {
    let Some(raw) = raw else { return Ok(None) };
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(other) => Err(usage(format!(
            "the arguments must be a JSON object like '{{\"a\": 1}}', got {}",
            crate::toolkit::render::one_line(&other.to_string(), 60)
        ))),
        Err(e) => Err(usage(format!(
            "the arguments are not valid JSON: {} at line {}, column {}",
            strip_position(&e.to_string()),
            e.line(),
            e.column()
        ))),
    }
}

/// serde_json appends " at line L column C"; we say it our way.
fn strip_position(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

/// Checks the arguments against the tool's schema; every violation is printed.
pub(super) fn validate(
    c: &Catalogue,
    tool: &str,
    arguments: &Option<JsonObject>,
    where_: &str,
) -> Result<(), Exit> {
    let Some(t) = c.tool(tool) else {
        let names: Vec<&str> = c.tools.iter().map(|t| t.name.as_ref()).collect();
        return Err(usage(format!(
            "{where_} has no tool `{tool}`; its tools: {}",
            if names.is_empty() {
                "(none)".to_string()
            } else {
                names.join(", ")
            }
        )));
    };
    let schema = Value::Object((*t.input_schema).clone());
    let args = Value::Object(arguments.clone().unwrap_or_default());
    match check(&schema, &args) {
        Checked::Valid => Ok(()),
        Checked::SchemaUnusable(why) => {
            eprintln!(
                "warning: the input schema of `{tool}` is unusable ({why}); sending the arguments unchecked"
            );
            Ok(())
        }
        Checked::Invalid(violations) => {
            let n = violations.len();
            let mut message = format!(
                "invalid arguments for `{tool}` ({n} problem{}); nothing was sent:",
                if n == 1 { "" } else { "s" }
            );
            for v in violations {
                message.push_str(&format!("\n  {v}"));
            }
            Err(usage(message))
        }
    }
}

/// Progress on stderr: rewritten in place on a terminal, a line each otherwise (`--progress`).
pub(super) struct ProgressPrinter {
    tty: bool,
    enabled: bool,
    shown: bool,
}

impl ProgressPrinter {
    pub(super) fn new(forced: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        Self {
            tty,
            enabled: tty || forced,
            shown: false,
        }
    }

    pub(super) fn show(
        &mut self,
        tool: &str,
        progress: f64,
        total: Option<f64>,
        message: Option<&str>,
    ) {
        if !self.enabled {
            return;
        }
        let line = crate::text::printable(
            &crate::toolkit::progress::progress_text(progress, total, message),
            false,
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[K{tool}: {line}");
        } else {
            let _ = writeln!(err, "progress {tool}: {line}");
        }
        let _ = err.flush();
        self.shown = true;
    }

    pub(super) fn finish(&mut self) {
        if self.tty && self.shown {
            eprint!("\r\x1b[K");
        }
    }
}

/// Ctrl-C cancels the call (the server is told); a second Ctrl-C is the default (exit).
pub(super) fn cancel_on_ctrl_c() -> CancellationToken {
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            token.cancel();
        }
    });
    cancel
}
