//! Form POSTs to the authorization server outside what the `oauth2` crate models well (device
//! authorization and its polling, revocation), authenticated like the connector's token requests.

use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

use super::oauth::{HttpFailure, send};
use super::spec::OAuthSpec;
use crate::domain::{ErrorClass, Failure};

/// An answer that is not a transport failure (429 and 5xx already are: see `oauth::send`).
pub struct FormResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// RFC 6749 §5.2 error body.
#[derive(Debug, Deserialize)]
pub struct OAuthErrorBody {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
}

impl FormResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The OAuth error this answer carries, if it is one.
    pub fn oauth_error(&self) -> Option<OAuthErrorBody> {
        serde_json::from_slice(&self.body).ok()
    }

    /// "HTTP 400 (invalid_client: bad secret)", for messages. Never the raw body: it may hold a
    /// token.
    pub fn describe(&self) -> String {
        match self.oauth_error() {
            Some(e) => match e.error_description.filter(|d| !d.is_empty()) {
                Some(d) => format!("HTTP {} ({}: {d})", self.status, e.error),
                None => format!("HTTP {} ({})", self.status, e.error),
            },
            None => format!("HTTP {}", self.status),
        }
    }
}

/// POSTs `params` to `url` with the client's authentication: HTTP Basic (RFC 6749 §2.3.1, both
/// parts form-encoded) unless `post_secret`, when the secret goes in the body; a client without
/// a secret sends its `client_id` in the body.
pub async fn post_form(
    http: &reqwest::Client,
    url: &str,
    spec: &OAuthSpec,
    post_secret: bool,
    params: &[(&str, &str)],
    timeout: Duration,
) -> Result<FormResponse, Failure> {
    let request = form_request(url, spec, post_secret, params)?;
    let response = tokio::time::timeout(timeout, send(http.clone(), request))
        .await
        .map_err(|_| {
            Failure::new(
                ErrorClass::Timeout,
                format!("{url} did not answer within {} s", timeout.as_secs()),
            )
        })?
        .map_err(|HttpFailure(mut f)| {
            if !f.message.starts_with(url) {
                f.message = format!("{url}: {}", f.message);
            }
            f
        })?;
    Ok(FormResponse {
        status: response.status().as_u16(),
        body: response.into_body(),
    })
}

/// The request, built apart from the async send: the form serializer is not `Send` and must not
/// live across an await.
fn form_request(
    url: &str,
    spec: &OAuthSpec,
    post_secret: bool,
    params: &[(&str, &str)],
) -> Result<oauth2::http::Request<Vec<u8>>, Failure> {
    let mut body = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        body.append_pair(k, v);
    }
    let mut request = oauth2::http::Request::builder()
        .method(oauth2::http::Method::POST)
        .uri(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json");
    match spec.secret() {
        Some(secret) if !post_secret => {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", enc(&spec.client_id), enc(secret.expose()));
            let basic = base64::engine::general_purpose::STANDARD.encode(pair);
            request = request.header("authorization", format!("Basic {basic}"));
        }
        Some(secret) => {
            body.append_pair("client_id", &spec.client_id);
            body.append_pair("client_secret", secret.expose());
        }
        None => {
            body.append_pair("client_id", &spec.client_id);
            // private_key_jwt: device code polls and revocations authenticate like token
            // requests, with an assertion of their own addressed to this endpoint.
            if let Some(assertion) = spec.assertion_to(url) {
                for (k, v) in assertion.params()? {
                    body.append_pair(&k, &v);
                }
            }
        }
    }
    request.body(body.finish().into_bytes()).map_err(|e| {
        Failure::new(
            ErrorClass::Config,
            format!("cannot build a request to {url}: {e}; check the endpoint URL"),
        )
    })
}
