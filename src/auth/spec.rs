//! How a connection gets its credential: resolved once from config (preset merged, variables
//! interpolated), with endpoints discovered from the issuer when they are not spelled out.

use std::time::Duration;

use serde::Deserialize;

use crate::domain::{ErrorClass, Failure};
use crate::secret::Secret;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct OAuthEndpoints {
    pub authorize: Option<String>,
    pub token: String,
    pub revoke: Option<String>,
    pub device: Option<String>,
    /// Send client credentials in the body (client_secret_post) instead of Basic auth.
    pub client_secret_post: bool,
}

#[derive(Debug, Clone)]
pub struct OAuthSpec {
    /// `None` until discovered from `issuer`.
    pub endpoints: Option<OAuthEndpoints>,
    pub issuer: Option<String>,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub scopes: Vec<String>,
    pub pkce: bool,
    /// Extra authorization request parameters (audience, prompt, access_type...).
    pub extra_params: Vec<(String, String)>,
    pub redirect_port: Option<u16>,
    /// How the client authenticates at the token endpoint. `None`: as the discovery metadata
    /// says (client_secret_basic when it allows it), else Basic.
    pub token_auth: Option<TokenAuth>,
    /// Joins `scopes` on the wire: " " per RFC 6749 §3.3, "," for providers that want it.
    pub scope_separator: String,
    /// RFC 8707 resource indicator, sent on the authorization request and on every token
    /// request (code exchange and refresh): the MCP authorization spec requires both.
    pub resource: Option<String>,
    /// Auth type "mcp": endpoints and client come from discovery (see `auth::mcp_auth`), not
    /// from this spec, which then only carries what config says.
    pub mcp: Option<McpServer>,
}

/// What an auth type "mcp" connector discovers its authorization from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServer {
    /// The MCP endpoint (`[connectors.mcp] url`).
    pub url: String,
    /// An https URL where the operator hosts a Client ID Metadata Document for switchboard;
    /// used as the client_id when the AS supports such documents.
    pub client_metadata_url: Option<String>,
}

/// RFC 8414 `token_endpoint_auth_method` values we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAuth {
    ClientSecretBasic,
    ClientSecretPost,
    /// A public client: client_id in the body, no secret sent even if one is configured.
    None,
}

impl OAuthSpec {
    /// The configured endpoints, else the issuer's discovered ones; with the configured token
    /// endpoint auth method applied over whatever discovery suggested.
    pub async fn resolve_endpoints(
        &self,
        http: &reqwest::Client,
    ) -> Result<OAuthEndpoints, Failure> {
        let mut endpoints = match (&self.endpoints, &self.issuer) {
            (Some(e), _) => e.clone(),
            (None, Some(issuer)) => discover(http, issuer).await?,
            (None, None) => {
                return Err(Failure::new(
                    ErrorClass::Config,
                    "no token_url, issuer or provider is configured; set one of them",
                ));
            }
        };
        if let Some(method) = self.token_auth {
            endpoints.client_secret_post = method == TokenAuth::ClientSecretPost;
        }
        Ok(endpoints)
    }

    /// The secret to send, if any: a `none` client sends none.
    pub fn secret(&self) -> Option<&Secret> {
        match self.token_auth {
            Some(TokenAuth::None) => None,
            _ => self.client_secret.as_ref(),
        }
    }

    /// Parameters every token request carries besides the grant's own (RFC 8707 `resource`).
    pub fn token_params(&self) -> Vec<(String, String)> {
        self.resource
            .iter()
            .map(|r| ("resource".to_string(), r.clone()))
            .collect()
    }

    /// The `scope` parameter's value, or `None` when no scopes are configured.
    pub fn scope_param(&self) -> Option<String> {
        (!self.scopes.is_empty()).then(|| self.scopes.join(&self.scope_separator))
    }
}

#[derive(Debug, Clone)]
pub enum AuthSpec {
    None,
    Bearer(Secret),
    /// Authorization code (+ PKCE), then refresh tokens.
    OAuth(OAuthSpec),
    /// Client credentials: "refreshing" is asking for a new token.
    ClientCredentials(OAuthSpec),
}

impl AuthSpec {
    pub fn label(&self) -> &'static str {
        match self {
            AuthSpec::None => "none",
            AuthSpec::Bearer(_) => "bearer",
            AuthSpec::OAuth(s) if s.mcp.is_some() => "mcp",
            AuthSpec::OAuth(_) => "oauth2",
            AuthSpec::ClientCredentials(_) => "client-credentials",
        }
    }

    pub fn oauth(&self) -> Option<&OAuthSpec> {
        match self {
            AuthSpec::OAuth(s) | AuthSpec::ClientCredentials(s) => Some(s),
            _ => None,
        }
    }

    /// Whether tokens come and go (and so the scheduler has deadlines for this connection).
    pub fn is_managed(&self) -> bool {
        self.oauth().is_some()
    }
}

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

    fn spec(token_auth: Option<TokenAuth>) -> OAuthSpec {
        OAuthSpec {
            endpoints: Some(OAuthEndpoints {
                authorize: None,
                token: "https://as.example/token".into(),
                revoke: None,
                device: None,
                client_secret_post: false,
            }),
            issuer: None,
            client_id: "cid".into(),
            client_secret: Some(Secret::from("s3cret")),
            scopes: vec!["a".into(), "b".into()],
            pkce: true,
            extra_params: vec![],
            redirect_port: None,
            token_auth,
            scope_separator: ",".into(),
            resource: None,
            mcp: None,
        }
    }

    #[tokio::test]
    async fn the_configured_auth_method_decides_how_the_secret_travels() {
        let http = reqwest::Client::new();
        let post = spec(Some(TokenAuth::ClientSecretPost));
        assert!(
            post.resolve_endpoints(&http)
                .await
                .unwrap()
                .client_secret_post
        );
        assert!(post.secret().is_some());
        let basic = spec(Some(TokenAuth::ClientSecretBasic));
        assert!(
            !basic
                .resolve_endpoints(&http)
                .await
                .unwrap()
                .client_secret_post
        );
        let public = spec(Some(TokenAuth::None));
        assert!(public.secret().is_none(), "a `none` client sends no secret");
        assert_eq!(public.scope_param().as_deref(), Some("a,b"));
    }

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
