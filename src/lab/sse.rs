//! The lab's legacy HTTP+SSE MCP server (protocol 2024-11-05), so the SSE client has a real
//! peer: `GET /sse` opens a stream whose first event names `/messages?sessionId=..`; each POST
//! there is answered 202 and the reply arrives as a `message` event on that session's stream.
//! rmcp has no server for this transport any more; each session runs the same [`LabTools`]
//! through rmcp's server over a pair of in-memory channels. Bearer auth as on `/mcp`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use futures::StreamExt;
use futures::channel::mpsc::{UnboundedSender, unbounded};
use rmcp::ServiceExt;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::mcp::{LabTools, require_bearer};
use super::tokens::{LabState, TokenInfo};

/// Open SSE sessions by id; the admin hooks reach them to simulate a misbehaving server.
#[derive(Default)]
pub(crate) struct SseSessions(Mutex<HashMap<String, Session>>);

struct Session {
    /// Client → server messages, from POST /messages.
    inbound: UnboundedSender<ClientJsonRpcMessage>,
    /// Raw SSE text straight onto the stream (the admin hooks' garbage goes here).
    raw: UnboundedSender<String>,
    /// Who opened the stream: only the same client may post to it.
    client_id: String,
    /// Ends the session: the server task and the stream.
    cancel: CancellationToken,
}

impl SseSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes every open stream, as a restarting server would. Returns how many.
    pub(crate) fn close_all(&self) -> usize {
        let sessions: Vec<Session> = self.lock().drain().map(|(_, s)| s).collect();
        for s in &sessions {
            s.cancel.cancel();
        }
        sessions.len()
    }

    /// Sends a `message` event that is not JSON-RPC to every open stream. Returns how many.
    pub(crate) fn garble_all(&self) -> usize {
        let sessions = self.lock();
        for s in sessions.values() {
            let _ = s
                .raw
                .unbounded_send("event: message\ndata: {\"jsonrpc\": \"2.0\", oops\n\n".into());
        }
        sessions.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Removes the session when its stream is dropped (the client went away or it was closed).
struct StreamGuard {
    state: Arc<LabState>,
    id: String,
    cancel: CancellationToken,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.state.sse.lock().remove(&self.id);
    }
}

#[derive(Clone)]
struct Shutdown(CancellationToken);

pub(crate) fn routes(state: Arc<LabState>, cancel: CancellationToken) -> Router<Arc<LabState>> {
    Router::new()
        .route("/sse", get(open))
        .route("/messages", post(message))
        .route_layer(middleware::from_fn_with_state(state, require_bearer))
        .layer(Extension(Shutdown(cancel)))
}

async fn open(
    State(state): State<Arc<LabState>>,
    Extension(Shutdown(shutdown)): Extension<Shutdown>,
    Extension(caller): Extension<TokenInfo>,
) -> Response {
    let id = format!("{:032x}", rand::random::<u128>());
    let (inbound, inbound_rx) = unbounded::<ClientJsonRpcMessage>();
    let (outbound, outbound_rx) = unbounded::<ServerJsonRpcMessage>();
    let (raw, raw_rx) = unbounded::<String>();
    // A child of the lab's token: shutdown must end open streams or it would wait forever.
    let cancel = shutdown.child_token();
    state.sse.lock().insert(
        id.clone(),
        Session {
            inbound,
            raw,
            client_id: caller.client_id.clone(),
            cancel: cancel.clone(),
        },
    );
    let server_cancel = cancel.clone();
    tokio::spawn(async move {
        match LabTools
            .serve_with_ct((outbound, inbound_rx), server_cancel.clone())
            .await
        {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(err) => tracing::debug!(%err, "lab SSE session did not initialize"),
        }
        // The server is gone (closed, cancelled or failed): end the stream too.
        server_cancel.cancel();
    });
    let guard = StreamGuard {
        state,
        id: id.clone(),
        cancel: cancel.clone(),
    };
    let messages = outbound_rx.filter_map(|m| async move {
        match serde_json::to_string(&m) {
            Ok(json) => Some(format!("event: message\ndata: {json}\n\n")),
            Err(err) => {
                tracing::warn!(%err, "lab SSE: cannot encode a server message");
                None
            }
        }
    });
    let first = futures::stream::once(async move {
        format!("event: endpoint\ndata: /messages?sessionId={id}\n\n")
    });
    let body = first
        .chain(futures::stream::select(messages, raw_rx))
        .take_until(cancel.cancelled_owned())
        .map(move |text| {
            let _alive = &guard;
            Ok::<_, std::convert::Infallible>(Bytes::from(text))
        });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

#[derive(Deserialize)]
struct MessageQuery {
    #[serde(rename = "sessionId")]
    session_id: String,
}

async fn message(
    State(state): State<Arc<LabState>>,
    Extension(caller): Extension<TokenInfo>,
    Query(q): Query<MessageQuery>,
    body: Bytes,
) -> Response {
    let message: ClientJsonRpcMessage = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("not a JSON-RPC message: {e}"),
            )
                .into_response();
        }
    };
    let sessions = state.sse.lock();
    // Another client's session answers like an unknown one: ids are not a capability.
    let Some(session) = sessions
        .get(&q.session_id)
        .filter(|s| s.client_id == caller.client_id)
    else {
        return (
            StatusCode::NOT_FOUND,
            "no such SSE session; open /sse again",
        )
            .into_response();
    };
    match session.inbound.unbounded_send(message) {
        Ok(()) => (StatusCode::ACCEPTED, "Accepted").into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "the SSE session has ended").into_response(),
    }
}
