//! How a connection gets its credential: resolved once from config (preset merged, variables
//! interpolated), with endpoints discovered from the issuer when they are not spelled out.

use std::sync::Arc;

use serde::Deserialize;

pub use super::client_assertion::{Assertion, ClientKey};
use crate::domain::{AuthKind, ErrorClass, Failure};
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenAuth {
    ClientSecretBasic,
    ClientSecretPost,
    /// A public client: client_id in the body, no secret sent even if one is configured.
    None,
    /// RFC 7523 §2.2: every token request carries a fresh assertion signed with this key; no
    /// secret is sent even if one is configured.
    PrivateKeyJwt(Arc<ClientKey>),
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
        if let Some(method) = &self.token_auth {
            // A signing client names itself in the body, next to its assertion.
            endpoints.client_secret_post = matches!(
                method,
                TokenAuth::ClientSecretPost | TokenAuth::PrivateKeyJwt(_)
            );
        }
        Ok(endpoints)
    }

    /// The secret to send, if any: a `none` client sends none, nor does one that signs.
    pub fn secret(&self) -> Option<&Secret> {
        match self.token_auth {
            Some(TokenAuth::None | TokenAuth::PrivateKeyJwt(_)) => None,
            _ => self.client_secret.as_ref(),
        }
    }

    /// How this client signs its token requests at `endpoints`, when it uses private_key_jwt.
    /// The audience: the key's configured one, else the AS's issuer for auth type "mcp" (what
    /// the MCP machine-to-machine extension checks), else the token endpoint URL (what Okta,
    /// Entra ID, Auth0 and Keycloak check; RFC 7523 §3 allows either).
    pub fn assertion(&self, endpoints: &OAuthEndpoints) -> Option<Assertion> {
        self.assertion_to(&endpoints.token)
    }

    /// As [`assertion`](Self::assertion), for a request to `endpoint` (a device authorization
    /// or revocation endpoint takes assertions addressed to itself, as Okta documents).
    pub fn assertion_to(&self, endpoint: &str) -> Option<Assertion> {
        let Some(TokenAuth::PrivateKeyJwt(key)) = &self.token_auth else {
            return None;
        };
        let default = match (&self.mcp, &self.issuer) {
            (Some(_), Some(issuer)) => issuer.as_str(),
            _ => endpoint,
        };
        Some(Assertion::new(key.clone(), &self.client_id, default))
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
    pub fn kind(&self) -> AuthKind {
        match self {
            AuthSpec::None => AuthKind::None,
            AuthSpec::Bearer(_) => AuthKind::Bearer,
            AuthSpec::OAuth(s) if s.mcp.is_some() => AuthKind::Mcp,
            AuthSpec::OAuth(_) => AuthKind::OAuth2,
            AuthSpec::ClientCredentials(_) => AuthKind::ClientCredentials,
        }
    }

    pub fn label(&self) -> &'static str {
        self.kind().label()
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

pub use super::as_metadata::{AsMetadata, discover, discover_metadata};

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

    fn signing(audience: Option<&str>) -> TokenAuth {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let der =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("a key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.as_ref())
            .expect("the key");
        TokenAuth::PrivateKeyJwt(Arc::new(ClientKey {
            key: super::super::client_assertion::SigningKey::Es256(pair),
            kid: Some("k1".into()),
            audience: audience.map(str::to_string),
        }))
    }

    fn claims(params: &[(String, String)]) -> serde_json::Value {
        use base64::Engine as _;
        let jwt = &params
            .iter()
            .find(|(k, _)| k == "client_assertion")
            .expect("an assertion")
            .1;
        let body = jwt.split('.').nth(1).expect("claims");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .expect("base64");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    #[tokio::test]
    async fn a_signing_client_sends_no_secret_and_addresses_the_right_audience() {
        let http = reqwest::Client::new();
        let plain = spec(Some(signing(None)));
        assert!(plain.secret().is_none(), "the configured secret stays home");
        let endpoints = plain.resolve_endpoints(&http).await.unwrap();
        assert!(endpoints.client_secret_post, "client_id goes in the body");
        let a = plain.assertion(&endpoints).expect("signs");
        let (first, second) = (a.params().unwrap(), a.params().unwrap());
        assert_eq!(claims(&first)["aud"], "https://as.example/token");
        assert_eq!(claims(&first)["iss"], "cid");
        assert_ne!(
            claims(&first)["jti"],
            claims(&second)["jti"],
            "fresh each time"
        );

        // Type "mcp": the AS's issuer; a configured audience wins over both.
        let mut mcp = spec(Some(signing(None)));
        mcp.issuer = Some("https://as.example".into());
        mcp.mcp = Some(McpServer {
            url: "https://mcp.example/mcp".into(),
            client_metadata_url: None,
        });
        let a = mcp.assertion(&endpoints).unwrap();
        assert_eq!(claims(&a.params().unwrap())["aud"], "https://as.example");
        let custom = spec(Some(signing(Some("urn:example:as"))));
        let a = custom.assertion_to("https://as.example/revoke").unwrap();
        assert_eq!(claims(&a.params().unwrap())["aud"], "urn:example:as");
        let revoke = plain.assertion_to("https://as.example/revoke").unwrap();
        assert_eq!(
            claims(&revoke.params().unwrap())["aud"],
            "https://as.example/revoke"
        );
        assert!(spec(None).assertion(&endpoints).is_none());
    }
}
