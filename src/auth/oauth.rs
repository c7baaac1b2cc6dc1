//! Token endpoint requests through the `oauth2` crate, carried by our reqwest client. The HTTP
//! closure turns 429 and 5xx into transport errors before `oauth2` sees them, so the broker can
//! tell "back off and keep the token" from "the grant is dead".

use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, EndpointMaybeSet, EndpointNotSet,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, TokenUrl,
};

pub use super::oauth_http::{Http, HttpFailure, send};
use super::spec::{Assertion, OAuthEndpoints};
use super::token_response::token_from_body;
use crate::domain::{ErrorClass, Failure, now_ms};
use crate::secret::Secret;
use crate::store::NewToken;
use crate::text::printable;

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
    /// private_key_jwt: a fresh client assertion goes into every request this context sends.
    pub assertion: Option<Assertion>,
}

impl<'a> TokenRequestContext<'a> {
    /// A request for `spec` as configured: its scopes and separator, `extra` parameters, and
    /// the 30 s a human-driven or one-shot request gets.
    pub fn for_spec(
        http: &'a reqwest::Client,
        client: &'a OAuthClient,
        spec: &'a super::spec::OAuthSpec,
        extra: &'a [(String, String)],
    ) -> Self {
        TokenRequestContext {
            http,
            client,
            scopes: &spec.scopes,
            scope_separator: &spec.scope_separator,
            extra,
            timeout: Duration::from_secs(30),
            assertion: None,
        }
    }

    /// The same context, signing its requests with `assertion` when there is one.
    pub fn signed(self, assertion: Option<Assertion>) -> Self {
        TokenRequestContext { assertion, ..self }
    }

    /// The parameters every request adds: the configured ones, and a new assertion.
    fn params(&self) -> Result<Vec<(String, String)>, TokenError> {
        let mut params = self.extra.to_vec();
        if let Some(a) = &self.assertion {
            params.extend(a.params().map_err(TokenError::Refused)?);
        }
        Ok(params)
    }
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
        Ok(Err(e)) => Err(match (map_error(e), &ctx.assertion) {
            (TokenError::Refused(mut f), Some(a)) => {
                f.message = format!("{}; {}", f.message, a.refused_hint());
                TokenError::Refused(f)
            }
            (e, _) => e,
        }),
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
    for (k, v) in ctx.params()? {
        request = request.add_extra_param(k, v);
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
    for (k, v) in ctx.params()? {
        request = request.add_extra_param(k, v);
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
    let ctx = TokenRequestContext::for_spec(http, &client, spec, &extra)
        .signed(spec.assertion(&endpoints));
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
    let ctx = TokenRequestContext::for_spec(http, &client, spec, &extra);
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
    for (k, v) in ctx.params()? {
        request = request.add_extra_param(k, v);
    }
    run(ctx, &http, None, request.request_async(&http)).await
}

fn config_error(e: oauth2::ConfigurationError) -> TokenError {
    TokenError::Refused(Failure::new(
        ErrorClass::Config,
        format!("the connector's OAuth settings are incomplete: {e}"),
    ))
}
