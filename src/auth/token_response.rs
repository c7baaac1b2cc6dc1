//! Reading a successful (2xx) token response without ever losing the grant in it.
//!
//! Once the authorization server has answered a refresh with 2xx, it has usually rotated: the
//! refresh token in this body is the only key to the grant. A strict parser that rejects the
//! body for an odd `expires_in` ("3600.0", "3600", -1, 2^64), a missing `token_type` or a
//! `scope` array throws that key away and the connection dies at its next refresh. So success
//! bodies are read leniently here: whatever refresh token is in the body is kept, and every
//! number is clamped before it meets a clock.

use base64::Engine as _;
use serde_json::Value;

use super::oauth::TokenError;
use crate::domain::{ErrorClass, Failure, UnixMs};
use crate::secret::Secret;
use crate::store::NewToken;
use crate::text::printable;

/// Shortest lifetime believed. A server that says a token lives less (0, negative) is not
/// describing a usable token; with a floor, the refresh schedule cannot spin.
pub const MIN_LIFETIME_MS: i64 = 1_000;
/// Longest lifetime believed: ten years, far past any real token, far from `i64` overflow.
pub const MAX_LIFETIME_MS: i64 = 10 * 365 * 24 * 3_600 * 1_000;

/// Turns a 2xx token endpoint body into what the store keeps. A body with a refresh token but
/// no usable access token still yields a token (an empty, already expired access token), so the
/// new refresh token is saved and the next use refreshes with it. A response without a refresh
/// token keeps `previous_refresh` (RFC 6749 §6 lets the server omit it).
pub fn token_from_body(
    body: &[u8],
    previous_refresh: Option<&Secret>,
    requested_scopes: &[String],
    issued_at: UnixMs,
) -> Result<NewToken, TokenError> {
    let fields = fields(body).ok_or_else(|| {
        TokenError::Transient(Failure::new(
            ErrorClass::Protocol,
            "the token endpoint answered 2xx with a body that is neither JSON nor a form",
        ))
    })?;
    let text = |name: &str| -> Option<String> {
        match fields.get(name)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        }
    };
    let access = text("access_token");
    let refresh = text("refresh_token");
    if access.is_none() && refresh.is_none() {
        return Err(error_in_success(&fields, &text));
    }
    let expires_at = match &access {
        None => Some(issued_at),
        Some(a) => fields
            .get("expires_in")
            .and_then(lifetime_ms)
            .map(|ms| issued_at.saturating_add(ms))
            .or_else(|| jwt_exp_ms(a, issued_at)),
    };
    if access.is_none() {
        tracing::warn!(
            "the token endpoint sent a refresh token without an access token; kept the refresh token"
        );
    }
    Ok(NewToken {
        access: Secret::from(access.unwrap_or_default().as_str()),
        refresh: refresh
            .map(|r| Secret::from(r.as_str()))
            .or_else(|| previous_refresh.cloned()),
        expires_at,
        issued_at,
        scopes: scopes(fields.get("scope")).unwrap_or_else(|| requested_scopes.to_vec()),
    })
}

/// The body's top-level fields: a JSON object, or a form (GitHub's OAuth Apps answer
/// `access_token=...&token_type=bearer` unless asked for JSON).
fn fields(body: &[u8]) -> Option<serde_json::Map<String, Value>> {
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        return Some(map);
    }
    let text = std::str::from_utf8(body).ok()?.trim();
    if text.is_empty() || !text.contains('=') || text.starts_with(['{', '[', '<']) {
        return None;
    }
    Some(
        url::form_urlencoded::parse(text.as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect(),
    )
}

/// A 2xx with neither token: some providers (Slack) put an OAuth error in a 200.
fn error_in_success(
    fields: &serde_json::Map<String, Value>,
    text: &dyn Fn(&str) -> Option<String>,
) -> TokenError {
    let description = text("error_description").unwrap_or_default();
    match text("error").as_deref() {
        Some("invalid_grant") => TokenError::InvalidGrant(description),
        Some(code) => TokenError::Refused(Failure::new(
            ErrorClass::Auth,
            format!(
                "the authorization server refused the request ({}){}",
                printable(code, false),
                if description.is_empty() {
                    String::new()
                } else {
                    format!(": {}", printable(&description, false))
                }
            ),
        )),
        None => TokenError::Transient(Failure::new(
            ErrorClass::Protocol,
            format!(
                "the token endpoint answered 2xx without an access or refresh token (fields: {})",
                fields
                    .keys()
                    .take(8)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// `expires_in` as milliseconds, clamped: a number or a numeric string; zero, negative, NaN or
/// junk mean "not said" (some servers send 0 for tokens that do not expire).
pub fn lifetime_ms(v: &Value) -> Option<i64> {
    let secs = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if !secs.is_finite() || secs <= 0.0 {
        return None;
    }
    // f64 -> i64 `as` saturates, so even 1e300 lands on the clamp, never wraps.
    Some(((secs * 1000.0) as i64).clamp(MIN_LIFETIME_MS, MAX_LIFETIME_MS))
}

fn scopes(v: Option<&Value>) -> Option<Vec<String>> {
    let list: Vec<String> = match v? {
        Value::String(s) => s
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => return None,
    };
    (!list.is_empty()).then_some(list)
}

/// The `exp` claim of a JWT access token, in ms, clamped to a believable lifetime from
/// `issued_at`. Only read for scheduling, never trusted for anything else, so the signature is
/// not checked.
pub fn jwt_exp_ms(token: &str, issued_at: UnixMs) -> Option<UnixMs> {
    let mut parts = token.split('.');
    let (_h, payload, _s) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let exp = v.get("exp")?;
    let secs = exp.as_i64().or_else(|| exp.as_f64().map(|f| f as i64))?;
    let at = secs.saturating_mul(1000);
    Some(at.clamp(
        issued_at.saturating_add(MIN_LIFETIME_MS),
        issued_at.saturating_add(MAX_LIFETIME_MS),
    ))
}

#[cfg(test)]
#[path = "token_response_tests.rs"]
mod tests;
