//! The legacy HTTP+SSE transport (MCP 2024-11-05), which rmcp dropped in 0.11 but servers in the
//! wild (Cloudflare's among them) still speak: `GET` the SSE URL, wait for the `endpoint` event,
//! then `POST` every JSON-RPC message there and read answers as `message` events on the stream.
//!
//! Credentials come from a [`TokenSource`] on the GET and on every POST, so a refresh is used
//! without reconnecting; a 401 asks the source for a newer one once, then is reported. A closed
//! stream closes the transport (rmcp then ends the session and the pool reconnects on next
//! use); why it closed is kept in a [`CloseReason`] the pool reads to classify the failure.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use rmcp::RoleClient;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use sse_stream::{Sse, SseStream};
use url::Url;

use super::sse_body::{BodyError, bounded};
use crate::auth::Credential;
use crate::auth::source::{SharedSource, send_authorized};
use crate::classify::mcp::{TransportFailure, closed};
use crate::classify::{classify_reqwest, classify_status};
use crate::domain::{ErrorClass, Failure};

/// One POST must not hang a session forever: some servers never answer a POST for a session
/// they forgot (server-everything 2026.8.31 does exactly that).
const POST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the stream ended, written by the transport and read by the pool after a failure.
pub type CloseReason = Arc<Mutex<Option<Failure>>>;

/// Replaces a bare "connection closed" with the transport's recorded reason, if any.
pub(crate) fn explain_closed(failure: Failure, reason: Option<&CloseReason>) -> Failure {
    if failure != closed() {
        return failure;
    }
    reason
        .and_then(|r| r.lock().ok().and_then(|slot| slot.clone()))
        .unwrap_or(failure)
}

type EventStream = BoxStream<'static, Result<Sse, sse_stream::Error>>;

pub struct SseClientTransport {
    events: EventStream,
    poster: Arc<Poster>,
    reason: CloseReason,
}

/// What every POST needs; shared with the send futures, which must be `'static`.
struct Poster {
    http: reqwest::Client,
    source: SharedSource,
    endpoint: Url,
}

impl SseClientTransport {
    /// Opens the stream and waits for the `endpoint` event. Errors are classified and say what
    /// to do; the caller bounds the wait with its connect timeout.
    pub async fn connect(
        http: reqwest::Client,
        source: SharedSource,
        url: &str,
    ) -> Result<Self, Failure> {
        let sse_url = Url::parse(url).map_err(|e| {
            Failure::new(
                ErrorClass::Config,
                format!("the SSE URL `{url}` is not a URL: {e}"),
            )
        })?;
        let resp = send_authorized(&*source, |credential| {
            open_stream(&http, &sse_url, credential)
        })
        .await?;
        check_stream_response(&resp, url)?;
        let mut events: EventStream =
            SseStream::from_bytes_stream(bounded(resp.bytes_stream())).boxed();
        let endpoint = wait_for_endpoint(&mut events, &sse_url).await?;
        // The query (the session id) is left out: for servers without auth it is the session.
        tracing::debug!(connection = %source.label(), endpoint = %endpoint.path(), "legacy SSE session open");
        Ok(Self {
            events,
            poster: Arc::new(Poster {
                http,
                source,
                endpoint,
            }),
            reason: Arc::new(Mutex::new(None)),
        })
    }

    /// Where this transport records why it closed.
    pub fn close_reason(&self) -> CloseReason {
        self.reason.clone()
    }

    fn closed(&self, failure: Failure) {
        tracing::debug!(connection = %self.poster.source.label(), "legacy SSE stream closed: {failure}");
        if let Ok(mut slot) = self.reason.lock() {
            slot.get_or_insert(failure);
        }
    }
}

fn with_credential(
    req: reqwest::RequestBuilder,
    credential: &Credential,
) -> reqwest::RequestBuilder {
    match credential {
        Credential::Bearer(t) => req.bearer_auth(t.expose()),
        Credential::None => req,
    }
}

async fn open_stream(
    http: &reqwest::Client,
    url: &Url,
    credential: Credential,
) -> Result<reqwest::Response, Failure> {
    with_credential(http.get(url.clone()), &credential)
        .header(ACCEPT, "text/event-stream")
        .send()
        .await
        .map_err(|e| classify_reqwest(&e))
}

fn check_stream_response(resp: &reqwest::Response, url: &str) -> Result<(), Failure> {
    let status = resp.status().as_u16();
    let hint = "; if the server speaks streamable HTTP, set transport = \"streamable-http\"";
    // A streamable HTTP server answers a bare GET with 400, 404, 405 or 406.
    if matches!(status, 400 | 404 | 405 | 406) {
        return Err(Failure::new(
            ErrorClass::Client,
            format!("HTTP {status}: no legacy SSE endpoint at {url}{hint}"),
        ));
    }
    let www = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok());
    if let Some(f) = classify_status(status, retry_after(resp), www) {
        return Err(f);
    }
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    if !content_type.starts_with("text/event-stream") {
        return Err(Failure::new(
            ErrorClass::Protocol,
            format!("{url} answered `{content_type}`, not an SSE stream{hint}"),
        ));
    }
    Ok(())
}

/// `Retry-After` in whole seconds (delay-seconds or an HTTP-date), as the probe reads it.
fn retry_after(resp: &reqwest::Response) -> Option<u64> {
    resp.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| crate::classify::retry_after_ms(v, crate::domain::now_ms()))
        .map(|ms| ms.div_ceil(1000))
}

