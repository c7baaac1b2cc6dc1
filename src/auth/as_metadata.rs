//! RFC 8414 authorization server metadata: what switchboard reads of it, and discovery at an
//! issuer's well-known URLs (RFC 8414, then OpenID Connect, in the MCP authorization spec's
//! order).

use std::time::Duration;

use serde::Deserialize;

use super::spec::OAuthEndpoints;
use crate::domain::{ErrorClass, Failure};

/// RFC 8414 authorization server metadata: the fields switchboard reads.
#[derive(Debug, Clone, Deserialize)]
pub struct AsMetadata {
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: String,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
    /// RFC 7591 dynamic client registration.
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document).
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
}

impl AsMetadata {
    pub fn endpoints(&self) -> OAuthEndpoints {
        let basic = self.token_endpoint_auth_methods_supported.is_empty()
            || self
                .token_endpoint_auth_methods_supported
                .iter()
                .any(|m| m == "client_secret_basic");
        OAuthEndpoints {
            authorize: self.authorization_endpoint.clone(),
            token: self.token_endpoint.clone(),
            revoke: self.revocation_endpoint.clone(),
            device: self.device_authorization_endpoint.clone(),
            client_secret_post: !basic,
        }
    }
}

/// RFC 8414 first, then OpenID Connect discovery, both at the issuer's well-known paths.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<OAuthEndpoints, Failure> {
    discover_metadata(http, issuer).await.map(|m| m.endpoints())
}

/// The issuer's metadata, trying the well-known URLs in the MCP authorization spec's order:
/// for an issuer with a path, RFC 8414 with the path appended to the well-known segment, then
/// OpenID Connect the same way, then OpenID Connect with the well-known segment appended to
/// the path; without a path, RFC 8414 then OpenID Connect.
pub async fn discover_metadata(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<AsMetadata, Failure> {
    crate::net::require_secure(issuer, "the issuer", issuer)
        .map_err(|m| Failure::new(ErrorClass::Config, m))?;
    let base = issuer.trim_end_matches('/');
    let mut last = Failure::new(
        ErrorClass::Config,
        format!("no metadata found for issuer {issuer}"),
    );
    for url in metadata_urls(issuer) {
        let resp = match http.get(&url).timeout(Duration::from_secs(10)).send().await {
            Ok(r) => r,
            Err(e) => {
                last = crate::classify::classify_reqwest(&e);
                last.message = format!("discovery at {url} failed: {}", last.message);
                continue;
            }
        };
        if !resp.status().is_success() {
            last = Failure::new(
                ErrorClass::Config,
                format!(
                    "discovery at {url} answered HTTP {}",
                    resp.status().as_u16()
                ),
            );
            continue;
        }
        let body = match crate::net::read_capped(
            resp,
            crate::net::METADATA_BODY_CAP,
            &format!("the metadata at {url}"),
        )
        .await
        {
            Ok(b) => b,
            Err(f) => {
                last = f;
                continue;
            }
        };
        let meta: AsMetadata = match serde_json::from_slice(&body) {
            Ok(m) => m,
            Err(e) => {
                last = Failure::new(
                    ErrorClass::Protocol,
                    format!("discovery at {url}: not metadata JSON ({e})"),
                );
                continue;
            }
        };
        if let Some(found) = &meta.issuer
            && found.trim_end_matches('/') != base
        {
            // RFC 8414 §3.3: a mismatched issuer means the document is not for this issuer.
            return Err(Failure::new(
                ErrorClass::Config,
                format!(
                    "discovery at {url} names issuer {found}, not {issuer}; check the issuer setting"
                ),
            ));
        }
        meta.require_secure(&url)?;
        return Ok(meta);
    }
    Err(last)
}

impl AsMetadata {
    /// RFC 8414 §2 requires https endpoints; a document naming http ones (a stale proxy, a
    /// hostile answer) would have switchboard send codes, refresh tokens and client secrets in
    /// the clear, so it is refused as a whole rather than partly used.
    pub fn require_secure(&self, url: &str) -> Result<(), Failure> {
        let endpoints = [
            ("token_endpoint", Some(&self.token_endpoint)),
            (
                "authorization_endpoint",
                self.authorization_endpoint.as_ref(),
            ),
            ("revocation_endpoint", self.revocation_endpoint.as_ref()),
            (
                "device_authorization_endpoint",
                self.device_authorization_endpoint.as_ref(),
            ),
            ("registration_endpoint", self.registration_endpoint.as_ref()),
        ];
        for (name, value) in endpoints {
            if let Some(value) = value {
                crate::net::require_secure(value, &format!("its {name}"), value).map_err(|m| {
                    Failure::new(
                        ErrorClass::Config,
                        format!("the metadata at {url} is refused: {m}; the authorization server's operator must publish https endpoints"),
                    )
                })?;
            }
        }
        Ok(())
    }
}

fn metadata_urls(issuer: &str) -> Vec<String> {
    let base = issuer.trim_end_matches('/');
    let has_path = url::Url::parse(issuer)
        .map(|u| !u.path().trim_end_matches('/').is_empty())
        .unwrap_or(false);
    if has_path {
        vec![
            well_known(issuer, "oauth-authorization-server"),
            well_known(issuer, "openid-configuration"),
            format!("{base}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{base}/.well-known/oauth-authorization-server"),
            format!("{base}/.well-known/openid-configuration"),
        ]
    }
}

/// RFC 8414 §3.1: the well-known segment goes between host and path.
pub(crate) fn well_known(issuer: &str, name: &str) -> String {
    match url::Url::parse(issuer) {
        Ok(u) if u.path() != "/" && !u.path().is_empty() => {
            let origin = u.origin().ascii_serialization();
            format!(
                "{origin}/.well-known/{name}{}",
                u.path().trim_end_matches('/')
            )
        }
        _ => format!("{}/.well-known/{name}", issuer.trim_end_matches('/')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_goes_before_the_issuer_path() {
        assert_eq!(
            well_known("https://as.example.com", "oauth-authorization-server"),
            "https://as.example.com/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            well_known(
                "https://as.example.com/tenant1/",
                "oauth-authorization-server"
            ),
            "https://as.example.com/.well-known/oauth-authorization-server/tenant1"
        );
    }

    #[test]
    fn metadata_urls_follow_the_mcp_order() {
        assert_eq!(
            metadata_urls("https://as.example.com/tenant1"),
            [
                "https://as.example.com/.well-known/oauth-authorization-server/tenant1",
                "https://as.example.com/.well-known/openid-configuration/tenant1",
                "https://as.example.com/tenant1/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            metadata_urls("https://as.example.com/"),
            [
                "https://as.example.com/.well-known/oauth-authorization-server",
                "https://as.example.com/.well-known/openid-configuration",
            ]
        );
    }
}
