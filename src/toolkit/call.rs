//! What a tool call came to, as every front-end shows it: the tool's answer, or why there is
//! none. Making the call is `mcp::call`.

use std::fmt;
use std::time::Duration;

use rmcp::model::CallToolResult;

use super::schema::Violation;
use crate::domain::{ErrorClass, Failure};

/// A finished call: the tool answered (possibly with `isError`).
#[derive(Debug, Clone)]
pub struct CallOutcome {
    pub result: CallToolResult,
    pub latency_ms: u64,
}

impl CallOutcome {
    pub fn is_tool_error(&self) -> bool {
        self.result.is_error == Some(true)
    }
}

/// A call that produced no result.
#[derive(Debug, Clone)]
pub enum CallError {
    /// The deadline passed; the server was told to stop.
    Timeout(Duration),
    /// The caller gave up (Ctrl-C, closed panel); the server was told to stop.
    Cancelled,
    /// The arguments do not fit the tool's schema; nothing was sent.
    InvalidArguments(Vec<Violation>),
    Failed(Failure),
}

impl CallError {
    pub fn failure(&self) -> Failure {
        match self {
            CallError::Timeout(t) => Failure::new(ErrorClass::Timeout, timeout_message(*t)),
            CallError::Cancelled => Failure::new(ErrorClass::Client, "cancelled by the caller"),
            CallError::InvalidArguments(v) => Failure::new(
                ErrorClass::Config,
                format!(
                    "invalid arguments, nothing was sent: {}",
                    v.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ),
            CallError::Failed(f) => f.clone(),
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.failure().message)
    }
}

fn timeout_message(t: Duration) -> String {
    format!(
        "the tool did not answer within {}; the server was asked to cancel it (raise --timeout if it is just slow)",
        humantime::format_duration(t)
    )
}
