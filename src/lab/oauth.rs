//! The authorization server: discovery, `/authorize`, `/token`, `/revoke`.
//! Device authorization (RFC 8628) lives in `device.rs`, client authentication and error
//! responses in `client_auth.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::client_auth::{OAuthError, authenticate, claimed_client, no_store, parse_form};
use super::device;
use super::tokens::{
    ClientKind, DEMO_USER, Issued, LabState, RefreshOutcome, SCOPES_SUPPORTED, check_scope,
    client_kind,
};

pub(crate) const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

pub(crate) fn routes() -> Router<Arc<LabState>> {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/.well-known/openid-configuration", get(metadata))
        .route(
            "/authorize",
            get(super::authorize::authorize).post(super::authorize::authorize_post),
        )
        .route("/token", post(token))
        .route("/revoke", post(revoke))
        .route("/register", post(super::register::register))
        .route("/device_authorization", post(device::authorize))
        .route("/device", get(device::page).post(device::decide))
}

async fn metadata(State(state): State<Arc<LabState>>) -> Json<serde_json::Value> {
    let iss = &state.issuer;
    // `pkce_s256: false` plays an AS that MCP clients must refuse.
    let pkce = if state.opts.pkce_s256 {
        json!(["S256"])
    } else {
        json!(["plain"])
    };
    Json(json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "revocation_endpoint": format!("{iss}/revoke"),
        "device_authorization_endpoint": format!("{iss}/device_authorization"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", DEVICE_GRANT],
        "code_challenge_methods_supported": pkce,
        "registration_endpoint": format!("{iss}/register"),
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "scopes_supported": SCOPES_SUPPORTED,
        "authorization_response_iss_parameter_supported": true,
    }))
}

fn token_response(issued: Issued, ttl: Duration) -> Response {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        // Rounded up so a sub-second test TTL is not announced as already expired.
        "expires_in": ttl.as_secs_f64().ceil() as u64,
        "scope": issued.scope,
    });
    if let Some(rt) = issued.refresh_token {
        body["refresh_token"] = rt.into();
    }
    (StatusCode::OK, no_store(), Json(body)).into_response()
}

async fn token(
    State(state): State<Arc<LabState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = parse_form(&body);
    let grant_type = form.get("grant_type").cloned().unwrap_or_default();
    let _in_flight = super::in_flight::InFlight::enter(&state);
    let client = claimed_client(&state, &headers, &form);
    {
        let mut store = state.lock();
        store.stats.token_requests += 1;
        if let Some(counts) = client.as_deref().and_then(|c| store.client_counts(c)) {
            counts.token_requests += 1;
        }
        // Only known names become keys, so junk requests cannot grow the stats map.
        let key = match grant_type.as_str() {
            "" => "(none)",
            "authorization_code" | "refresh_token" | "client_credentials" | DEVICE_GRANT => {
                &grant_type
            }
            _ => "(other)",
        };
        *store.stats.by_grant.entry(key.to_owned()).or_default() += 1;
        let method = if headers.contains_key(header::AUTHORIZATION) {
            "client_secret_basic"
        } else if form.contains_key("client_secret") {
            "client_secret_post"
        } else {
            "none"
        };
        *store
            .stats
            .by_client_auth
            .entry(method.to_owned())
            .or_default() += 1;
        if form.contains_key("resource") {
            *store
                .stats
                .resource_by_grant
                .entry(key.to_owned())
                .or_default() += 1;
        }
        // The client may also come in a Basic header; the failing set holds public clients,
        // which always name themselves in the form.
        let failing_client = form
            .get("client_id")
            .is_some_and(|c| store.refresh_failing_clients.contains(c));
        let injected = grant_type == "refresh_token"
            && (failing_client
                || (store.refresh_failure_rate > 0.0
                    && rand::random::<f64>() < store.refresh_failure_rate));
        if injected {
            store.refresh_injected_failures += 1;
            store.stats.refresh_failed += 1;
            drop(store);
            let body = json!({"error": "temporarily_unavailable", "error_description": "injected refresh failure (set_refresh_failure_rate)"});
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                Json(body),
            )
                .into_response();
        }
        if store.down {
            drop(store);
            let body = json!({"error": "temporarily_unavailable", "error_description": "the lab is down (set_down)"});
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                Json(body),
            )
                .into_response();
        }
    }
    let bad_resource = super::authorize::check_resource(&state, form.get("resource")).err();
    let result = match grant_type.as_str() {
        _ if bad_resource.is_some() => Err(OAuthError::bad(
            "invalid_target",
            bad_resource.unwrap_or_default(),
        )),
        "authorization_code" => authorization_code(&state, &headers, &form),
        "refresh_token" => {
            let result = refresh_token(&state, &headers, &form);
            let mut store = state.lock();
            match result {
                Ok(_) => store.stats.refresh_ok += 1,
                Err(_) => store.stats.refresh_failed += 1,
            }
            result
        }
        "client_credentials" => client_credentials(&state, &headers, &form),
        DEVICE_GRANT => device::poll(&state, &headers, &form),
        "" => Err(OAuthError::bad("invalid_request", "grant_type is required")),
        other => Err(OAuthError::bad(
            "unsupported_grant_type",
            format!("unsupported grant_type {other}"),
        )),
    };
    let delay = state.lock().answer_delay_ms;
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    if let (Ok(_), Some(client)) = (&result, &client)
        && let Some(counts) = state.lock().client_counts(client)
    {
        counts.tokens_issued += 1;
    }
    match result {
        Ok(issued) => token_response(issued, state.opts.access_token_ttl),
        Err(err) => err.into_response(),
    }
}

