//! The REST resource server at `/api`: one protected, flaky endpoint and a few canned
//! failure modes for probe classification.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rand::Rng;
use serde_json::json;

use super::tokens::{LabState, TokenInfo};

pub(crate) fn routes() -> Router<Arc<LabState>> {
    Router::new()
        .route("/me", get(me))
        .route("/health", get(health))
        .route("/gone", get(gone))
        .route("/limited", get(limited))
}

/// The bearer token from an `Authorization` header, if it has the right shape.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    // RFC 7235: the auth scheme is case-insensitive.
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

pub(crate) fn authorized(state: &LabState, headers: &HeaderMap) -> Option<TokenInfo> {
    bearer(headers).and_then(|t| state.validate(t))
}

fn count(state: &LabState, failed: bool) {
    let mut store = state.lock();
    store.stats.rest_requests += 1;
    if failed {
        store.stats.rest_failures += 1;
    }
}

async fn me(State(state): State<Arc<LabState>>, headers: HeaderMap) -> Response {
    let Some(info) = authorized(&state, &headers) else {
        count(&state, true);
        let challenge = HeaderValue::from_static(
            "Bearer error=\"invalid_token\", error_description=\"missing, expired or revoked token\"",
        );
        let body = Json(json!({"error": "invalid_token"}));
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, challenge)],
            body,
        )
            .into_response();
    };
    let rate = state.opts.rest_failure_rate;
    if rate > 0.0 && rand::rng().random::<f64>() < rate {
        count(&state, true);
        let body = Json(json!({"error": "upstream flaked (simulated)"}));
        return (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    }
    count(&state, false);
    Json(json!({"sub": info.sub, "client_id": info.client_id, "scope": info.scope})).into_response()
}

async fn health(State(state): State<Arc<LabState>>) -> Json<serde_json::Value> {
    count(&state, false);
    Json(json!({"status": "ok"}))
}

async fn gone(State(state): State<Arc<LabState>>) -> Response {
    count(&state, true);
    (
        StatusCode::GONE,
        Json(json!({"error": "this endpoint was retired"})),
    )
        .into_response()
}

async fn limited(State(state): State<Arc<LabState>>) -> Response {
    count(&state, true);
    let body = Json(json!({"error": "rate limited"}));
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, "2")],
        body,
    )
        .into_response()
}
