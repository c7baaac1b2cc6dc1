//! Auth type "mcp": the MCP authorization spec (2025-11-25). From nothing but the server URL:
//!
//! 1. an unauthenticated `initialize` POST; the 401's `WWW-Authenticate: Bearer` challenge
//!    names the protected-resource metadata and maybe the scopes;
//! 2. RFC 9728 protected-resource metadata (the challenge's URL, else the well-known URLs),
//!    whose `resource` must be this server;
//! 3. RFC 8414 / OpenID metadata of its first authorization server, which must offer S256;
//! 4. a client: configured, else a Client ID Metadata Document URL, else RFC 7591 dynamic
//!    registration (see `mcp_client`), persisted for reuse;
//! 5. then the ordinary authorization code + PKCE flow with the RFC 8707 `resource`.
//!
//! What was found is stored, and later processes build their token client from it
//! (`mcp_stored`: `prepare`, `effective`): a refresh never rediscovers.

use std::time::Duration;

use serde::Deserialize;

use super::spec::{AsMetadata, discover_metadata};
use crate::classify::challenge::{self, BearerChallenge};
use crate::domain::{ErrorClass, Failure};

pub(crate) use super::mcp_stored::{concrete, union};
pub use super::mcp_stored::{effective, effective_for_machine, prepare};
pub use super::step_up::{STEP_UP_RETRIES, record_step_up, step_up_scopes};

const TIMEOUT: Duration = Duration::from_secs(10);

