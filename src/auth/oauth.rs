//! Token endpoint requests through the `oauth2` crate, carried by our reqwest client. The HTTP
//! closure turns 429 and 5xx into transport errors before `oauth2` sees them, so the broker can
//! tell "back off and keep the token" from "the grant is dead".

use std::time::Duration;

use std::sync::{Arc, Mutex};

use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, EndpointMaybeSet, EndpointNotSet,
    HttpRequest, HttpResponse, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError,
    TokenUrl,
};

use super::spec::OAuthEndpoints;
use super::token_response::token_from_body;
use crate::domain::{ErrorClass, Failure, UnixMs, now_ms};
use crate::mcp::elicit::prompt::printable;
use crate::secret::Secret;
use crate::store::NewToken;

pub type OAuthClient =
    BasicClient<EndpointMaybeSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet>;

/// How a token request failed, in the terms the broker acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenError {
    /// `invalid_grant`: the refresh token (or code) is dead. Maybe another process rotated it;
    /// otherwise a human must re-authorize.
    InvalidGrant(String),
    /// The AS refused us for a reason retrying will not fix (invalid_client, unauthorized_client,
    /// invalid_scope...): the configuration needs a look.
    Refused(Failure),
    /// Timeout, refused connection, 5xx, 429: keep the token and back off.
    Transient(Failure),
}

impl TokenError {
    pub fn failure(&self) -> Failure {
        match self {
            TokenError::InvalidGrant(m) => Failure::new(
                ErrorClass::Auth,
                format!("the authorization server refused the grant (invalid_grant: {m})"),
            ),
            TokenError::Refused(f) | TokenError::Transient(f) => f.clone(),
        }
    }
}

/// The transport-level failure our HTTP closure reports to `oauth2`.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.message)]
pub struct HttpFailure(pub Failure);

pub fn build_client(
    endpoints: &OAuthEndpoints,
    client_id: &str,
    secret: Option<&Secret>,
) -> Result<OAuthClient, String> {
    // The last gate before a token request, whatever the endpoints came from (config,
    // discovery, a stored MCP registration): no secret over plain http off loopback.
    crate::net::require_secure(&endpoints.token, "the token endpoint", &endpoints.token)?;
    if let Some(a) = &endpoints.authorize {
        crate::net::require_secure(a, "the authorization endpoint", a)?;
    }
    let token = TokenUrl::new(endpoints.token.clone())
        .map_err(|e| format!("token_url {:?} is not a URL: {e}", endpoints.token))?;
    let auth = match &endpoints.authorize {
        Some(a) => Some(
            AuthUrl::new(a.clone())
                .map_err(|e| format!("authorize_url {a:?} is not a URL: {e}"))?,
        ),
        None => None,
    };
    let mut client = BasicClient::new(ClientId::new(client_id.to_string()))
        .set_auth_uri_option(auth)
        .set_token_uri_option(Some(token));
    if let Some(s) = secret {
        client = client.set_client_secret(ClientSecret::new(s.expose().to_string()));
    }
    if endpoints.client_secret_post {
        client = client.set_auth_type(oauth2::AuthType::RequestBody);
    }
    Ok(client)
}

/// `oauth2`'s HTTP client: a named type over an owned (cheaply cloned) reqwest client whose
/// futures are `'static + Send`. A closure borrowing the client would make every future above it
/// fail rustc's "Send is not general enough" check once spawned. It keeps a copy of the last 2xx
/// body: success bodies are read by `token_response`, leniently, so that an odd field can never
/// make `oauth2`'s strict parser drop a rotated refresh token.
pub struct Http {
    client: reqwest::Client,
    success: Arc<Mutex<Option<Vec<u8>>>>,
}

impl Http {
    pub fn new(client: reqwest::Client) -> Http {
        Http {
            client,
            success: Arc::default(),
        }
    }

    fn take_success(&self) -> Option<Vec<u8>> {
        self.success.lock().ok().and_then(|mut s| s.take())
    }
}

