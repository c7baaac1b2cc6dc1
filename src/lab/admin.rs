//! Admin hooks for test peers in another process: the CLI tests drive `switchboard lab serve`
//! as a child and cannot call `Lab::revoke_client_grants` or `Lab::stats` across the process
//! boundary. Loopback peers only (the lab binds 127.0.0.1 anyway; the check keeps it so if
//! that ever changes).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
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
        .route("/admin/clients", get(clients))
        .route("/admin/answer-delay", post(answer_delay))
        .route("/admin/refresh-failures", post(refresh_failures))
        .route("/admin/sse/close", post(sse_close))
        .route("/admin/mcp/expire", post(mcp_expire))
        .route("/admin/sse/garble", post(sse_garble))
        .route_layer(middleware::from_fn(loopback_only))
}

/// Every admin hook answers loopback peers only.
async fn loopback_only(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if !peer.ip().is_loopback() {
        return (
            StatusCode::FORBIDDEN,
            "admin hooks answer loopback peers only",
        )
            .into_response();
    }
    next.run(request).await
}

#[derive(Deserialize)]
struct RevokeQuery {
    client_id: String,
}

async fn revoke(State(state): State<Arc<LabState>>, Query(q): Query<RevokeQuery>) -> Response {
    let n = state.lock().revoke_client(&q.client_id);
    Json(json!({"revoked": n})).into_response()
}

async fn stats(State(state): State<Arc<LabState>>) -> Response {
    let stats = state.lock().stats.clone();
    Json(stats).into_response()
}

/// Per-client counts as histograms (how many clients made how many requests), so a fleet of
/// 10,000 answers in a few lines; `?full=1` adds every client's counts.
async fn clients(State(state): State<Arc<LabState>>, Query(q): Query<ClientsQuery>) -> Response {
    use super::fleet::histogram;
    let (by_client, uncounted) = {
        let s = state.lock();
        (s.stats.by_client.clone(), s.stats.clients_uncounted)
    };
    let mut body = json!({
        "clients": by_client.len(),
        "uncounted": uncounted,
        "token_requests": histogram(&by_client, |c| c.token_requests),
        "tokens_issued": histogram(&by_client, |c| c.tokens_issued),
        "mcp_initialize": histogram(&by_client, |c| c.mcp_initialize),
        "mcp_requests": histogram(&by_client, |c| c.mcp_requests),
    });
    if q.full.unwrap_or(0) != 0 {
        body["by_client"] = json!(by_client);
    }
    Json(body).into_response()
}

#[derive(Deserialize)]
struct ClientsQuery {
    full: Option<u8>,
}

#[derive(Deserialize)]
struct DelayQuery {
    ms: u64,
}

/// Delays token answers after the request was processed (see `Store::answer_delay_ms`).
async fn answer_delay(State(state): State<Arc<LabState>>, Query(q): Query<DelayQuery>) -> Response {
    let ms = q.ms.min(60_000);
    state.lock().answer_delay_ms = ms;
    Json(json!({"answer_delay_ms": ms})).into_response()
}

#[derive(Deserialize)]
struct RateQuery {
    rate: f64,
}

/// Makes refreshes fail at `rate` (see `Lab::set_refresh_failure_rate`).
async fn refresh_failures(
    State(state): State<Arc<LabState>>,
    Query(q): Query<RateQuery>,
) -> Response {
    let rate = if q.rate.is_nan() {
        0.0
    } else {
        q.rate.clamp(0.0, 1.0)
    };
    let mut s = state.lock();
    s.refresh_failure_rate = rate;
    Json(json!({"rate": rate, "refused": s.refresh_injected_failures})).into_response()
}

async fn sse_close(State(state): State<Arc<LabState>>) -> Response {
    Json(json!({"closed": state.sse.close_all()})).into_response()
}

async fn sse_garble(State(state): State<Arc<LabState>>) -> Response {
    Json(json!({"garbled": state.sse.garble_all()})).into_response()
}

async fn mcp_expire(State(state): State<Arc<LabState>>) -> Response {
    Json(json!({"expired": super::mcp::expire_sessions(&state).await})).into_response()
}