/// What discovery found.
#[derive(Debug, Clone)]
pub struct Discovery {
    pub server: String,
    /// The RFC 8707 resource indicator: the metadata's `resource`, checked against `server`;
    /// `None` for a 2025-03-26 server, which publishes no such metadata.
    pub resource: Option<String>,
    pub issuer: String,
    pub metadata: AsMetadata,
    /// The challenge's scopes, else the resource's `scopes_supported`, else none.
    pub scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct ResourceMetadata {
    resource: String,
    #[serde(default)]
    authorization_servers: Vec<String>,
    #[serde(default)]
    scopes_supported: Vec<String>,
}

pub(super) fn config(message: String) -> Failure {
    Failure::new(ErrorClass::Config, message)
}

/// Steps 1–3: from the server URL to the authorization server's metadata.
pub async fn discover(http: &reqwest::Client, server: &str) -> Result<Discovery, Failure> {
    match unauthenticated_challenge(http, server).await? {
        Unauthenticated::Challenged(challenge) => discover_from(http, server, challenge).await,
        // Some servers let `initialize` through and challenge only later requests; metadata at
        // the well-known URLs says whether this one wants authorization at all (a server that
        // asked for nothing gets no 2025-03-26 fallback: there is nothing to fall back for).
        Unauthenticated::Open => {
            let found = discover_with(http, server, None, false).await.map_err(|f| {
                if f.class == ErrorClass::Config {
                    config(format!(
                        "the MCP server at {server} answered without asking for authorization and publishes no protected-resource metadata; set [connectors.auth] type = \"none\""
                    ))
                } else {
                    f
                }
            })?;
            require_s256(&found.issuer, &found.metadata)?;
            Ok(found)
        }
    }
}

enum Unauthenticated {
    /// Not a 2xx: the challenge, if the answer carried a usable one.
    Challenged(Option<BearerChallenge>),
    /// The server answered `initialize` without credentials.
    Open,
}

/// Steps 2–3, from a challenge already in hand: a transport's 401 carries one, and servers
/// that let `initialize` through unauthenticated only challenge later requests.
pub async fn discover_from(
    http: &reqwest::Client,
    server: &str,
    challenge: Option<BearerChallenge>,
) -> Result<Discovery, Failure> {
    let found = discover_with(http, server, challenge, true).await?;
    require_s256(&found.issuer, &found.metadata)?;
    Ok(found)
}

/// Steps 2–3 for a machine client (client credentials): the same discovery, without the PKCE
/// requirement, which only the authorization code grant has.
pub async fn discover_for_machine(
    http: &reqwest::Client,
    server: &str,
    challenge: Option<BearerChallenge>,
) -> Result<Discovery, Failure> {
    discover_with(http, server, challenge, true).await
}

/// Steps 1–3 for a configured machine client: from the server URL, without the PKCE check.
pub async fn discover_machine(http: &reqwest::Client, server: &str) -> Result<Discovery, Failure> {
    let challenge = match unauthenticated_challenge(http, server).await? {
        Unauthenticated::Challenged(challenge) => challenge,
        Unauthenticated::Open => None,
    };
    discover_for_machine(http, server, challenge).await
}

async fn discover_with(
    http: &reqwest::Client,
    server: &str,
    challenge: Option<BearerChallenge>,
    legacy: bool,
) -> Result<Discovery, Failure> {
    let named = challenge
        .as_ref()
        .is_some_and(|c| c.resource_metadata.is_some());
    let prm = match resource_metadata(http, server, challenge.as_ref()).await {
        Ok(prm) => prm,
        // A challenge that names its metadata is a 2025-06-18+ server whose metadata is
        // broken: that is reported, not papered over with guesses.
        Err(f) if legacy && !named && f.class == ErrorClass::Config => {
            return legacy_discovery(http, server, challenge).await;
        }
        Err(f) => return Err(f),
    };
    if !resource_matches(server, &prm.resource) {
        return Err(config(format!(
            "the protected-resource metadata of {server} is for resource {}, not this server (RFC 9728 §3.3); refusing to send a token there — check [connectors.mcp] url",
            prm.resource
        )));
    }
    let issuer = prm.authorization_servers.first().cloned().ok_or_else(|| {
        config(format!(
            "the protected-resource metadata of {server} lists no authorization_servers; the server cannot be authorized through MCP discovery"
        ))
    })?;
    let metadata = discover_metadata(http, &issuer).await.map_err(|mut f| {
        f.message = format!("authorization server {issuer}: {}", f.message);
        f
    })?;
    let scopes = match challenge.map(|c| c.scope).filter(|s| !s.is_empty()) {
        Some(s) => s,
        None => prm.scopes_supported,
    };
    Ok(Discovery {
        server: server.to_string(),
        resource: Some(prm.resource),
        issuer,
        metadata,
        scopes,
    })
}

/// No protected-resource metadata: the 2025-03-26 way (see `legacy_discovery`).
async fn legacy_discovery(
    http: &reqwest::Client,
    server: &str,
    challenge: Option<BearerChallenge>,
) -> Result<Discovery, Failure> {
    let (issuer, metadata) = super::legacy_discovery::discover(http, server).await?;
    Ok(Discovery {
        server: server.to_string(),
        resource: None,
        issuer,
        metadata,
        scopes: challenge.map(|c| c.scope).unwrap_or_default(),
    })
}

/// The MCP spec makes PKCE with S256 mandatory, and an AS that does not say it supports it
/// must be refused rather than trusted to do the right thing.
pub fn require_s256(issuer: &str, metadata: &AsMetadata) -> Result<(), Failure> {
    if metadata
        .code_challenge_methods_supported
        .iter()
        .any(|m| m == "S256")
    {
        return Ok(());
    }
    let listed = if metadata.code_challenge_methods_supported.is_empty() {
        "none".to_string()
    } else {
        metadata.code_challenge_methods_supported.join(", ")
    };
    Err(config(format!(
        "the authorization server {issuer} does not support PKCE with S256 (code_challenge_methods_supported: {listed}); MCP authorization requires it, so switchboard will not authorize there — ask the server's operator to enable S256"
    )))
}

/// Step 1. No usable challenge (not a 401, or no Bearer): the well-known URLs are the way to
/// the metadata.
async fn unauthenticated_challenge(
    http: &reqwest::Client,
    server: &str,
) -> Result<Unauthenticated, Failure> {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "switchboard", "version": env!("CARGO_PKG_VERSION")},
        },
    });
    let resp = http
        .post(server)
        .header(
            reqwest::header::ACCEPT,
            "application/json, text/event-stream",
        )
        .json(&body)
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| {
            let mut f = crate::classify::classify_reqwest(&e);
            f.message = format!(
                "cannot reach the MCP server at {server}: {}; check [connectors.mcp] url",
                f.message
            );
            f
        })?;
    let status = resp.status().as_u16();
    if resp.status().is_success() {
        return Ok(Unauthenticated::Open);
    }
    if status != 401 {
        tracing::info!(
            "{server} answered HTTP {status} without credentials; trying the well-known metadata URLs"
        );
        return Ok(Unauthenticated::Challenged(None));
    }
    let values = resp
        .headers()
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>();
    Ok(Unauthenticated::Challenged(challenge::bearer(values)))
}

