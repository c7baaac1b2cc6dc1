//! Turning rmcp's errors into failures an operator can act on: a class and one readable line.

use rmcp::service::ServiceError;
use rmcp::transport::DynamicTransportError;

use super::sse;
use crate::domain::{ErrorClass, Failure};

/// Initialization errors arrive as text from rmcp; map the shapes we know.
/// Marks a failure of ours (a token source's: the broker's refusal, an authorization that
/// failed) carried as text through rmcp's error types, which have no variant for it, so it
/// comes out with its class and message intact instead of being guessed from words.
const CARRIED: &str = "\u{1}switchboard-failure:";

pub(crate) fn carry(f: &Failure) -> String {
    format!("{CARRIED}{}", serde_json::to_string(f).unwrap_or_default())
}

fn carried(text: &str) -> Option<Failure> {
    let at = text.find(CARRIED)? + CARRIED.len();
    serde_json::Deserializer::from_str(&text[at..])
        .into_iter::<Failure>()
        .next()?
        .ok()
}

pub(crate) fn classify_init(message: &str) -> Failure {
    if let Some(f) = carried(message) {
        return f;
    }
    let lower = message.to_ascii_lowercase();
    let class = if lower.contains("auth") || lower.contains("401") || lower.contains("403") {
        ErrorClass::Auth
    } else if lower.contains("connect") || lower.contains("refused") || lower.contains("dns") {
        ErrorClass::Connection
    } else if lower.contains("timed out") || lower.contains("timeout") {
        ErrorClass::Timeout
    } else if lower.contains("404") || lower.contains("410") {
        ErrorClass::Gone
    } else if lower.contains(" 5") && lower.contains("status") {
        ErrorClass::Server
    } else {
        ErrorClass::Protocol
    };
    Failure::new(
        class,
        format!("MCP initialize failed: {}", first_line(message)),
    )
}

pub(crate) fn classify_service(e: &ServiceError) -> Failure {
    match e {
        ServiceError::McpError(err) => Failure::new(
            ErrorClass::Protocol,
            format!("server error {}: {}", err.code.0, err.message),
        ),
        ServiceError::Timeout { .. } => Failure::new(ErrorClass::Timeout, "request timed out"),
        ServiceError::TransportClosed => closed(),
        ServiceError::TransportSend(d) => transport_failure(d),
        other => classify_init(&other.to_string()),
    }
}

pub(crate) fn closed() -> Failure {
    Failure::new(ErrorClass::Connection, "the MCP connection closed")
}

pub(crate) fn classify_client_init(e: &rmcp::service::ClientInitializeError) -> Failure {
    use rmcp::service::ClientInitializeError as E;
    match e {
        E::TransportError { error, .. } => transport_failure(error),
        E::ConnectionClosed(_) => closed(),
        other => classify_init(&other.to_string()),
    }
}

/// Our transports carry a classified failure through rmcp's type-erased error.
pub(crate) fn transport_failure(d: &DynamicTransportError) -> Failure {
    match d.error.downcast_ref::<sse::SseTransportError>() {
        Some(sse::SseTransportError(f)) => f.clone(),
        None => classify_init(&d.to_string()),
    }
}

/// Replaces a bare "connection closed" with the transport's recorded reason, if any.
pub(crate) fn explain_closed(failure: Failure, reason: Option<&sse::CloseReason>) -> Failure {
    if failure != closed() {
        return failure;
    }
    reason
        .and_then(|r| r.lock().ok().and_then(|slot| slot.clone()))
        .unwrap_or(failure)
}

/// The first line, without rmcp's `[path::to::Transport<...>]` type names, which say nothing
/// to an operator and push the actual cause past the cut.
pub(crate) fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    let mut out = String::with_capacity(line.len());
    let mut depth = 0usize;
    let mut bracket = String::new();
    for c in line.chars() {
        match c {
            '[' => {
                depth += 1;
                bracket.push(c);
            }
            ']' if depth > 0 => {
                depth -= 1;
                bracket.push(c);
                if depth == 0 {
                    if !bracket.contains("::") {
                        out.push_str(&bracket);
                    }
                    bracket.clear();
                }
            }
            c if depth > 0 => bracket.push(c),
            c => out.push(c),
        }
    }
    out.push_str(&bracket);
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    out.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use crate::domain::{ErrorClass, Failure};

    #[test]
    fn carried_failures_come_out_whole() {
        let f = Failure::new(ErrorClass::Auth, "HTTP 403: run `switchboard auth x`");
        let wrapped = format!(
            "Send message error Transport [rmcp::X] error: unexpected server response: {} (more)",
            super::carry(&f)
        );
        assert_eq!(super::classify_init(&wrapped), f);
    }

    #[test]
    fn type_names_leave_error_lines() {
        let raw = "Send message error Transport [rmcp::transport::worker::WorkerTransport<rmcp::X<Y>>] error: Auth required [401]\nmore";
        assert_eq!(
            super::first_line(raw),
            "Send message error Transport error: Auth required [401]"
        );
    }
}
