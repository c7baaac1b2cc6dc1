//! Auth type "mcp", after discovery (`mcp_auth`): the client and endpoints a connector found are
//! stored, and every later process builds its token client from that record instead of
//! rediscovering (three extra round trips, and a server that may be down, in front of every
//! token; and the client registered at the AS must stay the one that owns the grant).

use super::mcp_auth::{Discovery, config, discover};
use super::mcp_client::{self, Client};
use super::spec::{OAuthEndpoints, OAuthSpec, TokenAuth};
use crate::domain::{ErrorClass, Failure};
use crate::store::{McpAuthRecord, Store};

/// `switchboard auth` for type "mcp": discovery, a client, and the concrete spec the usual
/// authorization code flow runs with. The record is saved before the login, so a registered
/// client is kept even when the human never finishes.
pub async fn prepare(
    http: &reqwest::Client,
    store: &Store,
    connector: &str,
    spec: &OAuthSpec,
) -> Result<OAuthSpec, Failure> {
    let mcp = spec
        .mcp
        .as_ref()
        .ok_or_else(|| config(format!("{connector} is not an auth type \"mcp\" connector")))?;
    let found = discover(http, &mcp.url).await?;
    let stored = store
        .load_mcp_auth(connector)
        .await
        .map_err(|e| config(e.to_string()))?;
    let client = mcp_client::choose(http, spec, stored.as_ref(), &found).await?;
    // Scopes a step-up asked for stay wanted (union with what discovery says now).
    let mut scopes = if spec.scopes.is_empty() {
        found.scopes.clone()
    } else {
        spec.scopes.clone()
    };
    if let Some(s) = stored.as_ref().filter(|s| s.issuer == found.issuer) {
        scopes = union(&scopes, &s.scopes);
    }
    store
        .save_mcp_auth(connector, record(&mcp.url, &found, &client, &scopes))
        .await
        .map_err(|e| config(format!("cannot save what discovery found: {e}")))?;
    Ok(found_spec(spec, found, &client, scopes))
}

/// The spec token requests use. For type "mcp", built from what `switchboard auth` stored;
/// for every other type, the spec itself.
pub async fn effective(
    store: &Store,
    connector: &str,
    spec: &OAuthSpec,
) -> Result<OAuthSpec, Failure> {
    let Some(mcp) = &spec.mcp else {
        return Ok(spec.clone());
    };
    let not_yet = || {
        Failure::new(
            ErrorClass::Auth,
            format!("{connector} is not authorized yet; run `switchboard auth {connector}`"),
        )
    };
    let record = store
        .load_mcp_auth(connector)
        .await
        .map_err(|e| config(e.to_string()))?
        .ok_or_else(not_yet)?;
    if record.server != mcp.url {
        return Err(config(format!(
            "{connector}'s MCP url changed since it was authorized ({} then, {} now); run `switchboard auth {connector}`",
            record.server, mcp.url
        )));
    }
    let endpoints: OAuthEndpoints = serde_json::from_str(&record.endpoints_json).map_err(|e| {
        config(format!(
            "the stored discovery for {connector} is unreadable ({e}); run `switchboard auth {connector}`"
        ))
    })?;
    let client = Client::from_record(&record, spec);
    let resource = Some(record.resource).filter(|r| !r.is_empty());
    Ok(OAuthSpec {
        // The audience of a private_key_jwt assertion (see `OAuthSpec::assertion`).
        issuer: Some(record.issuer),
        ..concrete(spec, endpoints, &client, resource, record.scopes)
    })
}

/// The spec a machine client (type "mcp" with `grant = "client-credentials"`) requests tokens
/// with. No human runs `switchboard auth` for it, so when nothing is stored yet the broker
/// discovers here, on its first token request, and stores what it found for later processes.
pub async fn effective_for_machine(
    http: &reqwest::Client,
    store: &Store,
    connector: &str,
    spec: &OAuthSpec,
) -> Result<OAuthSpec, Failure> {
    let Some(mcp) = &spec.mcp else {
        return Ok(spec.clone());
    };
    let stored = store
        .load_mcp_auth(connector)
        .await
        .map_err(|e| config(e.to_string()))?;
    if stored.is_some_and(|r| r.server == mcp.url && r.client_source == mcp_client::CONFIGURED) {
        return effective(store, connector, spec).await;
    }
    let found = super::mcp_auth::discover_machine(http, &mcp.url).await?;
    let client = Client {
        id: spec.client_id.clone(),
        secret: spec.client_secret.clone(),
        source: mcp_client::CONFIGURED,
        registered_at: None,
    };
    let scopes = if spec.scopes.is_empty() {
        found.scopes.clone()
    } else {
        spec.scopes.clone()
    };
    let record = record(&mcp.url, &found, &client, &scopes);
    // Not fatal: the token request can go ahead; the next process discovers again.
    if let Err(e) = store.save_mcp_auth(connector, record).await {
        tracing::warn!("{connector}: cannot save what discovery found: {e}");
    }
    Ok(found_spec(spec, found, &client, scopes))
}

/// What discovery found and the client chosen, as later processes read it back (`effective`).
fn record(server: &str, found: &Discovery, client: &Client, scopes: &[String]) -> McpAuthRecord {
    McpAuthRecord {
        server: server.to_string(),
        // Empty for a 2025-03-26 server, which has no resource indicator (see `effective`).
        resource: found.resource.clone().unwrap_or_default(),
        issuer: found.issuer.clone(),
        endpoints_json: serde_json::to_string(&found.metadata.endpoints()).unwrap_or_default(),
        client_id: client.id.clone(),
        client_source: client.source.to_string(),
        // Only a dynamically registered client's secret is stored; a configured one stays in
        // the config.
        client_secret: client.stored_secret(),
        scopes: scopes.to_vec(),
        registered_at: client.registered_at,
    }
}

/// The spec token requests use right after discovery.
fn found_spec(
    spec: &OAuthSpec,
    found: Discovery,
    client: &Client,
    scopes: Vec<String>,
) -> OAuthSpec {
    let endpoints = found.metadata.endpoints();
    OAuthSpec {
        issuer: Some(found.issuer),
        ..concrete(spec, endpoints, client, found.resource, scopes)
    }
}

pub(crate) fn concrete(
    spec: &OAuthSpec,
    endpoints: OAuthEndpoints,
    client: &Client,
    resource: Option<String>,
    scopes: Vec<String>,
) -> OAuthSpec {
    let public = client.secret.is_none();
    // A configured client that signs its requests keeps doing so; any other client is the
    // AS's own (registered or a metadata document) and authenticates as it said.
    let signing = match &spec.token_auth {
        Some(TokenAuth::PrivateKeyJwt(key)) if client.source == mcp_client::CONFIGURED => {
            Some(TokenAuth::PrivateKeyJwt(key.clone()))
        }
        _ => None,
    };
    OAuthSpec {
        endpoints: Some(endpoints),
        issuer: None,
        client_id: client.id.clone(),
        client_secret: client.secret.clone(),
        scopes,
        // Mandatory in MCP authorization; `require_s256` checked the AS offers it.
        pkce: true,
        extra_params: spec.extra_params.clone(),
        redirect_port: spec.redirect_port,
        token_auth: if signing.is_some() {
            signing
        } else if public {
            Some(TokenAuth::None)
        } else {
            spec.token_auth.clone()
        },
        scope_separator: " ".into(),
        resource,
        mcp: spec.mcp.clone(),
    }
}

pub(crate) fn union(a: &[String], b: &[String]) -> Vec<String> {
    let mut out = a.to_vec();
    for s in b {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}