/// The first `endpoint` event, resolved against the SSE URL. Only the SSE URL's origin is
/// accepted: the bearer token goes with every POST, and a server must not be able to send
/// it elsewhere.
async fn wait_for_endpoint(events: &mut EventStream, sse_url: &Url) -> Result<Url, Failure> {
    loop {
        let event = match events.next().await {
            Some(Ok(e)) => e,
            Some(Err(e)) => return Err(stream_error(&e)),
            None => {
                return Err(Failure::new(
                    ErrorClass::Protocol,
                    "the server closed the SSE stream before sending its `endpoint` event; is this a legacy SSE URL (usually ending in /sse)?",
                ));
            }
        };
        if event.event.as_deref() != Some("endpoint") {
            // A server may send comments or keep-alives first; only the endpoint matters yet.
            continue;
        }
        let data = event.data.unwrap_or_default();
        return resolve_endpoint(sse_url, data.trim());
    }
}

pub(crate) fn resolve_endpoint(sse_url: &Url, data: &str) -> Result<Url, Failure> {
    let endpoint = sse_url.join(data).map_err(|e| {
        Failure::new(
            ErrorClass::Protocol,
            format!("the server's `endpoint` event is not a URI ({e}): {data:.200}"),
        )
    })?;
    if endpoint.origin() != sse_url.origin() {
        return Err(Failure::new(
            ErrorClass::Protocol,
            format!(
                "the server asked for messages to go to another origin ({}); refusing to send the token there",
                endpoint.origin().ascii_serialization()
            ),
        ));
    }
    Ok(endpoint)
}

fn stream_error(e: &sse_stream::Error) -> Failure {
    match e {
        sse_stream::Error::Body(inner) => match inner.downcast_ref::<BodyError>() {
            Some(BodyError::Oversized) => Failure::new(
                ErrorClass::Protocol,
                format!("the server sent an oversized SSE event: {inner}"),
            ),
            _ => Failure::new(
                ErrorClass::Connection,
                format!("the SSE stream broke: {inner}"),
            ),
        },
        other => Failure::new(
            ErrorClass::Protocol,
            format!("malformed SSE from the server: {other}"),
        ),
    }
}

impl Poster {
    async fn post(&self, message: &ClientJsonRpcMessage) -> Result<(), Failure> {
        let body = serde_json::to_vec(message).map_err(|e| {
            Failure::new(
                ErrorClass::Protocol,
                format!("cannot encode a JSON-RPC message: {e}"),
            )
        })?;
        let resp =
            send_authorized(&*self.source, |credential| self.send(&body, credential)).await?;
        let status = resp.status().as_u16();
        let www = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok());
        match classify_status(status, retry_after(&resp), www) {
            None => Ok(()),
            Some(mut f) => {
                if status == 404 {
                    f.message = "HTTP 404 on POST: the server forgot this SSE session; it reconnects on the next probe".into();
                }
                Err(f)
            }
        }
    }

    async fn send(
        &self,
        body: &[u8],
        credential: Credential,
    ) -> Result<reqwest::Response, Failure> {
        with_credential(self.http.post(self.endpoint.clone()), &credential)
            .header(CONTENT_TYPE, "application/json")
            .timeout(POST_TIMEOUT)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| classify_reqwest(&e))
    }
}

/// What one event on the stream carries: a JSON-RPC message, nothing to act on (another
/// event type, empty data), or a malformed message, which must close the stream.
pub(crate) fn message_of(event: Sse) -> Result<Option<ServerJsonRpcMessage>, Failure> {
    match event.event.as_deref() {
        None | Some("message") => {}
        Some(other) => {
            tracing::debug!(event = %crate::text::printable(other, false), "ignoring an SSE event that is not a message");
            return Ok(None);
        }
    }
    let Some(data) = event.data.filter(|d| !d.trim().is_empty()) else {
        return Ok(None);
    };
    serde_json::from_str::<ServerJsonRpcMessage>(&data)
        .map(Some)
        .map_err(|e| {
            Failure::new(
                ErrorClass::Protocol,
                format!("malformed JSON-RPC message on the SSE stream: {e}"),
            )
        })
}

impl Transport<RoleClient> for SseClientTransport {
    type Error = TransportFailure;

    fn name() -> std::borrow::Cow<'static, str> {
        "legacy-sse".into()
    }

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let poster = self.poster.clone();
        async move { poster.post(&item).await.map_err(TransportFailure) }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        loop {
            let event = match self.events.next().await {
                Some(Ok(event)) => event,
                Some(Err(e)) => {
                    self.closed(stream_error(&e));
                    return None;
                }
                None => {
                    self.closed(Failure::new(
                        ErrorClass::Connection,
                        "the server closed the SSE stream",
                    ));
                    return None;
                }
            };
            match message_of(event) {
                Ok(Some(message)) => return Some(message),
                Ok(None) => continue,
                Err(f) => {
                    // A lost message would leave a request waiting forever; closing makes the
                    // caller fail now and the pool start a clean session.
                    self.closed(f);
                    return None;
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        // Dropping the response body closes the GET; the server sees the session end.
        self.events = futures::stream::empty().boxed();
        Ok(())
    }
}

#[cfg(test)]
#[path = "sse_tests.rs"]
mod tests;
