//! Rules every outbound HTTP exchange follows, whoever makes it: a body is read only up to a
//! cap, because a server (or a proxy in front of it) can send an endless body, and a time limit
//! alone let one token response grow the process to 6.3 GB before its 20 s timeout.

use crate::domain::{ErrorClass, Failure};

mod consent;
mod origin;
pub use consent::{ConsentForm, consent_form, open_and_approve};
pub use origin::{
    MAX_REDIRECTS, Refused as RedirectRefused, browser_client, client_builder, is_loopback,
    redirect_policy, require_secure,
};

/// Token, revocation and registration answers: a few KiB in practice.
pub const TOKEN_BODY_CAP: usize = 256 * 1024;
/// Discovery documents (RFC 8414, RFC 9728, OIDC): small JSON.
pub const METADATA_BODY_CAP: usize = 256 * 1024;
/// One MCP JSON-RPC message or one legacy SSE event: tool catalogues and results can be large.
pub const MCP_MESSAGE_CAP: usize = 16 * 1024 * 1024;
/// A REST probe's answer: only its status matters, the body is drained for connection reuse.
pub const PROBE_BODY_CAP: usize = 64 * 1024;

/// Reads `response`'s body, failing (without reading on) once it passes `cap` bytes. `what`
/// names the exchange in the error ("the token endpoint's answer").
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
    what: &str,
) -> Result<Vec<u8>, Failure> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_large(what, cap));
    }
    let mut body = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|e| {
            let mut f = crate::classify::classify_reqwest(&e);
            f.message = format!("{what}: {}", f.message);
            f
        })?;
        let Some(chunk) = chunk else {
            return Ok(body);
        };
        if body.len().saturating_add(chunk.len()) > cap {
            return Err(too_large(what, cap));
        }
        body.extend_from_slice(&chunk);
    }
}

fn too_large(what: &str, cap: usize) -> Failure {
    Failure::new(
        ErrorClass::Protocol,
        format!(
            "{what} is larger than {} KiB; switchboard stopped reading it (a misbehaving server or proxy?)",
            cap / 1024
        ),
    )
}

/// A count of seconds a server sent, as a `Duration` within `[min, max]`. Saturating, so no
/// value (`u64::MAX` included) can wrap or panic on its way to a clock.
pub fn clamp_secs(
    secs: u64,
    min: std::time::Duration,
    max: std::time::Duration,
) -> std::time::Duration {
    std::time::Duration::from_secs(secs).clamp(min, max.max(min))
}

/// A JSON number of seconds a server sent (which may be negative, fractional, a string or
/// absurdly large), within `[min, max]`; `default` when it is missing, not a number, or not
/// positive: a server that says "expires in -1 s" has said nothing usable.
pub fn clamp_json_secs(
    value: Option<&serde_json::Value>,
    default: std::time::Duration,
    min: std::time::Duration,
    max: std::time::Duration,
) -> std::time::Duration {
    let secs = match value {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match secs.filter(|s| s.is_finite() && *s > 0.0) {
        // `as` on a float saturates (and the filter already dropped NaN).
        Some(s) => clamp_secs(s.ceil() as u64, min, max),
        None => default.clamp(min, max.max(min)),
    }
}

#[cfg(test)]
mod clamp_tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn server_seconds_never_leave_their_bounds() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(clamp_secs(u64::MAX, min, max), max);
        assert_eq!(clamp_secs(0, min, max), min);
        assert_eq!(clamp_secs(7, min, max), Duration::from_secs(7));
        let d = Duration::from_secs(5);
        for (json, want) in [
            (serde_json::json!(u64::MAX), max),
            (serde_json::json!(1e300), max),
            (serde_json::json!(-1), d),
            (serde_json::json!(i64::MIN), d),
            (serde_json::json!(0), d),
            (serde_json::json!(2.5), Duration::from_secs(3)),
            (serde_json::json!("30"), Duration::from_secs(30)),
            (serde_json::json!("soon"), d),
            (serde_json::json!(null), d),
            (serde_json::json!([1]), d),
        ] {
            assert_eq!(clamp_json_secs(Some(&json), d, min, max), want, "{json}");
        }
        assert_eq!(clamp_json_secs(None, d, min, max), d);
    }
}
