//! RFC 8628 device authorization: `/device_authorization`, the `/device` approval page, and
//! the device-code grant polled at `/token`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use super::client_auth::{OAuthError, authenticate, no_store, parse_form};
use super::tokens::{
    ClientKind, DEMO_USER, DeviceRec, Issued, LabState, check_scope, client_kind, random_token,
    user_code,
};

const DEVICE_TTL: Duration = Duration::from_secs(600);
const INTERVAL: Duration = Duration::from_secs(1);
/// Requests that arrive a hair early because of network jitter are not "too fast".
const POLL_SLACK: Duration = Duration::from_millis(200);

pub(crate) async fn authorize(
    State(state): State<Arc<LabState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = parse_form(&body);
    let client_id = match authenticate(&state, &headers, &form) {
        Ok(id) => id,
        Err(err) => return err.into_response(),
    };
    if !matches!(client_kind(&state, &client_id), Some(ClientKind::Public)) {
        let err = OAuthError::bad("unauthorized_client", "device flow is for public clients");
        return err.into_response();
    }
    let scope = match check_scope(form.get("scope").map(String::as_str)) {
        Ok(scope) => scope,
        Err(e) => return OAuthError::bad("invalid_scope", e).into_response(),
    };
    let device_code = random_token("lab_dc_");
    let code = user_code();
    let now = Instant::now();
    state.lock().devices.insert(
        device_code.clone(),
        DeviceRec {
            client_id,
            user_code: code.clone(),
            scope,
            created: now,
            expires: now + DEVICE_TTL,
            approved: false,
            denied: false,
            consumed: false,
            interval: INTERVAL,
            last_poll: None,
            polls: 0,
        },
    );
    let verification_uri = format!("{}/device", state.issuer);
    let body = json!({
        "device_code": device_code,
        "user_code": code,
        "verification_uri": verification_uri,
        "verification_uri_complete": format!("{verification_uri}?user_code={code}"),
        "expires_in": DEVICE_TTL.as_secs(),
        "interval": INTERVAL.as_secs(),
    });
    (StatusCode::OK, no_store(), Json(body)).into_response()
}

/// `GET /device`: the page where a person enters or confirms the code. With `consent` off,
/// visiting it with a code decides at once (`action=deny` denies), so scripted tests need no
/// form.
pub(crate) async fn page(
    State(state): State<Arc<LabState>>,
    RawQuery(query): RawQuery,
) -> Response {
    let q = parse_form(query.unwrap_or_default().as_bytes());
    let code = q.get("user_code").map(|c| c.trim().to_uppercase());
    match code {
        Some(code) if !state.opts.consent => {
            let deny = q.get("action").map(String::as_str) == Some("deny");
            settle(&state, &code, deny)
        }
        code => super::consent::device_page(code.as_deref()).into_response(),
    }
}

/// `POST /device`: the page's form, `user_code` and `action=approve|deny`.
pub(crate) async fn decide(
    State(state): State<Arc<LabState>>,
    body: axum::body::Bytes,
) -> Response {
    let q = parse_form(&body);
    let Some(code) = q.get("user_code").map(|c| c.trim().to_uppercase()) else {
        return (StatusCode::BAD_REQUEST, "user_code is required").into_response();
    };
    let deny = match q.get("action").map(String::as_str) {
        Some("approve") => false,
        Some("deny") => true,
        _ => return (StatusCode::BAD_REQUEST, "action must be approve or deny").into_response(),
    };
    settle(&state, &code, deny)
}

fn settle(state: &LabState, code: &str, deny: bool) -> Response {
    let found = {
        let mut store = state.lock();
        let now = Instant::now();
        match store
            .devices
            .values_mut()
            .find(|d| d.user_code == code && d.expires > now && !d.consumed)
        {
            Some(d) => {
                d.approved = !deny;
                d.denied = deny;
                true
            }
            None => false,
        }
    };
    if !found {
        let body = Html("<!doctype html><title>lab</title><p>Unknown or expired code.</p>");
        return (StatusCode::NOT_FOUND, body).into_response();
    }
    let verdict = if deny { "denied" } else { "approved" };
    Html(format!(
        "<!doctype html><title>lab</title><p>Device {verdict}. You may close this page.</p>"
    ))
    .into_response()
}

/// The device-code grant at the token endpoint.
pub(crate) fn poll(
    state: &LabState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Issued, OAuthError> {
    let client_id = authenticate(state, headers, form)?;
    let device_code = form
        .get("device_code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| OAuthError::bad("invalid_request", "device_code is required"))?;
    let now = Instant::now();
    let auto_after = state.opts.device_auto_approve_after;
    let mut store = state.lock();
    let dev = store
        .devices
        .get_mut(device_code)
        .filter(|d| d.client_id == client_id && !d.consumed)
        .ok_or_else(|| OAuthError::bad("invalid_grant", "unknown device_code"))?;
    if dev.expires <= now {
        return Err(OAuthError::bad("expired_token", "device_code expired"));
    }
    let too_fast = dev
        .last_poll
        .is_some_and(|last| now.duration_since(last) + POLL_SLACK < dev.interval);
    dev.last_poll = Some(now);
    dev.polls += 1;
    // A strict server may also ask a well-behaved client to slow down (`device_slow_down_polls`).
    let forced = dev.polls <= state.opts.device_slow_down_polls;
    if too_fast || forced {
        // RFC 8628 §3.5: the interval grows by 5 s for this and every later request.
        dev.interval += Duration::from_secs(5);
        store.stats.device_slow_down += 1;
        return Err(OAuthError::bad("slow_down", "polling too fast"));
    }
    if dev.denied {
        dev.consumed = true;
        return Err(OAuthError::bad(
            "access_denied",
            "the user denied the request",
        ));
    }
    if !dev.approved && now.duration_since(dev.created) >= auto_after {
        dev.approved = true;
    }
    if !dev.approved {
        return Err(OAuthError::bad(
            "authorization_pending",
            "waiting for the user",
        ));
    }
    dev.consumed = true;
    let scope = dev.scope.clone();
    let grant = store.new_grant(&client_id, DEMO_USER, &scope);
    Ok(store.issue(grant, state.opts.access_token_ttl, true))
}
