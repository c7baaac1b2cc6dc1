//! Failures as every layer reports them: a class for what to do, a message for people.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of failure it was, so the operator knows what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// 401/403, insufficient scope, a refused grant.
    Auth,
    /// 429; `retry_after_ms` on the outcome says when to come back.
    RateLimited,
    /// 5xx.
    Server,
    Timeout,
    /// Refused, DNS, TLS, reset.
    Connection,
    /// Malformed JSON-RPC, SSE or token response.
    Protocol,
    /// 410: the API was retired.
    Gone,
    /// Anything else a peer answered that we did not expect (other 4xx).
    Client,
    /// Our side: misconfiguration, a missing token.
    Config,
}

impl ErrorClass {
    pub fn label(self) -> &'static str {
        match self {
            ErrorClass::Auth => "auth",
            ErrorClass::RateLimited => "rate limited",
            ErrorClass::Server => "server",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Connection => "connection",
            ErrorClass::Protocol => "protocol",
            ErrorClass::Gone => "gone",
            ErrorClass::Client => "client",
            ErrorClass::Config => "config",
        }
    }

    /// Worth retrying automatically with backoff.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorClass::RateLimited
                | ErrorClass::Server
                | ErrorClass::Timeout
                | ErrorClass::Connection
        )
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A failure with its class and an operator-facing message (never containing a secret).
/// Code decides on `class`, `reason` and `retry_after_ms`; `message` is for people only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub class: ErrorClass,
    pub message: String,
    /// From a 429's or a token endpoint's `Retry-After`, clamped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

/// What a caller can do about an auth failure, where the class alone does not say. Set where
/// the failure is produced; callers match on it instead of reading the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// A 403 naming scopes the grant lacks (step-up authorization). Empty when the server named
    /// none. Only a new consent adds scopes, so a human must run `switchboard auth`.
    InsufficientScope { scopes: Vec<String> },
    /// The grant is gone (refused, revoked, undecryptable): only `switchboard auth` helps.
    NeedsReauth,
    /// An OAuth connection that was never authorized.
    NotAuthorized,
    /// A 401 for the token presented: it may have been revoked or rotated elsewhere, so one
    /// newer token is worth one retry before anyone is asked to log in.
    TokenRejected,
}

impl Failure {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
            retry_after_ms: None,
            reason: None,
        }
    }

    pub fn with_reason(mut self, reason: Reason) -> Self {
        self.reason = Some(reason);
        self
    }

    /// Only a human running `switchboard auth` can fix it: no retry, refresh or wait will.
    pub fn needs_human(&self) -> bool {
        match &self.reason {
            Some(
                Reason::InsufficientScope { .. } | Reason::NeedsReauth | Reason::NotAuthorized,
            ) => true,
            Some(Reason::TokenRejected) | None => false,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.class, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_is_serialized_only_when_set_and_survives_a_round_trip() {
        let plain = Failure::new(ErrorClass::Server, "HTTP 503 from the server");
        let json = serde_json::to_value(&plain).unwrap();
        assert!(json.get("reason").is_none(), "{json}");
        // Failures serialized before `reason` existed still read.
        let old: Failure = serde_json::from_str(r#"{"class":"auth","message":"m"}"#).unwrap();
        assert_eq!(old.reason, None);

        let scoped = Failure::new(ErrorClass::Auth, "HTTP 403: insufficient scope").with_reason(
            Reason::InsufficientScope {
                scopes: vec!["files:write".into()],
            },
        );
        let json = serde_json::to_value(&scoped).unwrap();
        assert_eq!(
            json["reason"],
            serde_json::json!({"kind": "insufficient_scope", "scopes": ["files:write"]})
        );
        assert_eq!(serde_json::from_value::<Failure>(json).unwrap(), scoped);
        assert!(scoped.needs_human());
        let rejected =
            Failure::new(ErrorClass::Auth, "HTTP 401").with_reason(Reason::TokenRejected);
        assert!(
            !rejected.needs_human(),
            "a 401 is worth one newer token first"
        );
    }
}
