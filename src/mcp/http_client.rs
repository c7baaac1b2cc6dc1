//! rmcp's streamable HTTP client trait over a [`TokenSource`]: every request carries the
//! credential the source holds *now*, so a refreshed token is picked up without reconnecting.
//! A 401 asks the source once for a newer credential (the broker's next token, or an ad hoc
//! authorization); a 403 `insufficient_scope` asks it to step up, at most `STEP_UP_RETRIES`
//! times per request; then whatever happens is reported.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, RequestId, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::{Error as SseError, Sse};

use crate::auth::Credential;
use crate::auth::source::{STEP_UP_RETRIES, SharedSource};
use crate::domain::{ErrorClass, Failure};
use crate::text::printable;

#[derive(Clone)]
pub struct AuthedHttpClient {
    inner: reqwest::Client,
    source: SharedSource,
    /// Set once the server answered the session's standalone GET stream (either way).
    stream_answered: Arc<tokio::sync::watch::Sender<bool>>,
}

/// The longest reconnect delay a server's SSE `retry:` field may set. rmcp obeys the field as
/// sent, so `retry: 18446744073709551615` parked a response stream for 584 million years
/// before resuming it, and the request waiting on it with it.
pub const MAX_SSE_RETRY_MS: u64 = 10_000;

type SseEvents = BoxStream<'static, Result<Sse, SseError>>;

/// `events` with every `retry:` clamped to [`MAX_SSE_RETRY_MS`].
fn clamp_retry(events: SseEvents) -> SseEvents {
    events
        .map(|item| {
            item.map(|mut sse| {
                sse.retry = sse.retry.map(|ms| ms.min(MAX_SSE_RETRY_MS));
                sse
            })
        })
        .boxed()
}

/// How long a new session waits for its standalone GET stream before the first request.
const STREAM_SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

type HttpError = StreamableHttpError<reqwest::Error>;

/// A source's failure, carried through rmcp's error type (see `classify::mcp::carry`).
fn source_error(f: Failure) -> HttpError {
    StreamableHttpError::UnexpectedServerResponse(crate::classify::mcp::carry(&f).into())
}

/// rmcp shows a reqwest error by its top line ("error following redirect for url"), which
/// drops the reason a redirect was refused (`net::redirect_policy`): carry ours instead.
fn explain_redirect<T>(result: Result<T, HttpError>) -> Result<T, HttpError> {
    match result {
        Err(StreamableHttpError::Client(e)) if e.is_redirect() => {
            Err(source_error(crate::classify::classify_reqwest(&e)))
        }
        other => other,
    }
}

/// The id a reply answers; `None` for anything that is not a reply, or an error without one.
fn reply_id(reply: &ServerJsonRpcMessage) -> Option<&RequestId> {
    match reply {
        ServerJsonRpcMessage::Response(r) => Some(&r.id),
        ServerJsonRpcMessage::Error(e) => e.id.as_ref(),
        _ => None,
    }
}

fn header(credential: &Credential) -> Option<String> {
    match credential {
        Credential::Bearer(t) => Some(t.expose().to_string()),
        Credential::None => None,
    }
}

