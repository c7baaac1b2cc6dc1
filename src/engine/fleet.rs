//! The fleet as the engine sees it: one `ConnectorSpec` per configured connector, resolved from
//! config once (preset merged, variables interpolated), with no config types past this point.

use std::time::Duration;

use crate::auth::{AuthSpec, McpServer, OAuthEndpoints, OAuthSpec, TokenAuth};
use crate::config::{
    AuthType, Config, ConnectorConfig, ConnectorKind, Grant, McpTransport, ProbeSchedule,
    TokenAuthMethod,
};
use crate::domain::Transport;
use crate::health::HealthSpec;
use crate::health::machine::{Backoff, Thresholds};
use crate::health::predict::RefreshPolicy;
use crate::mcp::Target;
use crate::probe::{ProbePlan, ProbeRoute, RestTarget};

pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct ConnectorSpec {
    pub id: String,
    pub name: String,
    pub auth: AuthSpec,
    pub plan: ProbePlan,
    pub probe: ProbeSchedule,
    pub refresh_lead: Duration,
    /// Hysteresis, probe backoff and the refresh policy (`[connectors.health]`, `schedule`).
    pub health: HealthSpec,
    /// Non-empty: shown as "not configured: set VAR" and never probed or refreshed.
    pub missing_env: Vec<String>,
    /// Set when the spec could not be built (e.g. a bad URL); shown like missing_env.
    pub problem: Option<String>,
    /// `[connectors.mcp] protocol_version`: the revision proposed at `initialize`.
    pub protocol_version: Option<rmcp::model::ProtocolVersion>,
    /// `[connectors.mcp] roots`: offered to servers that ask (`roots/list`).
    pub roots: Vec<String>,
}

/// Every connector's spec, by id. A spec is about a kilobyte inline; a `HashMap` of them
/// keeps a third of its buckets empty at that size, so the specs sit in a `Vec` and the map
/// holds only positions (10,000 connectors: 12 MB instead of 20).
#[derive(Debug, Default)]
pub struct Specs {
    all: Vec<ConnectorSpec>,
    by_id: std::collections::HashMap<String, usize>,
}

impl Specs {
    pub fn new(all: Vec<ConnectorSpec>) -> Self {
        let by_id = all
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        Specs { all, by_id }
    }

    pub fn get(&self, id: &str) -> Option<&ConnectorSpec> {
        self.all.get(*self.by_id.get(id)?)
    }

    pub fn contains_key(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &String> {
        self.all.iter().map(|s| &s.id)
    }
}

impl ConnectorSpec {
    pub fn transport(&self) -> Transport {
        self.plan.route.transport()
    }

