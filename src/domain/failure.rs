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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub class: ErrorClass,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl Failure {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
            retry_after_ms: None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.class, self.message)
    }
}
