//! Checks serde cannot express: cross-key requirements, id syntax, duplicates, URLs. Each
//! failure names the key at fault and is shown at the span of the key that made it required.

use std::collections::HashMap;

use super::locate::{KeyPath, Located, line_col};
use super::presets::{preset, preset_names};
use super::schema::{
    AuthType, Config, ConnectorConfig, ConnectorKind, Grant, McpTransport, TokenAuthMethod,
};

pub(crate) fn validate(config: &Config, root: &super::Doc<'_>, text: &str) -> Result<(), Located> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, c) in config.connectors.iter().enumerate() {
        let v = Check { root, i };
        v.id(&c.id)?;
        if let Some(first) = seen.insert(&c.id, i) {
            let first_span = super::locate::span_of(root.get(), &KeyPath::connector(first, "id"));
            let where_ = first_span
                .map(|s| format!(" at line {}", line_col(text, s.start).0))
                .unwrap_or_default();
            return Err(v.err(
                "id",
                "id",
                format!(
                    "duplicate connector id `{}`: already used by connectors[{first}]{where_}",
                    c.id
                ),
            ));
        }
        v.connector(c)?;
    }
    Ok(())
}

struct Check<'a, 'i> {
    root: &'a super::Doc<'i>,
    i: usize,
}

impl Check<'_, '_> {
    /// An error about key `key` of this connector, shown at `anchor`.
    fn err(&self, key: &str, anchor: &str, message: String) -> Located {
        Located::at(
            self.root.get(),
            KeyPath::connector(self.i, key),
            &KeyPath::connector(self.i, anchor),
            message,
        )
    }