    /// The probe interval the breaker's backoff starts from; a cron schedule counts as a minute.
    pub fn probe_interval_ms(&self) -> i64 {
        match &self.probe {
            ProbeSchedule::Every(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            ProbeSchedule::Cron(_) => 60_000,
        }
    }

    pub fn backoff(&self) -> Backoff {
        self.health.backoff(self.probe_interval_ms())
    }

    pub fn refresh_policy(&self) -> RefreshPolicy {
        self.health
            .policy(i64::try_from(self.refresh_lead.as_millis()).unwrap_or(i64::MAX))
    }

    pub fn runnable(&self) -> bool {
        self.missing_env.is_empty() && self.problem.is_none()
    }
}

pub fn from_config(config: &Config) -> Vec<ConnectorSpec> {
    config.connectors.iter().map(connector_spec).collect()
}

fn connector_spec(c: &ConnectorConfig) -> ConnectorSpec {
    let mcp = match (&c.kind, &c.mcp) {
        (ConnectorKind::Mcp, Some(m)) => Some(match m.transport {
            McpTransport::StreamableHttp => Target::StreamableHttp {
                url: m.url.clone().unwrap_or_default(),
            },
            McpTransport::Sse => Target::Sse {
                url: m.url.clone().unwrap_or_default(),
            },
            McpTransport::Stdio => Target::Stdio {
                command: m.command.clone().unwrap_or_default(),
                args: m.args.clone(),
                env: m.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            },
        }),
        _ => None,
    };
    let rest = c.rest.as_ref().map(|r| RestTarget {
        url: join_url(&r.base_url, &r.health_path),
        expect_status: r.expect_status.clone(),
    });
    let (auth, mut problem) = match auth_spec(c) {
        Ok(a) => (a, None),
        Err(p) => (AuthSpec::None, Some(p)),
    };
    let route = match (mcp, rest) {
        (Some(target), fallback) => ProbeRoute::Mcp { target, fallback },
        (None, Some(rest)) => ProbeRoute::Rest(rest),
        // Validation refuses such a config; the problem keeps this one from being probed.
        (None, None) => {
            problem = Some("nothing to probe: add [connectors.mcp] or [connectors.rest]".into());
            ProbeRoute::Rest(RestTarget {
                url: String::new(),
                expect_status: Vec::new(),
            })
        }
    };
    ConnectorSpec {
        id: c.id.clone(),
        name: c.display_name().to_string(),
        auth,
        plan: ProbePlan {
            route,
            timeout: PROBE_TIMEOUT,
        },
        probe: c.schedule.probe.clone(),
        refresh_lead: c.schedule.refresh_lead,
        health: HealthSpec {
            thresholds: Thresholds {
                down_after: c.health.down_after,
                up_after: c.health.up_after,
            },
            max_backoff_ms: ms(c.health.max_backoff),
            refresh_share: c.schedule.refresh_share,
            refresh_attempts: c.schedule.refresh_attempts,
            refresh_idle_ms: c.schedule.refresh_idle.map(ms),
        },
        missing_env: c.missing_env.clone(),
        problem,
        // Validation refused a revision switchboard does not speak, so none is dropped here.
        protocol_version: c
            .mcp
            .as_ref()
            .and_then(|m| m.protocol_version.as_deref())
            .and_then(|v| crate::toolkit::protocol::parse(v).ok()),
        roots: c.mcp.as_ref().map(|m| m.roots.clone()).unwrap_or_default(),
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn auth_spec(c: &ConnectorConfig) -> Result<AuthSpec, String> {
    let r = c.auth.resolved();
    let base = base_spec(&r);
    let oauth = || -> Result<OAuthSpec, String> {
        let endpoints = match (&r.token_url, &r.issuer) {
            (Some(token), _) => Some(OAuthEndpoints {
                authorize: r.authorize_url.clone(),
                token: token.clone(),
                revoke: r.revoke_url.clone(),
                device: r.device_url.clone(),
                // `resolve_endpoints` applies the configured method over this.
                client_secret_post: false,
            }),
            (None, Some(_)) => None,
            (None, None) => return Err("set token_url, issuer or provider".into()),
        };
        Ok(OAuthSpec {
            endpoints,
            issuer: r.issuer.clone(),
            client_id: r.client_id.clone().ok_or("set client_id")?,
            ..base.clone()
        })
    };
    Ok(match r.kind {
        AuthType::None => AuthSpec::None,
        AuthType::Bearer => AuthSpec::Bearer(r.token.clone().ok_or("set token")?),
        AuthType::Oauth2 => AuthSpec::OAuth(oauth()?),
        AuthType::ClientCredentials => AuthSpec::ClientCredentials(oauth()?),
        // Everything else comes from MCP authorization discovery at `switchboard auth`
        // (auth::mcp_auth); a configured client_id is a pre-registered client.
        AuthType::Mcp => {
            let url = c
                .mcp
                .as_ref()
                .and_then(|m| m.url.clone())
                .ok_or("type = \"mcp\" needs [connectors.mcp] url")?;
            let spec = OAuthSpec {
                client_id: r.client_id.clone().unwrap_or_default(),
                mcp: Some(McpServer {
                    url,
                    client_metadata_url: r.client_metadata_url.clone(),
                }),
                ..base
            };
            // A machine client: the broker discovers and requests tokens on its own.
            if r.grant == Some(Grant::ClientCredentials) {
                AuthSpec::ClientCredentials(spec)
            } else {
                AuthSpec::OAuth(spec)
            }
        }
    })
}

/// The OAuth settings every type shares; endpoints and client_id are the types' own business.
fn base_spec(r: &crate::config::ResolvedAuth) -> OAuthSpec {
    OAuthSpec {
        endpoints: None,
        issuer: None,
        client_id: String::new(),
        client_secret: r.client_secret.clone(),
        scopes: r.scopes.clone(),
        pkce: r.pkce,
        extra_params: r
            .extra_params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        redirect_port: r.redirect_port,
        token_auth: r.token_auth_method.and_then(|m| match m {
            TokenAuthMethod::ClientSecretBasic => Some(TokenAuth::ClientSecretBasic),
            TokenAuthMethod::ClientSecretPost => Some(TokenAuth::ClientSecretPost),
            TokenAuthMethod::None => Some(TokenAuth::None),
            // The config loader read the key; only a connector still waiting for its
            // `${VAR}` has none, and it is never run.
            TokenAuthMethod::PrivateKeyJwt => r.client_key.clone().map(TokenAuth::PrivateKeyJwt),
        }),
        scope_separator: r.scope_separator.clone(),
        resource: None,
        mcp: None,
    }
}

fn join_url(base: &str, path: &str) -> String {
    if path.is_empty() {
        return base.to_string();
    }
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_base_and_path_with_one_slash() {
        assert_eq!(join_url("http://a/api/", "/me"), "http://a/api/me");
        assert_eq!(join_url("http://a/api", "me"), "http://a/api/me");
        assert_eq!(join_url("http://a/api", ""), "http://a/api");
    }

    /// Moved from the config's tests, which must not import the engine (config is below it).
    #[test]
    fn mcp_auth_needs_no_endpoints_or_client_id() {
        let text = "[[connectors]]\nid = \"a\"\nkind = \"mcp\"\n[connectors.mcp]\ntransport = \"streamable-http\"\nurl = \"https://m.example/mcp\"\n[connectors.auth]\ntype = \"mcp\"\nclient_metadata_url = \"https://me.example/client.json\"\n";
        let config = crate::config::parse_str(text, None, &|_| None).expect("a valid config");
        let specs = from_config(&config);
        assert_eq!(specs[0].problem, None, "no endpoints or client_id needed");
        let oauth = specs[0].auth.oauth().expect("an OAuth spec");
        assert_eq!(specs[0].auth.label(), "mcp");
        assert!(oauth.client_id.is_empty(), "registered at `auth` time");
        let mcp = oauth.mcp.as_ref().expect("discovery settings");
        assert_eq!(mcp.url, "https://m.example/mcp");
        assert_eq!(
            mcp.client_metadata_url.as_deref(),
            Some("https://me.example/client.json")
        );
    }
}
