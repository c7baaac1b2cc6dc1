//! Provider presets: the endpoints and quirks of well-known OAuth providers, so a connector can
//! say `provider = "google"` instead of five URLs. Explicit keys in the config always win.
//!
//! Entries marked `// unverified` were not checked against the provider's current docs; fix
//! them here when a real flow proves otherwise.

use std::collections::BTreeMap;

use super::schema::{AuthConfig, AuthType, TokenAuthMethod};
use crate::secret::Secret;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    pub authorize_url: &'static str,
    pub token_url: &'static str,
    pub revoke_url: Option<&'static str>,
    pub device_url: Option<&'static str>,
    pub scopes: &'static [&'static str],
    pub extra_params: &'static [(&'static str, &'static str)],
    pub pkce: bool,
    /// Each refresh returns a new refresh token and invalidates the old one, so the new one
    /// must be persisted before anything else happens.
    pub rotates_refresh_tokens: bool,
    /// How the client authenticates at the token endpoint.
    pub token_auth_method: TokenAuthMethod,
    /// Joins scopes in requests: " " per RFC 6749, "," where the provider insists.
    pub scope_separator: &'static str,
}

const PRESETS: &[Preset] = &[
    Preset {
        name: "atlassian",
        authorize_url: "https://auth.atlassian.com/authorize",
        token_url: "https://auth.atlassian.com/oauth/token",
        revoke_url: None,
        device_url: None,
        // Without offline_access Atlassian issues no refresh token.
        scopes: &["offline_access"],
        extra_params: &[("audience", "api.atlassian.com"), ("prompt", "consent")],
        pkce: true, // unverified: Atlassian 3LO documents client_secret, PKCE support unclear
        rotates_refresh_tokens: true,
        token_auth_method: TokenAuthMethod::ClientSecretPost,
        scope_separator: " ",
    },
    Preset {
        name: "google",
        authorize_url: "https://accounts.google.com/o/oauth2/v2/auth",
        token_url: "https://oauth2.googleapis.com/token",
        revoke_url: Some("https://oauth2.googleapis.com/revoke"),
        device_url: Some("https://oauth2.googleapis.com/device/code"),
        scopes: &["openid", "email"],
        // Google only returns a refresh token with offline access, and only on consent.
        extra_params: &[("access_type", "offline"), ("prompt", "consent")],
        pkce: true,
        rotates_refresh_tokens: false,
        token_auth_method: TokenAuthMethod::ClientSecretPost,
        scope_separator: " ",
    },
    Preset {
        name: "microsoft",
        authorize_url: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        token_url: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
        revoke_url: None, // Microsoft identity platform has no RFC 7009 endpoint
        device_url: Some("https://login.microsoftonline.com/common/oauth2/v2.0/devicecode"),
        scopes: &["offline_access", "User.Read"],
        extra_params: &[],
        pkce: true,
        rotates_refresh_tokens: true,
        token_auth_method: TokenAuthMethod::ClientSecretPost,
        scope_separator: " ",
    },
    Preset {
        name: "slack",
        authorize_url: "https://slack.com/oauth/v2/authorize",
        token_url: "https://slack.com/api/oauth.v2.access",
        revoke_url: Some("https://slack.com/api/auth.revoke"),
        device_url: None,
        scopes: &[],
        extra_params: &[],
        pkce: false, // unverified
        // Only when token rotation is enabled for the app; set the key explicitly then.
        rotates_refresh_tokens: false,
        // oauth.v2.access also takes Basic; v2 bot and user scopes are comma-separated.
        token_auth_method: TokenAuthMethod::ClientSecretPost,
        scope_separator: ",",
    },
    Preset {
        name: "github",
        authorize_url: "https://github.com/login/oauth/authorize",
        token_url: "https://github.com/login/oauth/access_token",
        // Revocation is `DELETE /applications/{client_id}/grant`, not RFC 7009.
        revoke_url: None,
        device_url: Some("https://github.com/login/device/code"),
        scopes: &["read:user"],
        extra_params: &[],
        pkce: true, // unverified: announced for OAuth and GitHub Apps in 2025
        // GitHub Apps with expiring user tokens rotate; classic OAuth App tokens never expire.
        rotates_refresh_tokens: true,
        token_auth_method: TokenAuthMethod::ClientSecretPost,
        scope_separator: " ",
    },
    Preset {
        name: "notion",
        authorize_url: "https://api.notion.com/v1/oauth/authorize",
        token_url: "https://api.notion.com/v1/oauth/token",
        revoke_url: Some("https://api.notion.com/v1/oauth/revoke"), // unverified
        device_url: None,
        scopes: &[],
        extra_params: &[("owner", "user")],
        pkce: false,                   // unverified
        rotates_refresh_tokens: false, // unverified
        // Notion documents Basic auth for its token endpoint.
        token_auth_method: TokenAuthMethod::ClientSecretBasic,
        scope_separator: " ",
    },
    Preset {
        name: "zoom",
        authorize_url: "https://zoom.us/oauth/authorize",
        token_url: "https://zoom.us/oauth/token",
        revoke_url: Some("https://zoom.us/oauth/revoke"),
        device_url: Some("https://zoom.us/oauth/devicecode"), // unverified
        scopes: &[],
        extra_params: &[],
        pkce: true,
        rotates_refresh_tokens: true,
        token_auth_method: TokenAuthMethod::ClientSecretBasic,
        scope_separator: " ",
    },
    Preset {
        name: "discord",
        authorize_url: "https://discord.com/oauth2/authorize",
        token_url: "https://discord.com/api/oauth2/token",
        revoke_url: Some("https://discord.com/api/oauth2/token/revoke"),
        device_url: None,
        scopes: &["identify"],
        extra_params: &[],
        pkce: false,                  // unverified
        rotates_refresh_tokens: true, // unverified
        token_auth_method: TokenAuthMethod::ClientSecretBasic,
        scope_separator: " ",
    },
    Preset {
        name: "paypal",
        // The sandbox: PayPal connectors here are for testing (seed 000's sandbox MCP server).
        authorize_url: "https://www.sandbox.paypal.com/signin/authorize", // unverified
        token_url: "https://api-m.sandbox.paypal.com/v1/oauth2/token",
        revoke_url: Some("https://api-m.sandbox.paypal.com/v1/oauth2/token/terminate"), // unverified
        device_url: None,
        scopes: &["openid"],
        extra_params: &[],
        pkce: false,
        rotates_refresh_tokens: false,
        token_auth_method: TokenAuthMethod::ClientSecretBasic,
        scope_separator: " ",
    },
    Preset {
        name: "cloudflare",
        authorize_url: "https://dash.cloudflare.com/oauth2/auth", // unverified (wrangler's)
        token_url: "https://dash.cloudflare.com/oauth2/token",    // unverified (wrangler's)
        revoke_url: Some("https://dash.cloudflare.com/oauth2/revoke"), // unverified
        device_url: None,
        scopes: &["offline_access"],
        extra_params: &[],
        pkce: true,
        rotates_refresh_tokens: true, // unverified
        // Wrangler's client is public: PKCE, no secret.
        token_auth_method: TokenAuthMethod::None,
        scope_separator: " ",
    },
    Preset {
        name: "monday",
        authorize_url: "https://auth.monday.com/oauth2/authorize",
        token_url: "https://auth.monday.com/oauth2/token",
        revoke_url: None,
        device_url: None,
        scopes: &[],
        extra_params: &[],
        pkce: false,                   // unverified
        rotates_refresh_tokens: false, // monday tokens do not expire
        token_auth_method: TokenAuthMethod::ClientSecretPost,
        scope_separator: " ",
    },
    Preset {
        name: "loom",
        authorize_url: "https://www.loom.com/oauth2/authorize", // unverified
        token_url: "https://www.loom.com/oauth2/token",         // unverified
        revoke_url: None,
        device_url: None,
        scopes: &[],
        extra_params: &[],
        pkce: true,                    // unverified
        rotates_refresh_tokens: false, // unverified
        // unverified
        token_auth_method: TokenAuthMethod::ClientSecretPost,
        scope_separator: " ",
    },
];

pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

pub fn preset_names() -> impl Iterator<Item = &'static str> {
    PRESETS.iter().map(|p| p.name)
}

/// Auth settings with the preset merged in: what the auth module actually uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedAuth {
    pub kind: AuthType,
    pub provider: Option<String>,
    pub issuer: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub revoke_url: Option<String>,
    pub device_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub scopes: Vec<String>,
    pub token: Option<Secret>,
    pub redirect_port: Option<u16>,
    pub extra_params: BTreeMap<String, String>,
    pub pkce: bool,
    pub rotates_refresh_tokens: bool,
    /// `None`: stated by neither config nor preset; discovery metadata decides.
    pub token_auth_method: Option<TokenAuthMethod>,
    pub scope_separator: String,
    pub client_metadata_url: Option<String>,
    pub grant: Option<super::schema::Grant>,
    /// private_key_jwt's key, read when the config loaded.
    pub client_key: Option<std::sync::Arc<crate::auth::client_assertion::ClientKey>>,
}

impl AuthConfig {
    /// Merges the provider preset under the explicit keys. Scopes are replaced, not merged:
    /// a user listing scopes means exactly those. Without a preset, PKCE defaults on (it costs
    /// nothing and public clients need it) and rotation defaults off.
    pub fn resolved(&self) -> ResolvedAuth {
        let p = self.provider.as_deref().and_then(preset);
        let pick = |explicit: &Option<String>, from: Option<&'static str>| {
            explicit.clone().or_else(|| from.map(str::to_owned))
        };
        let mut extra_params: BTreeMap<String, String> = p
            .map(|p| p.extra_params)
            .unwrap_or_default()
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        extra_params.extend(self.extra_params.clone());
        let scopes = if self.scopes.is_empty() {
            p.map(|p| p.scopes.iter().map(|s| (*s).to_owned()).collect())
                .unwrap_or_default()
        } else {
            self.scopes.clone()
        };
        ResolvedAuth {
            kind: self.kind,
            provider: self.provider.clone(),
            issuer: self.issuer.clone(),
            authorize_url: pick(&self.authorize_url, p.map(|p| p.authorize_url)),
            token_url: pick(&self.token_url, p.map(|p| p.token_url)),
            revoke_url: pick(&self.revoke_url, p.and_then(|p| p.revoke_url)),
            device_url: pick(&self.device_url, p.and_then(|p| p.device_url)),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            scopes,
            token: self.token.clone(),
            redirect_port: self.redirect_port,
            extra_params,
            pkce: self.pkce.or(p.map(|p| p.pkce)).unwrap_or(true),
            rotates_refresh_tokens: self
                .rotates_refresh_tokens
                .or(p.map(|p| p.rotates_refresh_tokens))
                .unwrap_or(false),
            // A preset's public client ("none") yields to a configured secret: whoever set one
            // registered a confidential client, and dropping the secret would fail every request.
            token_auth_method: self.token_auth_method.or(p
                .map(|p| p.token_auth_method)
                .filter(|m| !(*m == TokenAuthMethod::None && self.client_secret.is_some()))),
            scope_separator: self
                .scope_separator
                .clone()
                .or_else(|| p.map(|p| p.scope_separator.to_owned()))
                .unwrap_or_else(|| " ".to_owned()),
            client_metadata_url: self.client_metadata_url.clone(),
            grant: self.grant,
            client_key: self.client_key.clone(),
        }
    }
}
