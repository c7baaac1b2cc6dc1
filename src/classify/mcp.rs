//! Turning rmcp's errors into failures an operator can act on: a class and one readable line.

use rmcp::service::ServiceError;
use rmcp::transport::DynamicTransportError;
use rmcp::transport::streamable_http_client::StreamableHttpError;

use super::http::{classify_reqwest, classify_status};
use super::retry_after::retry_after_ms;
use crate::domain::{ErrorClass, Failure, Reason, now_ms};

/// A failure one of our transports (legacy SSE) already classified, carried through rmcp's
/// type-erased transport error and taken out again by [`transport_failure`].
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.message)]
pub struct TransportFailure(pub Failure);

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
    // Words are matched on the line without rmcp's type names: those name our own types
    // (`AuthedHttpClient`), so "auth" in them said nothing about the failure, and an MCP 404
    // read "auth: MCP initialize failed".
    let line = first_line(message);
    if let Some(status) = http_status(&line) {
        return status_failure(status, &line);
    }
    let lower = line.to_ascii_lowercase();
    // rmcp's `InsufficientScopeError` as text: "insufficient scope: <WWW-Authenticate>".
    if let Some(at) = lower.find("insufficient scope") {
        let challenge = line[at..].split_once(':').map(|(_, w)| w.trim());
        let scopes = challenge
            .and_then(|w| super::challenge::bearer([w]))
            .map(|c| c.scope)
            .unwrap_or_default();
        return Failure::new(ErrorClass::Auth, format!("MCP initialize failed: {line}"))
            .with_reason(Reason::InsufficientScope { scopes });
    }
    let class = if lower.contains("unauthorized")
        || lower.contains("forbidden")
        || lower.contains("auth required")
    {
        ErrorClass::Auth
    } else if lower.contains("connect") || lower.contains("refused") || lower.contains("dns") {
        ErrorClass::Connection
    } else if lower.contains("timed out") || lower.contains("timeout") {
        ErrorClass::Timeout
    } else {
        ErrorClass::Protocol
    };
    Failure::new(class, format!("MCP initialize failed: {line}"))
}

/// The status of an "HTTP 404 Not Found: ..." line (rmcp's wording for an unexpected answer).
fn http_status(line: &str) -> Option<u16> {
    let at = line.find("HTTP ")? + "HTTP ".len();
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|s| (100..=599).contains(s))
}

/// A non-2xx answer from the MCP endpoint, classed by its status alone.
fn status_failure(status: u16, line: &str) -> Failure {
    let f = match status {
        // No MCP endpoint at that URL: the address is wrong, which no new grant fixes.
        404 => Failure::new(
            ErrorClass::Protocol,
            "HTTP 404: no MCP endpoint at this URL; check the connector's url",
        ),
        s => classify_status(s, None, None)
            .unwrap_or_else(|| Failure::new(ErrorClass::Protocol, format!("HTTP {s}"))),
    };
    Failure::new(
        f.class,
        format!("MCP initialize failed: {} ({line})", f.message),
    )
}

