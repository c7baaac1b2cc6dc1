//! MCP authorization as the 2025-03-26 revision had it, for servers that publish no RFC 9728
//! protected-resource metadata (still common): the authorization server is the MCP server's
//! own origin (its path discarded), its RFC 8414 metadata sits at that origin's well-known URL,
//! and when there is none the default endpoints `/authorize`, `/token` and `/register` there
//! are used. No resource indicator is sent: that revision had none, and an older AS may refuse
//! one it does not know (`invalid_target`).

use std::time::Duration;

use super::spec::AsMetadata;
use crate::domain::{ErrorClass, Failure};

const TIMEOUT: Duration = Duration::from_secs(10);

/// The issuer (the metadata's, else the origin) and metadata for `server` per 2025-03-26.
pub async fn discover(
    http: &reqwest::Client,
    server: &str,
) -> Result<(String, AsMetadata), Failure> {
    let origin = origin(server)?;
    let url = format!("{origin}/.well-known/oauth-authorization-server");
    let resp = http.get(&url).timeout(TIMEOUT).send().await.map_err(|e| {
        let mut f = crate::classify::classify_reqwest(&e);
        f.message = format!("authorization server metadata at {url}: {}", f.message);
        f
    })?;
    let status = resp.status().as_u16();
    if status == 404 {
        tracing::info!(
            "{server}: no authorization server metadata at {url}; using the 2025-03-26 default endpoints"
        );
        return defaults(&origin);
    }
    if !resp.status().is_success() {
        return Err(Failure::new(
            ErrorClass::Config,
            format!(
                "{server} publishes no protected-resource metadata, and its authorization server metadata at {url} answered HTTP {status}; the server's authorization setup is broken — ask its operator, or use type = \"oauth2\" with explicit endpoints"
            ),
        ));
    }
    let what = format!("the authorization server metadata at {url}");
    let body = crate::net::read_capped(resp, crate::net::METADATA_BODY_CAP, &what).await?;
    let metadata: AsMetadata = serde_json::from_slice(&body).map_err(|e| {
        Failure::new(
            ErrorClass::Protocol,
            format!("{url} is not authorization server metadata ({e}); the MCP server's authorization setup is broken"),
        )
    })?;
    metadata.require_secure(&url)?;
    // The document was found at the MCP server's origin rather than derived from an issuer, so
    // there is no issuer to hold it to (RFC 8414 §3.3); its own name identifies the AS.
    let issuer = metadata.issuer.clone().unwrap_or_else(|| origin.clone());
    Ok((issuer, metadata))
}

/// The MCP server's origin: 2025-03-26 discards the path to find the authorization base URL.
fn origin(server: &str) -> Result<String, Failure> {
    let url = url::Url::parse(server).map_err(|e| {
        Failure::new(
            ErrorClass::Config,
            format!("the MCP url {server:?} is not a URL: {e}"),
        )
    })?;
    Ok(url.origin().ascii_serialization())
}

/// 2025-03-26's fallback endpoints. PKCE was already mandatory for its clients, so S256 is
/// assumed rather than refused for want of a document saying so.
fn defaults(origin: &str) -> Result<(String, AsMetadata), Failure> {
    crate::net::require_secure(
        origin,
        "the MCP server's default authorization endpoints",
        origin,
    )
    .map_err(|m| Failure::new(ErrorClass::Config, m))?;
    let metadata = AsMetadata {
        issuer: None,
        authorization_endpoint: Some(format!("{origin}/authorize")),
        token_endpoint: format!("{origin}/token"),
        revocation_endpoint: None,
        device_authorization_endpoint: None,
        registration_endpoint: Some(format!("{origin}/register")),
        token_endpoint_auth_methods_supported: Vec::new(),
        code_challenge_methods_supported: vec!["S256".into()],
        client_id_metadata_document_supported: false,
    };
    Ok((origin.to_string(), metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_sit_at_the_origin_with_the_path_discarded() {
        let (issuer, m) = defaults(&origin("https://mcp.example.com/v1/mcp").unwrap()).unwrap();
        assert_eq!(issuer, "https://mcp.example.com");
        assert_eq!(
            m.authorization_endpoint.as_deref(),
            Some("https://mcp.example.com/authorize")
        );
        assert_eq!(m.token_endpoint, "https://mcp.example.com/token");
        assert_eq!(
            m.registration_endpoint.as_deref(),
            Some("https://mcp.example.com/register")
        );
        assert!(
            defaults("http://mcp.example.com").is_err(),
            "plain http off loopback"
        );
    }
}
