//! `/authorize`: the authorization request, the consent page a person approves (when the lab
//! runs with `consent`), and the form POST that answers it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::client_auth::parse_form;
use super::consent;
use super::tokens::{ClientKind, CodeRec, LabState, check_scope, client_kind, random_token};

const CODE_TTL: Duration = Duration::from_secs(60);

/// RFC 8252 §7.3: native apps receive the code on a loopback port of their choosing.
fn loopback_redirect(uri: &str) -> Option<url::Url> {
    let url = url::Url::parse(uri).ok()?;
    let loopback = matches!(
        url.host_str(),
        Some("127.0.0.1") | Some("localhost") | Some("[::1]")
    );
    (url.scheme() == "http" && loopback && url.fragment().is_none()).then_some(url)
}

/// `GET /authorize`: with `consent` on, the page a person approves (its form POSTs the same
/// request back); otherwise approved at once, as scripted tests expect.
pub(crate) async fn authorize(
    State(state): State<Arc<LabState>>,
    RawQuery(query): RawQuery,
) -> Response {
    let q = parse_form(query.unwrap_or_default().as_bytes());
    let decision = if state.opts.consent {
        Decision::Ask
    } else {
        Decision::Approve
    };
    decide(&state, &q, decision)
}

/// `POST /authorize`: the consent form's answer, the request's parameters plus `decision`.
pub(crate) async fn authorize_post(
    State(state): State<Arc<LabState>>,
    body: axum::body::Bytes,
) -> Response {
    let q = parse_form(&body);
    let decision = match q.get("decision").map(String::as_str) {
        Some("approve") => Decision::Approve,
        Some("deny") => Decision::Deny,
        _ => {
            return (StatusCode::BAD_REQUEST, "decision must be approve or deny").into_response();
        }
    };
    decide(&state, &q, decision)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// Show the consent page.
    Ask,
    Approve,
    Deny,
}

/// Checks the request; errors about the client or redirect go to the user agent, other errors
/// and the decision go back to the client's redirect URI.
fn decide(state: &LabState, q: &HashMap<String, String>, decision: Decision) -> Response {
    let client_id = q.get("client_id").map(String::as_str).unwrap_or_default();
    // Until client and redirect URI are trusted, errors go to the user agent, never to the URI.
    if !matches!(client_kind(state, client_id), Some(ClientKind::Public)) {
        return (
            StatusCode::BAD_REQUEST,
            "unknown client_id or client not allowed to use the authorization code grant",
        )
            .into_response();
    }
    let raw_redirect = q
        .get("redirect_uri")
        .map(String::as_str)
        .unwrap_or_default();
    let Some(mut redirect) = loopback_redirect(raw_redirect) else {
        return (
            StatusCode::BAD_REQUEST,
            "redirect_uri must be http://127.0.0.1:<port>/... or http://localhost:<port>/...",
        )
            .into_response();
    };
    let result = check_authorize(q).and_then(|ok| {
        check_resource(state, q.get("resource"))
            .map(|()| ok)
            .map_err(|e| ("invalid_target", e))
    });
    if result.is_ok() && decision == Decision::Ask {
        return consent::authorize_page(q).into_response();
    }
    let result = result.and_then(|ok| match decision {
        Decision::Deny => Err(("access_denied", "the user denied the request".to_owned())),
        _ => Ok(ok),
    });
    if q.contains_key("resource") && decision != Decision::Deny {
        state.lock().stats.authorize_with_resource += 1;
    }
    {
        let mut pairs = redirect.query_pairs_mut();
        match &result {
            Ok((challenge, scope)) => {
                let code = random_token("lab_ac_");
                state.lock().codes.insert(
                    code.clone(),
                    CodeRec {
                        client_id: client_id.to_owned(),
                        redirect_uri: raw_redirect.to_owned(),
                        challenge: Some(challenge.clone()),
                        scope: scope.clone(),
                        resource: q.get("resource").cloned(),
                        expires: Instant::now() + CODE_TTL,
                    },
                );
                pairs.append_pair("code", &code);
            }
            Err((error, description)) => {
                pairs.append_pair("error", error);
                pairs.append_pair("error_description", description);
            }
        }
        if let Some(s) = q.get("state") {
            pairs.append_pair("state", s);
        }
        pairs.append_pair("iss", &state.issuer);
    }
    // 302 Found, as RFC 6749 shows; axum's `Redirect::to` would be 303.
    match HeaderValue::from_str(redirect.as_str()) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(_) => (
            StatusCode::BAD_REQUEST,
            "redirect_uri is not a valid header value",
        )
            .into_response(),
    }
}

type AuthorizeError = (&'static str, String);

fn check_authorize(q: &HashMap<String, String>) -> Result<(String, String), AuthorizeError> {
    if q.get("response_type").map(String::as_str) != Some("code") {
        return Err((
            "unsupported_response_type",
            "response_type must be code".into(),
        ));
    }
    let challenge = q
        .get("code_challenge")
        .filter(|c| !c.is_empty())
        .ok_or(("invalid_request", "PKCE code_challenge is required".into()))?;
    if q.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return Err((
            "invalid_request",
            "code_challenge_method must be S256".into(),
        ));
    }
    let scope =
        check_scope(q.get("scope").map(String::as_str)).map_err(|e| ("invalid_scope", e))?;
    Ok((challenge.clone(), scope))
}

/// RFC 8707: a `resource` must be the lab's MCP server, the one resource it issues tokens for.
pub(crate) fn check_resource(state: &LabState, resource: Option<&String>) -> Result<(), String> {
    let mcp = format!("{}/mcp", state.issuer);
    match resource {
        Some(r) if *r != mcp => Err(format!("unknown resource {r}; this server serves {mcp}")),
        _ => Ok(()),
    }
}
