//! What kind of connector a connection is, as types: front-ends ask these what a connection can
//! do instead of reading it out of a label. A new connector kind is a new variant here (plus its
//! config table and its probe); `label` gives it a name and `has_tools` tells the console
//! whether a tool panel makes sense, so nothing in a front-end changes.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How an MCP server is reached (`[connectors.mcp] transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum McpTransport {
    Stdio,
    StreamableHttp,
    Sse,
}

impl McpTransport {
    pub const ALL: [McpTransport; 3] = [Self::Stdio, Self::StreamableHttp, Self::Sse];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdio => "stdio",
            Self::StreamableHttp => "streamable-http",
            Self::Sse => "sse",
        }
    }

    pub fn is_http(self) -> bool {
        !matches!(self, Self::Stdio)
    }
}

/// How switchboard talks to a connection. Shown and serialized as its label ("mcp/stdio",
/// "rest"), which is what `status --json` has always printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Mcp(McpTransport),
    Rest,
}

impl Transport {
    pub fn label(self) -> &'static str {
        match self {
            Self::Mcp(McpTransport::Stdio) => "mcp/stdio",
            Self::Mcp(McpTransport::StreamableHttp) => "mcp/streamable-http",
            Self::Mcp(McpTransport::Sse) => "mcp/sse",
            Self::Rest => "rest",
        }
    }

    /// The label for a narrow column.
    pub fn short_label(self) -> &'static str {
        match self {
            Self::Mcp(McpTransport::StreamableHttp) => "mcp/http",
            other => other.label(),
        }
    }

    /// Whether the connection offers tools, resources and prompts (the console's tool panel).
    pub fn has_tools(self) -> bool {
        matches!(self, Self::Mcp(_))
    }

    pub fn parse(label: &str) -> Option<Self> {
        McpTransport::ALL
            .into_iter()
            .map(Self::Mcp)
            .chain([Self::Rest])
            .find(|t| t.label() == label)
    }
}

// `pad`, not `write_str`: `status` lays its table out with `{:<20}`.
impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.label())
    }
}

impl Serialize for Transport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.label())
    }
}

impl<'de> Deserialize<'de> for Transport {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let label = String::deserialize(d)?;
        Self::parse(&label)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown transport \"{label}\"")))
    }
}

/// How a connection authenticates. Serialized as the label `status --json` has always shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuthKind {
    #[serde(rename = "none")]
    None,
    #[serde(rename = "bearer")]
    Bearer,
    #[serde(rename = "oauth2")]
    OAuth2,
    #[serde(rename = "client-credentials")]
    ClientCredentials,
    /// OAuth 2 found through MCP authorization discovery.
    #[serde(rename = "mcp")]
    Mcp,
}

impl AuthKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Bearer => "bearer",
            Self::OAuth2 => "oauth2",
            Self::ClientCredentials => "client-credentials",
            Self::Mcp => "mcp",
        }
    }
}

impl fmt::Display for AuthKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_through_json() {
        for t in McpTransport::ALL
            .into_iter()
            .map(Transport::Mcp)
            .chain([Transport::Rest])
        {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.label()));
            assert_eq!(serde_json::from_str::<Transport>(&json).unwrap(), t);
        }
        assert!(serde_json::from_str::<Transport>("\"carrier-pigeon\"").is_err());
        for a in [
            AuthKind::None,
            AuthKind::Bearer,
            AuthKind::OAuth2,
            AuthKind::ClientCredentials,
            AuthKind::Mcp,
        ] {
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
        }
    }

    #[test]
    fn only_mcp_has_tools_and_short_names_drop_streamable() {
        assert!(Transport::Mcp(McpTransport::Stdio).has_tools());
        assert!(!Transport::Rest.has_tools());
        assert_eq!(
            Transport::Mcp(McpTransport::StreamableHttp).short_label(),
            "mcp/http"
        );
        assert_eq!(Transport::Mcp(McpTransport::Sse).short_label(), "mcp/sse");
        assert_eq!(format!("{:<6}|", Transport::Rest), "rest  |");
        assert_eq!(format!("{:<6}|", AuthKind::Mcp), "mcp   |");
    }
}
