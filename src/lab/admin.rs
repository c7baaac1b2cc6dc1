//! Admin hooks for test peers in another process: the CLI tests drive `switchboard lab serve`
//! as a child and cannot call `Lab::revoke_client_grants` or `Lab::stats` across the process
//! boundary. Loopback peers only (the lab binds 127.0.0.1 anyway; the check keeps it so if
//! that ever changes).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::tokens::LabState;

pub(crate) fn routes() -> Router<Arc<LabState>> {
    Router::new()
        .route("/admin/revoke", post(revoke))
        .route("/admin/stats", get(stats))
        .route("/admin/sse/close", post(sse_close))
        .route("/admin/mcp/expire", post(mcp_expire))
        .route("/admin/sse/garble", post(sse_garble))
}

#[derive(Deserialize)]
struct RevokeQuery {
    client_id: String,
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "admin hooks answer loopback peers only",
    )
        .into_response()
}

async fn revoke(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    State(state): State<Arc<LabState>>,
    Query(q): Query<RevokeQuery>,
) -> Response {
    if !peer.ip().is_loopback() {
        return forbidden();
    }
    let n = state.lock().revoke_client(&q.client_id);
    Json(json!({"revoked": n})).into_response()
}

async fn stats(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    State(state): State<Arc<LabState>>,
) -> Response {
    if !peer.ip().is_loopback() {
        return forbidden();
    }
    let stats = state.lock().stats.clone();
    Json(stats).into_response()
}

async fn sse_close(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    State(state): State<Arc<LabState>>,
) -> Response {
    if !peer.ip().is_loopback() {
        return forbidden();
    }
    Json(json!({"closed": state.sse.close_all()})).into_response()
}

async fn sse_garble(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    State(state): State<Arc<LabState>>,
) -> Response {
    if !peer.ip().is_loopback() {
        return forbidden();
    }
    Json(json!({"garbled": state.sse.garble_all()})).into_response()
}

async fn mcp_expire(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    State(state): State<Arc<LabState>>,
) -> Response {
    if !peer.ip().is_loopback() {
        return forbidden();
    }
    Json(json!({"expired": super::mcp::expire_sessions(&state).await})).into_response()
}
