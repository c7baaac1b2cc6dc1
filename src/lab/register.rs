//! RFC 7591 dynamic client registration, public clients only: what MCP clients use when they
//! arrive with no client_id. Registered clients may then use `/authorize` and `/token` like the
//! built-in public client.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::tokens::{LabState, random_token};

/// Registered clients kept at most; a runaway caller must not grow the lab without bound.
const MAX_CLIENTS: usize = 1000;

#[derive(Deserialize)]
pub(crate) struct Registration {
    #[serde(default)]
    redirect_uris: Vec<String>,
    /// RFC 7591 §2: absent means client_secret_basic, which this lab does not hand out.
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    client_name: Option<String>,
}

fn refuse(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

pub(crate) async fn register(
    State(state): State<Arc<LabState>>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(reg) = serde_json::from_slice::<Registration>(&body) else {
        return refuse(
            "invalid_client_metadata",
            "the body is not client metadata JSON",
        );
    };
    if reg.token_endpoint_auth_method.as_deref() != Some("none") {
        return refuse(
            "invalid_client_metadata",
            "only public clients register here: token_endpoint_auth_method must be none",
        );
    }
    let loopback = |u: &String| {
        url::Url::parse(u).is_ok_and(|u| {
            u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1") | Some("localhost"))
        })
    };
    if reg.redirect_uris.is_empty() || !reg.redirect_uris.iter().all(loopback) {
        return refuse(
            "invalid_redirect_uri",
            "redirect_uris must be loopback http URIs (RFC 8252 §7.3)",
        );
    }
    let grants = reg
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".into()]);
    if let Some(g) = grants
        .iter()
        .find(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token"))
    {
        return refuse(
            "invalid_client_metadata",
            &format!("grant type {g} is not available to registered clients"),
        );
    }
    let client_id = random_token("lab_dyn_");
    {
        let mut store = state.lock();
        if store.registered.len() >= MAX_CLIENTS {
            return refuse("invalid_client_metadata", "too many registered clients");
        }
        store.registered.insert(client_id.clone());
        store.stats.registrations += 1;
    }
    let body = json!({
        "client_id": client_id,
        "client_id_issued_at": crate::domain::now_ms() / 1000,
        "client_name": reg.client_name,
        "redirect_uris": reg.redirect_uris,
        "grant_types": grants,
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    (StatusCode::CREATED, Json(body)).into_response()
}