type BoxedResponse =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<HttpResponse, HttpFailure>> + Send>>;

impl<'c> oauth2::AsyncHttpClient<'c> for Http {
    type Error = HttpFailure;
    type Future = BoxedResponse;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        let success = self.success.clone();
        let sent = send(self.client.clone(), request);
        Box::pin(async move {
            let response = sent.await?;
            if response.status().is_success()
                && let Ok(mut slot) = success.lock()
            {
                *slot = Some(response.body().clone());
            }
            Ok(response)
        })
    }
}

/// Sends one `oauth2` request over reqwest, classifying failures that are not OAuth answers.
pub async fn send(http: reqwest::Client, req: HttpRequest) -> Result<HttpResponse, HttpFailure> {
    let (parts, body) = req.into_parts();
    let url = parts.uri.to_string();
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())
        .unwrap_or(reqwest::Method::POST);
    let mut builder = http.request(method, &url).body(body);
    for (name, value) in &parts.headers {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let response = builder
        .send()
        .await
        .map_err(|e| HttpFailure(classify_reqwest(&e)))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after_ms(v, now_ms()));
    if status == 429 || status >= 500 {
        let class = if status == 429 {
            ErrorClass::RateLimited
        } else {
            ErrorClass::Server
        };
        let mut f = Failure::new(class, format!("{url} answered HTTP {status}"));
        f.retry_after_ms = retry_after;
        return Err(HttpFailure(f));
    }
    let mut out = oauth2::http::Response::builder().status(status);
    for (name, value) in response.headers() {
        out = out.header(name.as_str(), value.as_bytes());
    }
    let bytes = crate::net::read_capped(
        response,
        crate::net::TOKEN_BODY_CAP,
        "the token endpoint's answer",
    )
    .await
    .map_err(HttpFailure)?;
    out.body(bytes).map_err(|e| {
        HttpFailure(Failure::new(
            ErrorClass::Protocol,
            format!("bad token endpoint response: {e}"),
        ))
    })
}

/// The longest `Retry-After` obeyed. A server asking for more (a year, 2^64 s) gets asked again
/// after this; the backoff and the minimum interval between attempts still apply.
pub const MAX_RETRY_AFTER_MS: u64 = 3_600_000;

/// RFC 9110 §10.2.3 `Retry-After`: delay-seconds, or an HTTP-date (a date in the past means
/// "now"), clamped to `MAX_RETRY_AFTER_MS`. `None` when the value is neither.
pub fn retry_after_ms(value: &str, now: UnixMs) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs.saturating_mul(1000).min(MAX_RETRY_AFTER_MS));
    }
    // IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") is RFC 2822 with the zone spelled GMT.
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.timestamp_millis().saturating_sub(now).max(0);
    Some(u64::try_from(wait).unwrap_or(0).min(MAX_RETRY_AFTER_MS))
}

pub fn classify_reqwest(e: &reqwest::Error) -> Failure {
    // reqwest's Display includes the URL, which never holds a secret here (tokens travel in
    // bodies and headers), but the chain is long; keep the innermost cause.
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    let detail = source.to_string();
    if e.is_timeout() {
        Failure::new(ErrorClass::Timeout, "timed out")
    } else if e.is_connect() {
        Failure::new(ErrorClass::Connection, format!("cannot connect: {detail}"))
    } else if e.is_decode() || e.is_body() {
        Failure::new(ErrorClass::Protocol, format!("bad response body: {detail}"))
    } else if e.is_redirect() {
        // A refused redirect (`net::redirect_policy`): the URL needs fixing, retrying won't.
        Failure::new(ErrorClass::Config, detail)
    } else {
        Failure::new(ErrorClass::Connection, detail)
    }
}

type OAuthResult =
    Result<BasicTokenResponse, RequestTokenError<HttpFailure, oauth2::basic::BasicErrorResponse>>;

