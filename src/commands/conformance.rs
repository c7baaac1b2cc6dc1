//! `switchboard lab conformance-client URL`: the client the official MCP conformance suite
//! (`@modelcontextprotocol/conformance`, tests/conformance.rs) drives. The suite starts one
//! scenario server per run, appends its URL to our command line and names the scenario in
//! `$MCP_CONFORMANCE_SCENARIO`. Each scenario runs exactly what an operator's
//! `switchboard tools --url URL` or `switchboard call --url URL TOOL ARGS` runs — the same
//! argument checks, transport, validation, MCP authorization and rendering — so the suite
//! grades the real client, not a test double. Three things are the harness's: the "browser"
//! is internal (the suite's authorization servers approve at once and redirect); the client
//! ID metadata URL and any pre-registered client come from the suite
//! (`$MCP_CONFORMANCE_CONTEXT`), as an operator's would come from flags; and requests for
//! input are answered as `--elicit defaults` would, accepting every field's schema default:
//! the suite gives us a stdin nobody writes to, so there is no operator to ask, and the
//! scripted answer it grades (SEP-1034) is exactly that one.

use crate::cli::EXIT_USAGE;
use crate::cli::{CallArgs, ElicitArg, Global, TargetArgs, ToolsArgs};
use crate::commands::{Exit, Outcome, tools};
use crate::engine::Opener;
use crate::secret::Secret;

/// The Client ID Metadata Document URL the suite's authorization servers expect (its scenarios
/// never fetch it). An operator passes their own with `--client-metadata-url`.
pub const SUITE_CLIENT_METADATA_URL: &str = "https://conformance-test.local/client-metadata.json";

/// `$MCP_CONFORMANCE_CONTEXT`: what a scenario tells its client beyond the URL, such as the
/// pre-registered client of `auth/pre-registration`. Keys this client has no use for (the
/// JWT and cross-app scenarios' keys) are ignored.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Context {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// `auth/client-credentials-jwt`: the key its AS checks assertions against.
    #[serde(default)]
    pub private_key_pem: Option<String>,
    /// `auth/cross-app-access-complete-flow`: the IdP, its client and the user's ID token.
    #[serde(default)]
    pub idp_issuer: Option<String>,
    #[serde(default)]
    pub idp_client_id: Option<String>,
    #[serde(default)]
    pub idp_id_token: Option<String>,
}

