//! Pieces shared by the token, device and revocation endpoints: RFC 6749 error responses,
//! form parsing and client authentication.

use std::collections::HashMap;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::tokens::{ClientKind, LabState, client_kind};

/// An RFC 6749 §5.2 error response.
pub(crate) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    pub(crate) fn bad(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
        }
    }

    fn invalid_client(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut resp = (self.status, no_store(), Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"lab\""),
            );
        }
        resp
    }
}

/// Token responses carry secrets: RFC 6749 §5.1 forbids caching them.
pub(crate) fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

pub(crate) fn parse_form(bytes: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

/// Authenticates the client at the token endpoint (RFC 6749 §2.3), returning its id.
pub(crate) fn authenticate(
    state: &LabState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<String, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(|b64| decode_basic(b64.trim()))
        .transpose()?;
    let (client_id, secret) = match basic {
        Some((id, secret)) => (id, Some(secret)),
        None => (
            form.get("client_id").cloned().unwrap_or_default(),
            form.get("client_secret").cloned(),
        ),
    };
    match (client_kind(state, &client_id), secret) {
        (None, _) => Err(OAuthError::invalid_client("unknown client")),
        (Some(ClientKind::Public), None) => Ok(client_id),
        (Some(ClientKind::Public), Some(_)) => {
            Err(OAuthError::invalid_client("public clients have no secret"))
        }
        (Some(ClientKind::Confidential { secret }), Some(given)) if given == secret => {
            Ok(client_id)
        }
        (Some(ClientKind::Confidential { .. }), _) => {
            Err(OAuthError::invalid_client("client authentication failed"))
        }
    }
}

/// The client a token request names (Basic header, else the form), authenticated or not, when
/// the lab knows it: what the per-client counters are keyed by.
pub(crate) fn claimed_client(
    state: &LabState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<String> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    let id = match basic {
        Some(b64) => decode_basic(b64.trim()).ok()?.0,
        None => form.get("client_id")?.clone(),
    };
    client_kind(state, &id).is_some().then_some(id)
}

fn decode_basic(b64: &str) -> Result<(String, String), OAuthError> {
    let malformed = || OAuthError::invalid_client("malformed Basic credentials");
    let raw = STANDARD.decode(b64).map_err(|_| malformed())?;
    let raw = String::from_utf8(raw).map_err(|_| malformed())?;
    let (id, secret) = raw.split_once(':').ok_or_else(malformed)?;
    // RFC 6749 §2.3.1: both halves are form-urlencoded before being joined.
    let decode = |s: &str| -> String {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok((decode(id), decode(secret)))
}