fn map_error(err: RequestTokenError<HttpFailure, oauth2::basic::BasicErrorResponse>) -> TokenError {
    match err {
        RequestTokenError::ServerResponse(resp) => {
            // Server text: shown on terminals, so control characters are made visible.
            let desc = printable(resp.error_description().map_or("", |d| d.as_str()), false);
            match resp.error() {
                BasicErrorResponseType::InvalidGrant => TokenError::InvalidGrant(desc),
                other => TokenError::Refused(Failure::new(
                    ErrorClass::Auth,
                    format!(
                        "the authorization server refused the request ({}){}",
                        printable(other.as_ref(), false),
                        if desc.is_empty() {
                            String::new()
                        } else {
                            format!(": {desc}")
                        }
                    ),
                )),
            }
        }
        RequestTokenError::Request(HttpFailure(f)) => TokenError::Transient(f),
        RequestTokenError::Parse(e, _) => TokenError::Transient(Failure::new(
            ErrorClass::Protocol,
            format!(
                "the token endpoint sent a response that is not an OAuth token response ({})",
                e.path()
            ),
        )),
        RequestTokenError::Other(m) => TokenError::Transient(Failure::new(ErrorClass::Protocol, m)),
    }
}

pub struct TokenRequestContext<'a> {
    pub http: &'a reqwest::Client,
    pub client: &'a OAuthClient,
    pub scopes: &'a [String],
    /// How `scopes` are joined on the wire (" " unless the provider wants ",").
    pub scope_separator: &'a str,
    pub extra: &'a [(String, String)],
    pub timeout: Duration,
}

/// Runs one token request to its `NewToken`. A 2xx body is read by `token_response` whatever
/// `oauth2` thought of it; only error answers are `oauth2`'s to interpret.
async fn run(
    ctx: &TokenRequestContext<'_>,
    http: &Http,
    previous_refresh: Option<&Secret>,
    fut: impl std::future::Future<Output = OAuthResult>,
) -> Result<NewToken, TokenError> {
    let issued_at = now_ms();
    let answer = tokio::time::timeout(ctx.timeout, fut).await;
    if let Some(body) = http.take_success() {
        return token_from_body(&body, previous_refresh, ctx.scopes, issued_at);
    }
    match answer {
        Ok(Ok(_)) => Err(TokenError::Transient(Failure::new(
            ErrorClass::Protocol,
            "the token endpoint's answer went missing",
        ))),
        Ok(Err(e)) => Err(map_error(e)),
        Err(_) => Err(TokenError::Transient(Failure::new(
            ErrorClass::Timeout,
            "the token endpoint did not answer in time",
        ))),
    }
}

pub async fn refresh(
    ctx: &TokenRequestContext<'_>,
    refresh_token: &Secret,
) -> Result<NewToken, TokenError> {
    let rt = RefreshToken::new(refresh_token.expose().to_string());
    let http = Http::new(ctx.http.clone());
    let mut request = ctx
        .client
        .exchange_refresh_token(&rt)
        .map_err(config_error)?;
    for (k, v) in ctx.extra {
        request = request.add_extra_param(k.clone(), v.clone());
    }
    run(
        ctx,
        &http,
        Some(refresh_token),
        request.request_async(&http),
    )
    .await
}

pub async fn client_credentials(ctx: &TokenRequestContext<'_>) -> Result<NewToken, TokenError> {
    let http = Http::new(ctx.http.clone());
    let mut request = ctx
        .client
        .exchange_client_credentials()
        .map_err(config_error)?;
    // Joined here rather than by `add_scopes`, which always joins with a space.
    if !ctx.scopes.is_empty() {
        request = request.add_extra_param("scope", ctx.scopes.join(ctx.scope_separator));
    }
    for (k, v) in ctx.extra {
        request = request.add_extra_param(k.clone(), v.clone());
    }
    run(ctx, &http, None, request.request_async(&http)).await
}

