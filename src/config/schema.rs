//! The configuration as the rest of the program sees it. These types are deserialized straight
//! from TOML; semantic checks live in `validate.rs` so that serde stays the single source of
//! truth for key names and `deny_unknown_fields` can list the valid keys in its errors.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::duration::{ProbeSchedule, deserialize_duration};
use super::health::{HealthConfig, StoreConfig};
use crate::secret::Secret;

pub use crate::domain::McpTransport;
use crate::domain::Transport;

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub console: ConsoleConfig,
    #[serde(default)]
    pub connectors: Vec<ConnectorConfig>,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[[alerts]]`: channels and their rules (`config/alerts.rs`).
    #[serde(default)]
    pub alerts: Vec<super::alerts::AlertChannel>,
    /// The console's keys: an action name and the key (or keys) that do it, replacing that
    /// action's default keys (`refresh = "F5"`, `quit = ["q", "ctrl-q"]`). Checked by the
    /// console, which knows the actions.
    #[serde(default)]
    pub keys: BTreeMap<String, KeyList>,
    /// The file this was loaded from, so front-ends can say where to go and fix things.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

impl Config {
    pub fn connector(&self, id: &str) -> Option<&ConnectorConfig> {
        self.connectors.iter().find(|c| c.id == id)
    }
}

/// `[metrics]`: where the daemon serves `/metrics`, `/healthz` and `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `"127.0.0.1:9464"`; `daemon --listen` overrides it. Unset: no listener.
    #[serde(default)]
    pub listen: Option<std::net::SocketAddr>,
}

/// One key or several for a `[keys]` action.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum KeyList {
    One(String),
    Many(Vec<String>),
}

impl KeyList {
    pub fn keys(&self) -> Vec<&str> {
        match self {
            KeyList::One(k) => vec![k.as_str()],
            KeyList::Many(ks) => ks.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Name of a skin under `themes/<name>.toml`.
    #[serde(default = "default_theme")]
    pub theme: String,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            theme: default_theme(),
        }
    }
}

fn default_theme() -> String {
    "default".to_owned()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub kind: ConnectorKind,
    #[serde(default)]
    pub mcp: Option<McpConfig>,
    #[serde(default)]
    pub rest: Option<RestConfig>,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    #[serde(default)]
    pub health: HealthConfig,
    /// Labels an `[[alerts]]` channel can select connectors by (`tags = ["prod"]`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Environment variables referenced by ${VAR} in this connector that are unset. Non-empty
    /// means the connector is shown as "not configured: set VAR" while the rest of the fleet runs.
    #[serde(skip)]
    pub missing_env: Vec<String>,
    /// Where the first unset variable is used: "config.toml:14:13: connectors[0].auth.client_id:
    /// environment variable `X` is not set".
    #[serde(skip)]
    pub missing_env_at: Option<String>,
}

impl ConnectorConfig {
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// `None` only for a config validation refuses (kind = "mcp" without its table).
    pub fn transport(&self) -> Option<Transport> {
        match (self.kind, &self.mcp) {
            (ConnectorKind::Mcp, Some(mcp)) => Some(Transport::Mcp(mcp.transport)),
            (ConnectorKind::Mcp, None) => None,
            (ConnectorKind::Rest, _) => Some(Transport::Rest),
        }
    }

    /// True when every `${VAR}` it references is set; the engine skips the others.
    pub fn is_configured(&self) -> bool {
        self.missing_env.is_empty()
    }