impl Context {
    fn from_env() -> Result<Self, Exit> {
        match std::env::var("MCP_CONFORMANCE_CONTEXT") {
            Ok(raw) if !raw.trim().is_empty() => Self::parse(&raw),
            _ => Ok(Self::default()),
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Exit> {
        serde_json::from_str(raw).map_err(|e| {
            Exit::new(
                EXIT_USAGE,
                format!("MCP_CONFORMANCE_CONTEXT is not the suite's JSON context: {e}"),
            )
        })
    }
}

/// What a scenario asks of a client once it is connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `switchboard tools --url URL`: initialize, then list tools, resources and prompts.
    List,
    /// `switchboard call --url URL TOOL ARGS`.
    Call {
        tool: &'static str,
        arguments: &'static str,
    },
}

/// The action for a scenario. Scenarios not named here (the `auth/*` family and any the suite
/// adds later) only need a client that connects and lists, which is also the least a new
/// scenario can meaningfully grade.
pub fn action(scenario: &str) -> Action {
    match scenario {
        "tools_call" => Action::Call {
            tool: "add_numbers",
            arguments: r#"{"a":1,"b":2}"#,
        },
        // The server closes the call's SSE stream after a priming event with `retry: 500`;
        // the answer only arrives on the GET stream the client must resume (SEP-1699).
        "sse-retry" => Action::Call {
            tool: "test_reconnection",
            arguments: "{}",
        },
        // tools/list needs one scope, tools/call a second: the 403 on the call is the step-up.
        "auth/scope-step-up" => Action::Call {
            tool: "test-tool",
            arguments: "{}",
        },
        // The tool calls back with elicitation/create; answered by `--elicit defaults`.
        "elicitation-sep1034-client-defaults" => Action::Call {
            tool: "test_client_elicitation_defaults",
            arguments: "{}",
        },
        _ => Action::List,
    }
}

/// The revision a scenario's server expects, as an operator testing such a server would pin it
/// with `--protocol-version`. `initialize` grades the proposed version against the revisions the
/// suite knows (up to 2025-11-25), while rmcp proposes its newer default; the 2025-03-26
/// scenarios are servers of that revision. Others keep the default, so the suite keeps grading
/// what an operator gets without the flag.
pub fn protocol_for(scenario: &str) -> Option<rmcp::model::ProtocolVersion> {
    use rmcp::model::ProtocolVersion;
    match scenario {
        "initialize" => Some(ProtocolVersion::V_2025_11_25),
        s if s.starts_with("auth/2025-03-26-") => Some(ProtocolVersion::V_2025_03_26),
        _ => None,
    }
}

/// The grant an operator would pass for a scenario: the machine-to-machine ones have no user.
pub fn grant_for(scenario: &str) -> Option<crate::cli::GrantArg> {
    match scenario {
        "auth/client-credentials-basic" | "auth/client-credentials-jwt" => {
            Some(crate::cli::GrantArg::ClientCredentials)
        }
        "auth/cross-app-access-complete-flow" => Some(crate::cli::GrantArg::CrossApp),
        _ => None,
    }
}

pub async fn run(global: &Global, url: String, scenario: Option<String>) -> Outcome {
    let Some(scenario) = scenario.filter(|s| !s.trim().is_empty()) else {
        return Err(Exit::new(
            EXIT_USAGE,
            "no scenario: the conformance suite sets MCP_CONFORMANCE_SCENARIO (or pass --scenario)",
        ));
    };
    eprintln!("conformance scenario {scenario}: {:?}", action(&scenario));
    let context = Context::from_env()?;
    let target = TargetArgs {
        account: crate::domain::DEFAULT_ACCOUNT.to_string(),
        url: Some(url),
        stdio: None,
        transport: None,
        headers: Vec::new(),
        bearer: None,
        client_id: context.client_id,
        client_secret: context.client_secret.map(Secret::from),
        // A machine client has no metadata document to offer (its flag is refused with one).
        client_metadata_url: grant_for(&scenario)
            .is_none()
            .then(|| SUITE_CLIENT_METADATA_URL.to_string()),
        grant: grant_for(&scenario),
        private_key: None,
        private_key_pem: context.private_key_pem.map(Secret::from),
        id_token_file: None,
        id_token: context.idp_id_token.map(Secret::from),
        idp_issuer: context.idp_issuer,
        idp_client_id: context.idp_client_id,
        no_browser: false,
        opener: Some(Opener::Internal(
            crate::net::browser_client().map_err(|f| Exit::failed(&f))?,
        )),
        elicit: Some(ElicitArg::Defaults),
        protocol_version: protocol_for(&scenario),
        json: false,
    };
    match action(&scenario) {
        Action::List => {
            tools::tools(
                global,
                ToolsArgs {
                    connector: None,
                    target,
                },
            )
            .await
        }
        Action::Call { tool, arguments } => {
            tools::call(
                global,
                CallArgs {
                    positionals: vec![tool.to_string(), arguments.to_string()],
                    target,
                    timeout: std::time::Duration::from_secs(20),
                    progress: false,
                },
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_map_to_operator_commands() {
        assert_eq!(action("initialize"), Action::List);
        assert_eq!(action("auth/metadata-default"), Action::List);
        assert!(matches!(
            action("tools_call"),
            Action::Call {
                tool: "add_numbers",
                ..
            }
        ));
        assert!(matches!(
            action("auth/scope-step-up"),
            Action::Call {
                tool: "test-tool",
                ..
            }
        ));
        assert!(matches!(
            action("sse-retry"),
            Action::Call {
                tool: "test_reconnection",
                ..
            }
        ));
    }

    #[test]
    fn scenarios_pin_the_revision_their_server_expects() {
        use rmcp::model::ProtocolVersion;
        assert_eq!(
            protocol_for("initialize"),
            Some(ProtocolVersion::V_2025_11_25)
        );
        assert_eq!(
            protocol_for("auth/2025-03-26-oauth-endpoint-fallback"),
            Some(ProtocolVersion::V_2025_03_26)
        );
        assert_eq!(protocol_for("tools_call"), None);
    }

    #[test]
    fn machine_scenarios_use_client_credentials() {
        assert_eq!(
            grant_for("auth/client-credentials-basic"),
            Some(crate::cli::GrantArg::ClientCredentials)
        );
        assert_eq!(
            grant_for("auth/cross-app-access-complete-flow"),
            Some(crate::cli::GrantArg::CrossApp)
        );
        assert_eq!(grant_for("auth/metadata-default"), None);
    }

    #[test]
    fn context_carries_a_pre_registered_client() {
        let c = Context::parse(
            r#"{"name":"auth/pre-registration","client_id":"pre","client_secret":"s","private_key_pem":"x"}"#,
        )
        .unwrap();
        assert_eq!(c.client_id.as_deref(), Some("pre"));
        assert_eq!(c.client_secret.as_deref(), Some("s"));
        assert!(Context::parse("not json").is_err());
    }
}
