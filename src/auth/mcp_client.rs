//! Which OAuth client switchboard is at an MCP server's authorization server, in the MCP
//! spec's order: pre-registered (`client_id` in config), else a Client ID Metadata Document
//! (only when the config names one: switchboard cannot host the document itself), else
//! RFC 7591 dynamic registration as a public loopback client.

use std::time::Duration;

use serde::Deserialize;

use super::mcp_auth::Discovery;
use super::spec::OAuthSpec;
use crate::domain::{ErrorClass, Failure, now_ms};
use crate::secret::Secret;
use crate::store::McpAuthRecord;

pub const CONFIGURED: &str = "configured";
pub const METADATA_DOCUMENT: &str = "metadata_document";
pub const DYNAMIC: &str = "dynamic";

/// RFC 8252 §7.3: the AS must accept any port on a loopback redirect URI, so one registration
/// serves every ephemeral listener `flows` opens.
pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";

#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub secret: Option<Secret>,
    pub source: &'static str,
    pub registered_at: Option<i64>,
}

impl Client {
    /// Only a registered client's secret is the store's to keep; a configured one stays in
    /// config (and its `${VAR}`).
    pub fn stored_secret(&self) -> Option<Secret> {
        (self.source == DYNAMIC)
            .then(|| self.secret.clone())
            .flatten()
    }

    pub fn from_record(record: &McpAuthRecord, spec: &OAuthSpec) -> Client {
        if record.client_source == CONFIGURED {
            let id = if spec.client_id.is_empty() {
                record.client_id.clone()
            } else {
                spec.client_id.clone()
            };
            return Client {
                id,
                secret: spec.client_secret.clone(),
                source: CONFIGURED,
                registered_at: None,
            };
        }
        Client {
            id: record.client_id.clone(),
            secret: record.client_secret.clone(),
            source: if record.client_source == METADATA_DOCUMENT {
                METADATA_DOCUMENT
            } else {
                DYNAMIC
            },
            registered_at: record.registered_at,
        }
    }
}

/// Picks (or registers) the client for this authorization server.
pub async fn choose(
    http: &reqwest::Client,
    spec: &OAuthSpec,
    stored: Option<&McpAuthRecord>,
    found: &Discovery,
) -> Result<Client, Failure> {
    if !spec.client_id.is_empty() {
        return Ok(Client {
            id: spec.client_id.clone(),
            secret: spec.client_secret.clone(),
            source: CONFIGURED,
            registered_at: None,
        });
    }
    // A registration at this same AS is reused: registering on every `auth` would litter the
    // AS with clients and orphan the grants of the old ones.
    if let Some(r) = stored.filter(|r| r.client_source == DYNAMIC && r.issuer == found.issuer) {
        return Ok(Client::from_record(r, spec));
    }
    let cimd_url = spec
        .mcp
        .as_ref()
        .and_then(|m| m.client_metadata_url.clone());
    if found.metadata.client_id_metadata_document_supported
        && let Some(url) = cimd_url
    {
        return Ok(Client {
            id: url,
            secret: None,
            source: METADATA_DOCUMENT,
            registered_at: None,
        });
    }
    match &found.metadata.registration_endpoint {
        Some(endpoint) => {
            let method =
                registration_auth_method(&found.metadata.token_endpoint_auth_methods_supported);
            register(http, endpoint, &found.issuer, method).await
        }
        None => Err(Failure::new(
            ErrorClass::Config,
            format!(
                "the authorization server {} offers no dynamic client registration{}; register switchboard there as a public client with redirect URI {REDIRECT_URI} (any port) and set client_id",
                found.issuer,
                if found.metadata.client_id_metadata_document_supported {
                    " (it accepts client ID metadata documents: host one and set client_metadata_url instead)"
                } else {
                    ""
                }
            ),
        )),
    }
}

#[derive(Deserialize)]
struct Registered {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
}

/// What to ask the AS for: a public client (`none`) wherever it is allowed, since a loopback
/// app cannot keep a secret anyway (RFC 8252 §8.4); else the confidential method it offers,
/// Basic first as RFC 6749 §2.3.1 prefers.
pub fn registration_auth_method(supported: &[String]) -> &'static str {
    let offers = |m: &str| supported.iter().any(|s| s == m);
    if supported.is_empty() || offers("none") {
        "none"
    } else if offers("client_secret_basic") {
        "client_secret_basic"
    } else if offers("client_secret_post") {
        "client_secret_post"
    } else {
        "none"
    }
}

#[derive(Deserialize)]
struct RegistrationError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// RFC 7591 §3.1: authorization code with refresh tokens on a loopback redirect, with the
/// token endpoint auth method `registration_auth_method` picked.
async fn register(
    http: &reqwest::Client,
    endpoint: &str,
    issuer: &str,
    method: &str,
) -> Result<Client, Failure> {
    let body = serde_json::json!({
        "client_name": "switchboard",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
    });
    let resp = http
        .post(endpoint)
        .json(&body)
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .map_err(|e| {
            let mut f = crate::classify::classify_reqwest(&e);
            f.message = format!(
                "client registration at {endpoint} failed: {}; run the command again",
                f.message
            );
            f
        })?;
    let status = resp.status();
    let what = format!("the client registration answer from {endpoint}");
    let bytes = crate::net::read_capped(resp, crate::net::TOKEN_BODY_CAP, &what).await?;
    if !status.is_success() {
        // RFC 7591 §3.2.2 error body; never echo a raw body, which could hold anything.
        let why = serde_json::from_slice::<RegistrationError>(&bytes)
            .map(|e| match e.error_description {
                Some(d) => format!("{}: {d}", e.error),
                None => e.error,
            })
            .unwrap_or_else(|_| format!("HTTP {}", status.as_u16()));
        return Err(Failure::new(
            ErrorClass::Auth,
            format!(
                "the authorization server {issuer} refused to register switchboard ({why}); register a client by hand and set client_id"
            ),
        ));
    }
    let registered: Registered = serde_json::from_slice(&bytes).map_err(|e| {
        Failure::new(
            ErrorClass::Protocol,
            format!("{endpoint} did not answer with a client registration ({e})"),
        )
    })?;
    tracing::info!(
        "registered switchboard at {issuer} as client {}",
        registered.client_id
    );
    // The AS has the last word on the method (RFC 7591 §3.2.1); a public one gets no secret
    // sent even if it handed one out.
    let public = registered.token_endpoint_auth_method.as_deref() == Some("none");
    Ok(Client {
        id: registered.client_id,
        secret: registered
            .client_secret
            .filter(|_| !public)
            .map(Secret::from),
        source: DYNAMIC,
        registered_at: Some(now_ms()),
    })
}