    fn id(&self, id: &str) -> Result<(), Located> {
        let valid = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(())
        } else {
            Err(self.err(
                "id",
                "id",
                format!("invalid id \"{id}\": use only letters, digits, '-' and '_'"),
            ))
        }
    }

    fn connector(&self, c: &ConnectorConfig) -> Result<(), Located> {
        match c.kind {
            ConnectorKind::Mcp => self.mcp(c)?,
            ConnectorKind::Rest => {
                if c.mcp.is_some() {
                    return Err(self.err(
                        "mcp",
                        "mcp",
                        "[connectors.mcp] is only used with kind = \"mcp\"; \
                         remove it or change kind"
                            .into(),
                    ));
                }
                if c.rest.is_none() {
                    return Err(self.err(
                        "rest",
                        "kind",
                        "kind = \"rest\" needs a [connectors.rest] table with base_url".into(),
                    ));
                }
            }
        }
        if let Some(rest) = &c.rest {
            self.url("rest.base_url", &rest.base_url)?;
            if !rest.health_path.starts_with('/') {
                return Err(self.err(
                    "rest.health_path",
                    "rest.health_path",
                    format!("health_path \"{}\" must start with '/'", rest.health_path),
                ));
            }
            if let Some(bad) = rest
                .expect_status
                .iter()
                .find(|s| !(100..=599).contains(*s))
            {
                return Err(self.err(
                    "rest.expect_status",
                    "rest.expect_status",
                    format!("{bad} is not an HTTP status; expected codes between 100 and 599"),
                ));
            }
        }
        self.auth(c)
    }

    fn mcp(&self, c: &ConnectorConfig) -> Result<(), Located> {
        let Some(mcp) = &c.mcp else {
            return Err(self.err(
                "mcp",
                "kind",
                "kind = \"mcp\" needs a [connectors.mcp] table with transport".into(),
            ));
        };
        match mcp.transport {
            McpTransport::Stdio => {
                if mcp.command.as_deref().is_none_or(|s| s.trim().is_empty()) {
                    return Err(self.err(
                        "mcp.command",
                        "mcp.transport",
                        "transport \"stdio\" needs command (e.g. command = \"npx\")".into(),
                    ));
                }
            }
            t @ (McpTransport::StreamableHttp | McpTransport::Sse) => match &mcp.url {
                None => {
                    return Err(self.err(
                        "mcp.url",
                        "mcp.transport",
                        format!(
                            "transport \"{}\" needs url (e.g. url = \"https://example.com/mcp\")",
                            t.as_str()
                        ),
                    ));
                }
                Some(url) => self.url("mcp.url", url)?,
            },
        }
        if let Some(v) = &mcp.protocol_version {
            crate::toolkit::protocol::parse(v)
                .map_err(|m| self.err("mcp.protocol_version", "mcp.protocol_version", m))?;
        }
        for root in &mcp.roots {
            url::Url::parse(root).map_err(|e| {
                self.err(
                    "mcp.roots",
                    "mcp.roots",
                    format!("`{root}` is not a URI ({e}); write a root as file:///path/to/dir"),
                )
            })?;
        }
        Ok(())
    }

    fn auth(&self, c: &ConnectorConfig) -> Result<(), Located> {
        let a = &c.auth;
        if let Some(name) = &a.provider
            && preset(name).is_none()
        {
            let known: Vec<_> = preset_names().map(|n| format!("`{n}`")).collect();
            let mut msg = format!(
                "unknown provider `{name}`, expected one of {}",
                known.join(", ")
            );
            if let Some(s) = super::locate::closest(name, preset_names()) {
                msg.push_str(&format!("; did you mean `{s}`?"));
            }
            return Err(self.err("auth.provider", "auth.provider", msg));
        }
        for (key, url) in [
            ("issuer", &a.issuer),
            ("authorize_url", &a.authorize_url),
            ("token_url", &a.token_url),
            ("revoke_url", &a.revoke_url),
            ("device_url", &a.device_url),
        ] {
            if let Some(url) = url {
                self.url(&format!("auth.{key}"), url)?;
                self.secure(&format!("auth.{key}"), url)?;
            }
        }
        if let Some(sep) = &a.scope_separator
            && sep != " "
            && sep != ","
        {
            return Err(self.err(
                "auth.scope_separator",
                "auth.scope_separator",
                format!("scope_separator = {sep:?}: expected \" \" (RFC 6749) or \",\""),
            ));
        }
        super::keys::rules(a).map_err(|(key, anchor, message)| self.err(&key, &anchor, message))?;
        if a.token_auth_method == Some(TokenAuthMethod::None) {
            let why = if a.kind == AuthType::ClientCredentials
                || a.grant == Some(Grant::ClientCredentials)
            {
                Some(
                    "the client credentials grant needs a client secret or a key; use token_auth_method = \"client_secret_basic\", \"client_secret_post\" or \"private_key_jwt\"",
                )
            } else if a.client_secret.is_some() {
                Some(
                    "token_auth_method = \"none\" sends no secret; remove client_secret or use \"client_secret_basic\" or \"client_secret_post\"",
                )
            } else {
                None
            };
            if let Some(why) = why {
                return Err(self.err(
                    "auth.token_auth_method",
                    "auth.token_auth_method",
                    why.into(),
                ));
            }
        }
        if a.grant.is_some() && a.kind != AuthType::Mcp {
            return Err(self.err(
                "auth.grant",
                "auth.grant",
                format!(
                    "grant is only used with type = \"mcp\"; type = \"{}\" already says how tokens are obtained",
                    a.kind.as_str()
                ),
            ));
        }
        let ty = a.kind.as_str();
        let has_endpoint = a.token_url.is_some() || a.issuer.is_some() || a.provider.is_some();
        match a.kind {
            AuthType::None => {}
            AuthType::Bearer => {
                if a.token.is_none() {
                    return Err(self.err(
                        "auth.token",
                        "auth.type",
                        "type = \"bearer\" needs token (e.g. token = \"${API_TOKEN}\")".into(),
                    ));
                }
            }
            AuthType::Oauth2 | AuthType::ClientCredentials => {
                if !has_endpoint {
                    let mcp_hint = if c.kind == ConnectorKind::Mcp {
                        "; or, to find them through the MCP server's discovery, type = \"mcp\" with grant = \"client-credentials\""
                    } else {
                        ""
                    };
                    return Err(self.err(
                        "auth.token_url",
                        "auth.type",
                        format!(
                            "type = \"{ty}\" needs token_url, issuer or provider \
                             to know where to get tokens{mcp_hint}"
                        ),
                    ));
                }
                if a.client_id.is_none() {
                    return Err(self.err(
                        "auth.client_id",
                        "auth.type",
                        format!("type = \"{ty}\" needs client_id"),
                    ));
                }
                if a.kind == AuthType::ClientCredentials
                    && a.client_secret.is_none()
                    && a.token_auth_method != Some(TokenAuthMethod::PrivateKeyJwt)
                {
                    return Err(self.err(
                        "auth.client_secret",
                        "auth.type",
                        "type = \"client-credentials\" needs client_secret (or token_auth_method private_key_jwt with private_key_file)".into(),
                    ));
                }
            }
            AuthType::Mcp => {
                if c.kind != ConnectorKind::Mcp {
                    return Err(self.err(
                        "auth.type",
                        "auth.type",
                        "type = \"mcp\" uses MCP authorization discovery and needs kind = \"mcp\""
                            .into(),
                    ));
                }
                // MCP authorization is for the HTTP transports; a stdio server takes its
                // credentials from its environment.
                if c.mcp
                    .as_ref()
                    .is_some_and(|m| m.transport == McpTransport::Stdio)
                {
                    return Err(self.err(
                        "auth.type",
                        "auth.type",
                        "type = \"mcp\" needs an HTTP transport (streamable-http or sse); a stdio server takes credentials from its env".into(),
                    ));
                }
                if let Some(url) = &a.client_metadata_url {
                    self.url("auth.client_metadata_url", url)?;
                    self.secure("auth.client_metadata_url", url)?;
                }
                if a.grant == Some(Grant::ClientCredentials) {
                    if a.client_id.is_none() {
                        return Err(self.err(
                            "auth.client_id",
                            "auth.grant",
                            "grant = \"client-credentials\" needs client_id: the client registered for switchboard at the server's authorization server".into(),
                        ));
                    }
                    if a.client_secret.is_none()
                        && a.token_auth_method != Some(TokenAuthMethod::PrivateKeyJwt)
                    {
                        return Err(self.err(
                            "auth.client_secret",
                            "auth.grant",
                            "the client credentials grant needs client_secret (or token_auth_method private_key_jwt with private_key_file)".into(),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// An endpoint that receives codes, tokens or client secrets: https, or http on loopback.
    fn secure(&self, key: &str, value: &str) -> Result<(), Located> {
        if value.contains("${") {
            return Ok(());
        }
        let what = key.rsplit('.').next().unwrap_or(key);
        crate::net::require_secure(value, what, &format!("\"{value}\""))
            .map_err(|message| self.err(key, key, message))
    }

    /// Values still holding an unresolved `${VAR}` are skipped: the connector is already
    /// reported as not configured, and the URL will be checked once the variable is set.
    fn url(&self, key: &str, value: &str) -> Result<(), Located> {
        if value.contains("${") {
            return Ok(());
        }
        let ok = url::Url::parse(value)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if ok {
            Ok(())
        } else {
            Err(self.err(
                key,
                key,
                format!("\"{value}\" is not an http(s) URL; expected e.g. \"https://example.com\""),
            ))
        }
    }
}
