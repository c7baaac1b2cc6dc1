//! HTTP failures: a non-2xx status (with its `Retry-After` and `WWW-Authenticate`), and a
//! request that got no answer at all (reqwest's errors).

use crate::domain::{ErrorClass, Failure};

/// The longest wait a server's `Retry-After` (or any "come back later") is honoured for. A
/// larger number is a bug or an attack; believing it would park a connection for years, and
/// `u64::MAX` seconds overflows every clock it meets.
pub const MAX_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// `Retry-After` seconds as the milliseconds a [`Failure`] carries, capped at
/// [`MAX_RETRY_AFTER`]: the raw product overflows for any value past ~1.8e16.
pub fn retry_after_ms_capped(secs: u64) -> u64 {
    secs.min(MAX_RETRY_AFTER.as_secs()).saturating_mul(1000)
}

/// The class of a non-2xx HTTP answer, or `None` for success.
pub fn classify_status(
    status: u16,
    retry_after_s: Option<u64>,
    www_authenticate: Option<&str>,
) -> Option<Failure> {
    let scope_challenge = www_authenticate
        .and_then(|w| super::challenge::bearer([w]))
        .filter(|c| c.error.as_deref() == Some("insufficient_scope"));
    let f = match status {
        200..=299 => return None,
        401 => Failure::new(ErrorClass::Auth, "HTTP 401: the token was not accepted"),
        // The MCP spec's step-up signal: the challenge names the scopes a new grant needs.
        403 if scope_challenge.is_some() => {
            insufficient_scope(&scope_challenge.map(|c| c.scope).unwrap_or_default())
        }
        403 => Failure::new(ErrorClass::Auth, "HTTP 403: forbidden for this account"),
        410 => Failure::new(
            ErrorClass::Gone,
            "HTTP 410: the endpoint was retired; move to the provider's newer API",
        ),
        429 => {
            // Capped: the raw header can be any u64, and `s * 1000` overflowed past ~1.8e16.
            let retry_after_s = retry_after_s.map(|s| s.min(MAX_RETRY_AFTER.as_secs()));
            let mut f = Failure::new(
                ErrorClass::RateLimited,
                match retry_after_s {
                    Some(s) => format!("HTTP 429: rate limited, retry after {s}s"),
                    None => "HTTP 429: rate limited".to_string(),
                },
            );
            f.retry_after_ms = retry_after_s.map(retry_after_ms_capped);
            f
        }
        500..=599 => Failure::new(ErrorClass::Server, format!("HTTP {status} from the server")),
        _ => Failure::new(ErrorClass::Client, format!("HTTP {status}")),
    };
    Some(f)
}

/// The failure a 403 `insufficient_scope` turns into.
pub fn insufficient_scope(scope: &[String]) -> Failure {
    let message = if scope.is_empty() {
        "HTTP 403: insufficient scope (the server named none); re-authorize with the scopes the operation needs".to_string()
    } else {
        format!(
            "HTTP 403: insufficient scope; needs re-auth with scopes {}",
            scope.join(" ")
        )
    };
    Failure::new(ErrorClass::Auth, message)
}

/// A request that got no HTTP answer: timeouts, refused connections, unreadable bodies, and
/// redirects `net::redirect_policy` refused.
pub fn classify_reqwest(e: &reqwest::Error) -> Failure {
    // reqwest's Display includes the URL, which never holds a secret here (tokens travel in
    // bodies and headers), but the chain is long; keep the innermost cause.
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    let detail = source.to_string();
    if e.is_timeout() {
        Failure::new(ErrorClass::Timeout, "timed out")
    } else if e.is_connect() {
        Failure::new(ErrorClass::Connection, format!("cannot connect: {detail}"))
    } else if e.is_decode() || e.is_body() {
        Failure::new(ErrorClass::Protocol, format!("bad response body: {detail}"))
    } else if e.is_redirect() {
        // A refused redirect (`net::redirect_policy`): the URL needs fixing, retrying won't.
        Failure::new(ErrorClass::Config, detail)
    } else {
        Failure::new(ErrorClass::Connection, detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_get_actionable_classes() {
        assert_eq!(classify_status(204, None, None), None);
        assert_eq!(
            classify_status(401, None, None).map(|f| f.class),
            Some(ErrorClass::Auth)
        );
        let scope =
            classify_status(403, None, Some(r#"Bearer error="insufficient_scope""#)).unwrap();
        assert!(scope.message.contains("insufficient scope"));
        let scope = classify_status(
            403,
            None,
            Some(r#"Bearer realm="x, y", error="insufficient_scope", scope="files:write admin""#),
        )
        .unwrap();
        assert_eq!(scope.class, ErrorClass::Auth);
        assert!(
            scope
                .message
                .contains("needs re-auth with scopes files:write admin"),
            "{}",
            scope.message
        );
        assert_eq!(
            classify_status(410, None, None).map(|f| f.class),
            Some(ErrorClass::Gone)
        );
        let limited = classify_status(429, Some(2), None).unwrap();
        assert_eq!(
            (limited.class, limited.retry_after_ms),
            (ErrorClass::RateLimited, Some(2000))
        );
        // A server's absurd Retry-After is capped, not multiplied into an overflow.
        let limited = classify_status(429, Some(u64::MAX), None).unwrap();
        assert_eq!(limited.retry_after_ms, Some(3_600_000));
        assert_eq!(retry_after_ms_capped(u64::MAX), 3_600_000);
        assert_eq!(retry_after_ms_capped(2), 2000);
        assert!(limited.message.contains("retry after 3600s"), "{limited:?}");
        assert_eq!(
            classify_status(503, None, None).map(|f| f.class),
            Some(ErrorClass::Server)
        );
        assert_eq!(
            classify_status(418, None, None).map(|f| f.class),
            Some(ErrorClass::Client)
        );
    }
}
