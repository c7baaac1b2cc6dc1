//! HTTP failures: a non-2xx status (with its `Retry-After` and `WWW-Authenticate`), and a
//! request that got no answer at all (reqwest's errors).

use super::retry_after::{MAX_RETRY_AFTER, retry_after_ms_capped};
use crate::domain::{ErrorClass, Failure, Reason};

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
        401 => Failure::new(ErrorClass::Auth, "HTTP 401: the token was not accepted")
            .with_reason(Reason::TokenRejected),
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
    Failure::new(ErrorClass::Auth, message).with_reason(Reason::InsufficientScope {
        scopes: scope.to_vec(),
    })
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
        assert_eq!(
            scope.reason,
            Some(Reason::InsufficientScope {
                scopes: vec!["files:write".into(), "admin".into()]
            })
        );
        assert_eq!(classify_status(403, None, None).unwrap().reason, None);
        assert_eq!(
            classify_status(401, None, None).and_then(|f| f.reason),
            Some(Reason::TokenRejected)
        );
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

    /// A listener that answers its first request with `response`, then closes.
    async fn serve_once(response: &'static str) -> std::io::Result<std::net::SocketAddr> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await?;
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await?;
            socket.write_all(response.as_bytes()).await?;
            socket.shutdown().await
        });
        Ok(addr)
    }

    /// The four ways a request ends without an answer to read, each with the class that
    /// decides what happens next (retry later, fix the URL, blame the server).
    #[tokio::test]
    async fn requests_without_a_usable_answer_get_actionable_classes() -> anyhow::Result<()> {
        let client = reqwest::Client::new();

        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let e = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .expect_err("nobody listens there");
        let f = classify_reqwest(&e);
        assert_eq!(f.class, ErrorClass::Connection, "{f}");
        assert!(f.message.starts_with("cannot connect: "), "{f}");

        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = silent.local_addr()?;
        let held = tokio::spawn(async move {
            let (socket, _) = silent.accept().await?;
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            drop(socket);
            Ok::<_, std::io::Error>(())
        });
        let e = client
            .get(format!("http://{addr}/"))
            .timeout(std::time::Duration::from_millis(200))
            .send()
            .await
            .expect_err("the server never answers");
        held.abort();
        assert_eq!(
            classify_reqwest(&e),
            Failure::new(ErrorClass::Timeout, "timed out")
        );

        let addr = serve_once(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5\r\n\r\nnope!",
        )
        .await?;
        let e = client
            .get(format!("http://{addr}/"))
            .send()
            .await?
            .json::<serde_json::Value>()
            .await
            .expect_err("not JSON");
        let f = classify_reqwest(&e);
        assert_eq!(f.class, ErrorClass::Protocol, "{f}");
        assert!(f.message.starts_with("bad response body: "), "{f}");

        let addr = serve_once(
            "HTTP/1.1 302 Found\r\nlocation: http://elsewhere.invalid/\r\ncontent-length: 0\r\n\r\n",
        )
        .await?;
        let refusing = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::custom(|a| {
                a.error("a redirect to another origin")
            }))
            .build()?;
        let e = refusing
            .get(format!("http://{addr}/"))
            .send()
            .await
            .expect_err("the redirect is refused");
        assert_eq!(
            classify_reqwest(&e),
            Failure::new(ErrorClass::Config, "a redirect to another origin")
        );
        Ok(())
    }
}