fn required<'a>(form: &'a HashMap<String, String>, name: &str) -> Result<&'a str, OAuthError> {
    form.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::bad("invalid_request", format!("{name} is required")))
}

fn authorization_code(
    state: &LabState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Issued, OAuthError> {
    let client_id = authenticate(state, headers, form)?;
    let code = required(form, "code")?;
    let redirect_uri = required(form, "redirect_uri")?;
    let mut store = state.lock();
    // Removed before any check: a code is spent even by a failed attempt.
    let rec = store
        .codes
        .remove(code)
        .ok_or_else(|| OAuthError::bad("invalid_grant", "unknown or used code"))?;
    if rec.expires <= Instant::now() {
        return Err(OAuthError::bad("invalid_grant", "code expired"));
    }
    if rec.client_id != client_id {
        return Err(OAuthError::bad(
            "invalid_grant",
            "code issued to another client",
        ));
    }
    if rec.redirect_uri != redirect_uri {
        return Err(OAuthError::bad("invalid_grant", "redirect_uri mismatch"));
    }
    // RFC 8707 §2.2: the token request names the resource the grant was for.
    if rec.resource.is_some() && rec.resource.as_ref() != form.get("resource") {
        return Err(OAuthError::bad(
            "invalid_target",
            "the code was issued for a resource this request does not name",
        ));
    }
    if let Some(challenge) = &rec.challenge {
        let verifier = required(form, "code_verifier")?;
        if !(43..=128).contains(&verifier.len()) {
            return Err(OAuthError::bad(
                "invalid_grant",
                "code_verifier must be 43-128 characters",
            ));
        }
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if &computed != challenge {
            return Err(OAuthError::bad("invalid_grant", "PKCE verification failed"));
        }
    }
    let grant = store.new_grant(&client_id, DEMO_USER, &rec.scope);
    Ok(store.issue(grant, state.opts.access_token_ttl, true))
}

fn refresh_token(
    state: &LabState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Issued, OAuthError> {
    let client_id = authenticate(state, headers, form)?;
    let token = required(form, "refresh_token")?;
    match state
        .lock()
        .refresh(token, &client_id, state.opts.access_token_ttl)
    {
        RefreshOutcome::Rotated(issued) => Ok(issued),
        RefreshOutcome::Reused => Err(OAuthError::bad(
            "invalid_grant",
            "refresh token reuse detected; the grant has been revoked",
        )),
        RefreshOutcome::Invalid => Err(OAuthError::bad("invalid_grant", "invalid refresh token")),
        RefreshOutcome::WrongClient => Err(OAuthError::bad(
            "invalid_grant",
            "refresh token issued to another client",
        )),
    }
}

fn client_credentials(
    state: &LabState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Issued, OAuthError> {
    let client_id = authenticate(state, headers, form)?;
    if !matches!(
        client_kind(state, &client_id),
        Some(ClientKind::Confidential { .. })
    ) {
        return Err(OAuthError::bad(
            "unauthorized_client",
            "client_credentials needs a confidential client",
        ));
    }
    let scope = check_scope(form.get("scope").map(String::as_str))
        .map_err(|e| OAuthError::bad("invalid_scope", e))?;
    let mut store = state.lock();
    let grant = store.new_grant(&client_id, &client_id, &scope);
    // RFC 6749 §4.4.3: no refresh token; the client simply asks again.
    Ok(store.issue(grant, state.opts.access_token_ttl, false))
}

async fn revoke(State(state): State<Arc<LabState>>, body: axum::body::Bytes) -> StatusCode {
    let form = parse_form(&body);
    if let Some(token) = form.get("token") {
        state.lock().revoke_token(token);
    }
    // RFC 7009 §2.2: unknown tokens are not an error, so nothing leaks about which exist.
    StatusCode::OK
}