/// The streamable HTTP transport's errors, by kind: only an answer that says so (401, 403,
/// a challenge) is an authorization failure.
fn http_failure(e: &StreamableHttpError<reqwest::Error>) -> Failure {
    use StreamableHttpError as E;
    let protocol = |what: String| Failure::new(ErrorClass::Protocol, what);
    match e {
        E::AuthRequired(_) => Failure::new(
            ErrorClass::Auth,
            "HTTP 401: the MCP server did not accept the token",
        )
        .with_reason(Reason::TokenRejected),
        E::InsufficientScope(e) => Failure::new(
            ErrorClass::Auth,
            "HTTP 403: the MCP server asks for more scopes",
        )
        .with_reason(Reason::InsufficientScope {
            scopes: e
                .get_required_scope()
                .map(|s| s.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
        }),
        E::HttpStatus(s) => {
            // Seconds or an HTTP-date, rounded up to whole seconds like every other answer.
            let retry = s
                .retry_after
                .as_deref()
                .and_then(|r| retry_after_ms(r, now_ms()))
                .map(|ms| ms.div_ceil(1000));
            classify_status(s.status, retry, None)
                .unwrap_or_else(|| protocol(format!("HTTP {}", s.status)))
        }
        E::UnexpectedServerResponse(text) => match carried(text) {
            Some(f) => f,
            None => match http_status(text) {
                Some(status) => status_failure(status, &first_line(text)),
                None => protocol(format!("unexpected answer: {}", first_line(text))),
            },
        },
        E::Client(e) => classify_reqwest(e),
        E::Io(e) => Failure::new(ErrorClass::Connection, format!("I/O error: {e}")),
        E::SessionExpired => Failure::new(
            ErrorClass::Protocol,
            "the MCP server no longer knows this session (HTTP 404)",
        ),
        E::TransportChannelClosed | E::UnexpectedEndOfStream => closed(),
        other => protocol(first_line(&other.to_string())),
    }
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
    if let Some(TransportFailure(f)) = d.error.downcast_ref::<TransportFailure>() {
        return f.clone();
    }
    match d
        .error
        .downcast_ref::<StreamableHttpError<reqwest::Error>>()
    {
        Some(e) => http_failure(e),
        None => classify_init(&d.to_string()),
    }
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
    fn our_type_names_do_not_make_a_failure_auth() {
        let raw = "Send message error Transport [rmcp::transport::worker::WorkerTransport<rmcp::StreamableHttpClientWorker<switchboard::mcp::http_client::AuthedHttpClient>>] error: unexpected server response: HTTP 404 Not Found: nothing here";
        let f = super::classify_init(raw);
        assert_eq!(f.class, ErrorClass::Protocol, "{f}");
        assert!(f.message.contains("404"), "{f}");
        let raw = "Transport [x::AuthedHttpClient] error: HTTP 503 Service Unavailable";
        assert_eq!(super::classify_init(raw).class, ErrorClass::Server);
        let raw = "Transport [x::Y] error: HTTP 401 Unauthorized";
        assert_eq!(super::classify_init(raw).class, ErrorClass::Auth);
    }

    #[test]
    fn http_errors_are_classed_by_kind() {
        use rmcp::transport::streamable_http_client::{HttpStatusError, StreamableHttpError};
        type E = StreamableHttpError<reqwest::Error>;
        let class = |e: E| super::http_failure(&e).class;
        assert_eq!(
            class(E::UnexpectedServerResponse(
                "HTTP 404 Not Found: authorization docs".into()
            )),
            ErrorClass::Protocol
        );
        assert_eq!(
            class(E::HttpStatus(HttpStatusError::new(503, None))),
            ErrorClass::Server
        );
        assert_eq!(
            class(E::HttpStatus(HttpStatusError::new(429, Some("3".into())))),
            ErrorClass::RateLimited
        );
        assert_eq!(class(E::SessionExpired), ErrorClass::Protocol);
        let carried = Failure::new(ErrorClass::Auth, "needs re-auth: run `switchboard auth x`");
        assert_eq!(
            super::http_failure(&E::UnexpectedServerResponse(super::carry(&carried).into())),
            carried
        );
    }

    #[test]
    fn scope_refusals_carry_the_scopes_as_a_reason() {
        use crate::domain::Reason;
        use rmcp::transport::streamable_http_client::{
            InsufficientScopeError, StreamableHttpError,
        };
        let e =
            StreamableHttpError::<reqwest::Error>::InsufficientScope(InsufficientScopeError::new(
                r#"Bearer error="insufficient_scope", scope="a b""#.into(),
                Some("a b".into()),
            ));
        let want = Some(Reason::InsufficientScope {
            scopes: vec!["a".into(), "b".into()],
        });
        assert_eq!(super::http_failure(&e).reason, want);
        let raw = r#"Transport [x::Y] error: insufficient scope: Bearer error="insufficient_scope", scope="a b""#;
        let f = super::classify_init(raw);
        assert_eq!((f.class, f.reason), (ErrorClass::Auth, want));
        // A carried reason survives the trip through rmcp's text.
        let carried = crate::classify::insufficient_scope(&["c".into()]);
        let wrapped = format!(
            "error: unexpected server response: {}",
            super::carry(&carried)
        );
        assert_eq!(super::classify_init(&wrapped), carried);
        assert!(
            super::classify_init("Transport error: HTTP 503")
                .reason
                .is_none()
        );
    }

    #[test]
    fn type_names_leave_error_lines() {
        let raw = "Send message error Transport [rmcp::transport::worker::WorkerTransport<rmcp::X<Y>>] error: Auth required [401]\nmore";
        assert_eq!(
            super::first_line(raw),
            "Send message error Transport error: Auth required [401]"
        );
    }

    /// What our SSE transport classified, and what the streamable HTTP transport reports,
    /// both come out of rmcp's type-erased transport error as the same failure.
    #[test]
    fn transport_errors_come_out_of_rmcp_classified() {
        use rmcp::service::ServiceError;
        use rmcp::transport::DynamicTransportError;
        use rmcp::transport::streamable_http_client::{HttpStatusError, StreamableHttpError};
        let erased = |e: Box<dyn std::error::Error + Send + Sync>| {
            DynamicTransportError::from_parts("test", std::any::TypeId::of::<()>(), e)
        };
        let ours = Failure::new(ErrorClass::RateLimited, "HTTP 429: rate limited");
        let d = erased(Box::new(super::TransportFailure(ours.clone())));
        assert_eq!(super::transport_failure(&d), ours);
        assert_eq!(
            super::classify_service(&ServiceError::TransportSend(d)),
            ours
        );
        let theirs: StreamableHttpError<reqwest::Error> =
            StreamableHttpError::HttpStatus(HttpStatusError::new(429, Some("7".into())));
        let f = super::transport_failure(&erased(Box::new(theirs)));
        assert_eq!(
            (f.class, f.retry_after_ms),
            (ErrorClass::RateLimited, Some(7000))
        );
        let other = erased("HTTP 503 Service Unavailable".into());
        assert_eq!(super::transport_failure(&other).class, ErrorClass::Server);
        assert_eq!(
            super::classify_service(&ServiceError::TransportClosed),
            super::closed()
        );
    }

    /// A streamable HTTP 429 says when to come back in either form RFC 9110 allows, as REST
    /// probes and the legacy SSE transport read it; an HTTP-date used to be dropped here.
    #[test]
    fn a_rate_limit_keeps_its_retry_after_in_either_form() {
        use rmcp::transport::streamable_http_client::{HttpStatusError, StreamableHttpError};
        type E = StreamableHttpError<reqwest::Error>;
        let wait = |retry: &str| {
            let e = E::HttpStatus(HttpStatusError::new(429, Some(retry.into())));
            let f = super::http_failure(&e);
            assert_eq!(f.class, ErrorClass::RateLimited, "{f}");
            f.retry_after_ms
        };
        assert_eq!(wait("7"), Some(7000));
        // A date gone by means "now"; one far ahead is capped like any other wait.
        assert_eq!(wait("Sun, 06 Nov 1994 08:49:37 GMT"), Some(0));
        assert_eq!(wait("Fri, 31 Dec 9999 23:59:59 GMT"), Some(3_600_000));
        assert_eq!(wait("soon"), None);
    }
}