    /// `not configured: set A, B` — one wording for the console, the CLI and the logs.
    pub fn not_configured(&self) -> Option<String> {
        (!self.missing_env.is_empty())
            .then(|| format!("not configured: set {}", self.missing_env.join(", ")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectorKind {
    Mcp,
    Rest,
}

impl ConnectorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mcp => "mcp",
            Self::Rest => "rest",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    pub transport: McpTransport,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The MCP revision proposed at `initialize` (e.g. "2025-06-18"); unset: the newest.
    #[serde(default)]
    pub protocol_version: Option<String>,
    /// Roots offered to a server that asks (`roots/list`): URIs, usually `file:///…`.
    #[serde(default)]
    pub roots: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestConfig {
    pub base_url: String,
    #[serde(default = "default_health_path")]
    pub health_path: String,
    /// Empty means any 2xx is healthy.
    #[serde(default)]
    pub expect_status: Vec<u16>,
}

fn default_health_path() -> String {
    "/".to_owned()
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(rename = "type", default)]
    pub kind: AuthType,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub authorize_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub revoke_url: Option<String>,
    #[serde(default)]
    pub device_url: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<Secret>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Static token for `type = "bearer"`.
    #[serde(default)]
    pub token: Option<Secret>,
    /// Loopback redirect listener port; None = ephemeral. Some providers only accept
    /// pre-registered redirect URIs, which pins the port.
    #[serde(default)]
    pub redirect_port: Option<u16>,
    /// Extra authorization request parameters (e.g. audience, prompt).
    #[serde(default)]
    pub extra_params: BTreeMap<String, String>,
    #[serde(default)]
    pub pkce: Option<bool>,
    #[serde(default)]
    pub rotates_refresh_tokens: Option<bool>,
    /// How the client authenticates at the token endpoint; preset, else discovery, else Basic.
    #[serde(default)]
    pub token_auth_method: Option<TokenAuthMethod>,
    /// How scopes are joined on the wire: " " (RFC 6749) or "," (e.g. Slack).
    #[serde(default)]
    pub scope_separator: Option<String>,
    /// `type = "mcp"`: the https URL of a Client ID Metadata Document the operator hosts for
    /// switchboard; used as the client_id when the authorization server supports them.
    #[serde(default)]
    pub client_metadata_url: Option<String>,
    /// `type = "mcp"`: how the token is obtained once discovery found the authorization
    /// server. `client-credentials`: a machine client, no human and no browser.
    #[serde(default)]
    pub grant: Option<Grant>,
    /// `token_auth_method = "private_key_jwt"`: the PEM private key itself, usually
    /// `"${VAR}"`. Exclusive with `private_key_file`.
    #[serde(default)]
    pub private_key: Option<Secret>,
    /// `token_auth_method = "private_key_jwt"`: a file holding the PEM private key; a relative
    /// path is relative to this config file.
    #[serde(default)]
    pub private_key_file: Option<String>,
    /// The key's algorithm, checked against the key: ES256 (P-256) or RS256 (RSA).
    #[serde(default)]
    pub private_key_alg: Option<KeyAlg>,
    /// The `kid` the assertions name, when the AS holds several keys for the client.
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// The assertions' `aud`; default: the token endpoint URL (the AS's issuer for type "mcp").
    #[serde(default)]
    pub assertion_audience: Option<String>,
    /// The key of `private_key` / `private_key_file`, read and checked when the config loads.
    #[serde(skip)]
    pub client_key: Option<std::sync::Arc<crate::auth::client_assertion::ClientKey>>,
}

/// `[connectors.auth] grant` for `type = "mcp"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grant {
    AuthorizationCode,
    ClientCredentials,
}

/// The JWS algorithms switchboard signs client assertions with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum KeyAlg {
    ES256,
    RS256,
}

impl KeyAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
        }
    }
}

/// RFC 8414 `token_endpoint_auth_method` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    None,
    /// RFC 7523 §2.2: a JWT signed with the client's private key, fresh for every request.
    PrivateKeyJwt,
}

impl TokenAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthType {
    #[default]
    None,
    Bearer,
    Oauth2,
    ClientCredentials,
    Mcp,
}

impl AuthType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Bearer => "bearer",
            Self::Oauth2 => "oauth2",
            Self::ClientCredentials => "client-credentials",
            Self::Mcp => "mcp",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    #[serde(default = "default_probe")]
    pub probe: ProbeSchedule,
    /// The least lead before expiry at which a refresh is due; the predictor may go earlier.
    #[serde(
        default = "default_refresh_lead",
        deserialize_with = "deserialize_duration"
    )]
    pub refresh_lead: Duration,
    /// Refresh at least this share of the token's lifetime before expiry.
    #[serde(
        default = "super::health::default_refresh_share",
        deserialize_with = "super::health::refresh_share"
    )]
    pub refresh_share: f64,
    /// Leave room for this many token requests (with backoff, at the endpoint's observed p95)
    /// before expiry; more when the endpoint fails often.
    #[serde(
        default = "super::health::default_refresh_attempts",
        deserialize_with = "super::health::refresh_attempts"
    )]
    pub refresh_attempts: u32,
    /// The provider drops refresh tokens unused this long: refresh before then even when idle.
    #[serde(default, deserialize_with = "super::health::refresh_idle")]
    pub refresh_idle: Option<Duration>,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            probe: default_probe(),
            refresh_lead: default_refresh_lead(),
            refresh_share: super::health::default_refresh_share(),
            refresh_attempts: super::health::default_refresh_attempts(),
            refresh_idle: None,
        }
    }
}

fn default_probe() -> ProbeSchedule {
    ProbeSchedule::Every(Duration::from_secs(30))
}

fn default_refresh_lead() -> Duration {
    Duration::from_secs(5 * 60)
}