/// One client credentials request for `spec` as it stands (endpoints resolved, client set).
pub async fn client_credentials_for(
    http: &reqwest::Client,
    spec: &super::spec::OAuthSpec,
) -> Result<NewToken, Failure> {
    let endpoints = spec.resolve_endpoints(http).await?;
    let client = build_client(&endpoints, &spec.client_id, spec.secret())
        .map_err(|m| Failure::new(ErrorClass::Config, m))?;
    let extra = spec.token_params();
    let ctx = TokenRequestContext {
        http,
        client: &client,
        scopes: &spec.scopes,
        scope_separator: &spec.scope_separator,
        extra: &extra,
        timeout: Duration::from_secs(30),
    };
    client_credentials(&ctx).await.map_err(|e| e.failure())
}

/// One client credentials request authenticated by a fresh assertion signed with `key`
/// (private_key_jwt): the client_id travels in the body, no secret anywhere.
pub async fn client_credentials_signed(
    http: &reqwest::Client,
    spec: &super::spec::OAuthSpec,
    key: &super::client_assertion::SigningKey,
    audience: &str,
) -> Result<NewToken, Failure> {
    let mut endpoints = spec.resolve_endpoints(http).await?;
    endpoints.client_secret_post = true;
    let client = build_client(&endpoints, &spec.client_id, None)
        .map_err(|m| Failure::new(ErrorClass::Config, m))?;
    let assertion = key.assertion(&spec.client_id, audience, now_ms() / 1000)?;
    let mut extra = spec.token_params();
    extra.push((
        "client_assertion_type".into(),
        super::client_assertion::ASSERTION_TYPE.into(),
    ));
    extra.push(("client_assertion".into(), assertion.expose().to_string()));
    let ctx = TokenRequestContext {
        http,
        client: &client,
        scopes: &spec.scopes,
        scope_separator: &spec.scope_separator,
        extra: &extra,
        timeout: Duration::from_secs(30),
    };
    client_credentials(&ctx).await.map_err(|e| {
        let mut f = e.failure();
        f.message = format!(
            "{}; the authorization server refused the signed assertion ({}) — check that it holds this key's public half for client {} and that this machine's clock is right",
            f.message,
            key.alg(),
            spec.client_id
        );
        f
    })
}

pub async fn exchange_code(
    ctx: &TokenRequestContext<'_>,
    code: String,
    verifier: Option<PkceCodeVerifier>,
    redirect_uri: &str,
) -> Result<NewToken, TokenError> {
    let http = Http::new(ctx.http.clone());
    let redirect = RedirectUrl::new(redirect_uri.to_string()).map_err(|e| {
        TokenError::Refused(Failure::new(
            ErrorClass::Config,
            format!("bad redirect URI: {e}"),
        ))
    })?;
    let mut request = ctx
        .client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(config_error)?
        .set_redirect_uri(std::borrow::Cow::Owned(redirect));
    if let Some(v) = verifier {
        request = request.set_pkce_verifier(v);
    }
    for (k, v) in ctx.extra {
        request = request.add_extra_param(k.clone(), v.clone());
    }
    run(ctx, &http, None, request.request_async(&http)).await
}

fn config_error(e: oauth2::ConfigurationError) -> TokenError {
    TokenError::Refused(Failure::new(
        ErrorClass::Config,
        format!("the connector's OAuth settings are incomplete: {e}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = 784_111_777_000; // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(retry_after_ms("120", now), Some(120_000));
        assert_eq!(retry_after_ms(" 0 ", now), Some(0));
        assert_eq!(
            retry_after_ms("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(30_000)
        );
        assert_eq!(
            retry_after_ms("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(0)
        );
        assert_eq!(retry_after_ms("soon", now), None);
        assert_eq!(retry_after_ms("-5", now), None);
        assert_eq!(
            retry_after_ms("18446744073709551615", now),
            Some(MAX_RETRY_AFTER_MS)
        );
        assert_eq!(
            retry_after_ms("Fri, 31 Dec 9999 23:59:59 GMT", now),
            Some(MAX_RETRY_AFTER_MS)
        );
    }
}