impl AuthedHttpClient {
    pub fn new(inner: reqwest::Client, source: SharedSource) -> Self {
        Self {
            inner,
            source,
            stream_answered: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// Waits (briefly) until the server has answered the standalone GET stream rmcp opens once
    /// a session has an id. Servers send requests that belong to no client request
    /// (elicitation or sampling from a tool, list changes) on that stream, and drop them when
    /// it is not open yet: a tool call sent before it is up can wait forever for an answer to a
    /// question the client never saw. A server without the stream answers at once (405), so
    /// this only waits on a slow one, at most `STREAM_SETTLE`, and once per client.
    async fn wait_for_stream(&self) {
        let mut settled = self.stream_answered.subscribe();
        let _ = tokio::time::timeout(STREAM_SETTLE, settled.wait_for(|s| *s)).await;
    }

    async fn current(&self) -> Credential {
        match self.source.current().await {
            Ok(c) => c,
            Err(f) => {
                // Sent without a token, the request gets the server's 401, which is reported
                // with the source's reason for having none.
                tracing::debug!("no token for {}: {f}", self.source.label());
                Credential::None
            }
        }
    }

    /// Sends with the source's credential and gives the source its one chance per refusal to
    /// provide a better one.
    async fn with_token<T, F, Fut>(&self, send: F) -> Result<T, HttpError>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: std::future::Future<Output = Result<T, HttpError>>,
    {
        let mut credential = self.current().await;
        let (mut renewed, mut step_ups) = (false, 0u32);
        loop {
            let result = send(header(&credential)).await;
            let next = match &result {
                Err(StreamableHttpError::AuthRequired(e)) if !renewed => {
                    renewed = true;
                    let challenge = Some(e.www_authenticate_header.as_str());
                    self.source.unauthorized(&credential, challenge).await
                }
                // The source enforces the cap (and says which scopes a human must grant);
                // this guard only makes sure no source can loop.
                Err(StreamableHttpError::InsufficientScope(e)) if step_ups <= STEP_UP_RETRIES => {
                    let attempts = step_ups;
                    step_ups += 1;
                    self.source
                        .insufficient_scope(&e.www_authenticate_header, attempts)
                        .await
                }
                _ => return result,
            };
            match next {
                Ok(Some(better)) => credential = better,
                Ok(None) => return result,
                Err(f) => return Err(source_error(f)),
            }
        }
    }
}

impl StreamableHttpClient for AuthedHttpClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let request_id = match &message {
            ClientJsonRpcMessage::Request(r) => Some(r.id.clone()),
            _ => None,
        };
        let is_request = request_id.is_some();
        let in_session = session_id.is_some();
        // Only a session (one with an id) gets the stream; a stateless server never would.
        if is_request && in_session {
            self.wait_for_stream().await;
        }
        let result = self
            .with_token(|token| {
                self.inner.post_message(
                    uri.clone(),
                    message.clone(),
                    session_id.clone(),
                    token,
                    custom_headers.clone(),
                )
            })
            .await;
        match explain_redirect(result) {
            // A request in a session answered by an error without an id cannot be matched to
            // the request; the server refused the session itself. server-everything does this
            // (400 "No valid session ID provided") where the spec says 404. As SessionExpired
            // rmcp re-initializes and retries; left alone the request would wait for its timeout.
            Ok(StreamableHttpPostResponse::Json(ServerJsonRpcMessage::Error(e), _))
                if is_request && in_session && e.id.is_none() =>
            {
                tracing::debug!(
                    connection = %self.source.label(),
                    "uncorrelated error inside a session ({}); treating the session as expired",
                    e.error.message
                );
                Err(StreamableHttpError::SessionExpired)
            }
            // A JSON answer to a request is that request's answer. rmcp drops one whose id
            // matches nothing and waits forever for the real one; say what happened instead.
            Ok(StreamableHttpPostResponse::Json(reply, _))
                if reply_id(&reply).is_some_and(|id| Some(id) != request_id.as_ref()) =>
            {
                Err(source_error(Failure::new(
                    ErrorClass::Protocol,
                    format!(
                        "the MCP server answered request {} with a reply for request {}; it is mixing up its JSON-RPC ids, report it to its maintainers",
                        request_id.map_or_else(|| "-".into(), |id| id.to_string()),
                        reply_id(&reply)
                            .map_or_else(String::new, |id| printable(&id.to_string(), false)),
                    ),
                )))
            }
            Ok(StreamableHttpPostResponse::Sse(events, session)) => Ok(
                StreamableHttpPostResponse::Sse(clamp_retry(events), session),
            ),
            Err(StreamableHttpError::ResponseBodyTooLarge { max_size }) => {
                Err(source_error(Failure::new(
                    ErrorClass::Protocol,
                    format!(
                        "the MCP server's answer is larger than {} MiB; switchboard stopped reading it (a misbehaving server or proxy?)",
                        max_size >> 20
                    ),
                )))
            }
            other => other,
        }
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        let token = header(&self.current().await);
        self.inner
            .delete_session(uri, session_id, token, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        let result = self
            .with_token(|token| {
                self.inner.get_stream(
                    uri.clone(),
                    session_id.clone(),
                    last_event_id.clone(),
                    token,
                    custom_headers.clone(),
                )
            })
            .await;
        self.stream_answered.send_replace(true);
        explain_redirect(result).map(clamp_retry)
    }
}
