//! Where a request may go. Token, revocation, registration, discovery and MCP requests carry
//! refresh tokens, client secrets, bearer tokens and `--header` values; reqwest's default policy
//! follows up to ten redirects to any host and strips only `Authorization` and cookies on the
//! way, so a 307 from a token endpoint re-sent the refresh token and a client_secret_post
//! secret in the body to whatever host the `Location` named. Every client switchboard builds
//! comes from [`client_builder`], so the rule is made once.

use std::time::Duration;

use reqwest::redirect::{Attempt, Policy};

/// Redirect hops followed within one origin: enough for a trailing-slash or path
/// canonicalisation, few enough that a loop fails fast.
pub const MAX_REDIRECTS: usize = 5;

/// The one way switchboard builds an HTTP client: its user agent, a connect timeout, and
/// the same-origin redirect policy. Callers add what is theirs (default headers, proxies).
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .redirect(redirect_policy())
}

/// A client that stands in for a web browser (`Opener::Internal`: the demo, the conformance
/// run): it follows an authorization server's redirects to the loopback callback on another
/// port, as a browser would, and carries nothing of ours but the authorization URL. Never use
/// it for a request that holds a token, a client secret or an operator's header.
pub fn browser_client() -> Result<reqwest::Client, crate::domain::Failure> {
    reqwest::Client::builder()
        .user_agent(concat!(
            "switchboard/",
            env!("CARGO_PKG_VERSION"),
            " (browser)"
        ))
        .connect_timeout(Duration::from_secs(10))
        .redirect(Policy::limited(10))
        .build()
        .map_err(|e| {
            crate::domain::Failure::new(
                crate::domain::ErrorClass::Config,
                format!("cannot build the HTTP client: {e}"),
            )
        })
}

/// Follows a redirect only within the origin (scheme, host, port) of the original request,
/// at most [`MAX_REDIRECTS`] hops; anything else fails the request before it is re-sent.
///
/// Same-origin 307/308 are followed even for token POSTs, which re-sends the body: the body
/// goes back to the server that already received it, so nothing is disclosed that was not
/// already, and refusing would break servers that canonicalise paths (`/token` → `/token/`).
/// A reqwest policy cannot see the method anyway, so a stricter rule for POSTs would need a
/// second client on every token path. 301/302/303 turn a POST into a body-less GET, which
/// then fails as a bad token response rather than leaking anything.
pub fn redirect_policy() -> Policy {
    Policy::custom(decide)
}

fn decide(attempt: Attempt<'_>) -> reqwest::redirect::Action {
    // reqwest lists the original URL first; every later hop was checked against it already.
    let Some(first) = attempt.previous().first() else {
        return attempt.follow();
    };
    let (from, to) = (first.origin(), attempt.url().origin());
    if from != to {
        let error = Refused::CrossOrigin {
            from: from.ascii_serialization(),
            to: to.ascii_serialization(),
        };
        return attempt.error(error);
    }
    if attempt.previous().len() > MAX_REDIRECTS {
        let error = Refused::TooMany {
            from: from.ascii_serialization(),
        };
        return attempt.error(error);
    }
    attempt.follow()
}

/// Why a redirect was not followed. Only origins are named: a `Location` path or query is the
/// server's to choose and is not worth echoing.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(
        "the server at {from} tried to send the request elsewhere (a redirect to {to}); switchboard does not follow redirects to another origin because the request carries credentials; if {to} is the real endpoint, configure it directly"
    )]
    CrossOrigin { from: String, to: String },
    #[error(
        "the server at {from} redirected more than {MAX_REDIRECTS} times; check the configured URL (a redirect loop?)"
    )]
    TooMany { from: String },
}

/// Refuses an endpoint that would carry credentials over plain http across a network: https
/// anywhere, http only to loopback (127.0.0.0/8, ::1, `localhost`), where the lab, tests and
/// local development servers live and nothing crosses a wire. `what` names the endpoint
/// ("token endpoint"); `shown` is how to print the URL (config passes `${VAR}` when the value
/// came from the environment).
pub fn require_secure(url: &str, what: &str, shown: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|_| format!("{what} {shown} is not a URL"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&parsed) => Ok(()),
        "http" => Err(format!(
            "{what} {shown} uses plain http to a host that is not loopback, so tokens and client secrets would cross the network unencrypted; use https (plain http is accepted only for 127.0.0.1, ::1 and localhost)"
        )),
        other => Err(format!(
            "{what} {shown} uses the {other}: scheme; expected an https URL"
        )),
    }
}

pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_may_carry_credentials() {
        for ok in [
            "https://as.example/token",
            "http://127.0.0.1:8080/token",
            "http://127.9.9.9/token",
            "http://[::1]:9/token",
            "http://localhost:3000/token",
            "http://LOCALHOST/token",
        ] {
            assert_eq!(require_secure(ok, "token endpoint", ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://example.com/token",
            "http://10.0.0.1/token",
            "http://localhost.example.com/token",
            "http://128.0.0.1/token",
            "ftp://example.com/token",
            "not a url",
        ] {
            let e = require_secure(bad, "token endpoint", "SHOWN").unwrap_err();
            assert!(e.starts_with("token endpoint SHOWN "), "{e}");
            assert!(!e.contains(bad), "printed the raw value: {e}");
        }
        let e = require_secure("http://example.com/t", "token endpoint", "X").unwrap_err();
        assert!(e.contains("use https"), "{e}");
    }
}