/// Step 2: the challenge's metadata URL when it names one, else the well-known URLs in the
/// spec's order (path-suffixed first, then the root).
async fn resource_metadata(
    http: &reqwest::Client,
    server: &str,
    challenge: Option<&BearerChallenge>,
) -> Result<ResourceMetadata, Failure> {
    let urls = metadata_urls(server, challenge)?;
    let mut tried = Vec::new();
    for url in &urls {
        match http.get(url).timeout(TIMEOUT).send().await {
            Ok(resp) if resp.status().is_success() => {
                let what = format!("the protected-resource metadata at {url}");
                let body =
                    crate::net::read_capped(resp, crate::net::METADATA_BODY_CAP, &what).await?;
                return serde_json::from_slice(&body).map_err(|e| {
                    Failure::new(
                        ErrorClass::Protocol,
                        format!("{url} is not protected-resource metadata ({e}); the MCP server's authorization setup is broken"),
                    )
                });
            }
            Ok(resp) => tried.push(format!("{url} (HTTP {})", resp.status().as_u16())),
            Err(e) => tried.push(format!(
                "{url} ({})",
                crate::classify::classify_reqwest(&e).message
            )),
        }
    }
    Err(config(format!(
        "no protected-resource metadata found for {server}: tried {}; the server does not support MCP authorization discovery — use type = \"oauth2\" with explicit endpoints",
        tried.join(", ")
    )))
}

fn metadata_urls(
    server: &str,
    challenge: Option<&BearerChallenge>,
) -> Result<Vec<String>, Failure> {
    let base = url::Url::parse(server)
        .map_err(|e| config(format!("[connectors.mcp] url {server:?} is not a URL: {e}")))?;
    if let Some(named) = challenge.and_then(|c| c.resource_metadata.as_deref()) {
        let url = base.join(named).map_err(|e| {
            Failure::new(
                ErrorClass::Protocol,
                format!("{server} named resource_metadata {named:?}, which is not a URL ({e})"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Failure::new(
                ErrorClass::Protocol,
                format!("{server} named resource_metadata {url}, which is not http(s)"),
            ));
        }
        return Ok(vec![url.to_string()]);
    }
    let origin = base.origin().ascii_serialization();
    let path = base.path().trim_end_matches('/');
    let mut urls = Vec::new();
    if !path.is_empty() {
        urls.push(format!(
            "{origin}/.well-known/oauth-protected-resource{path}"
        ));
    }
    urls.push(format!("{origin}/.well-known/oauth-protected-resource"));
    Ok(urls)
}

/// RFC 9728 §3.3 wants the metadata's `resource` to be this server. Compared as URLs (scheme
/// and host case, default ports and a trailing slash do not matter). A resource that is a
/// parent path of the server on the same origin is accepted too, as the MCP SDKs do: the
/// spec's canonical server URI may be just the origin.
pub fn resource_matches(server: &str, resource: &str) -> bool {
    let (Ok(s), Ok(r)) = (url::Url::parse(server), url::Url::parse(resource)) else {
        return false;
    };
    if s.origin() != r.origin() || r.fragment().is_some() || r.query().is_some() {
        return false;
    }
    let (sp, rp) = (
        s.path().trim_end_matches('/'),
        r.path().trim_end_matches('/'),
    );
    sp == rp || rp.is_empty() || sp.starts_with(&format!("{rp}/"))
}

#[cfg(test)]
#[path = "mcp_auth_tests.rs"]
mod tests;
