//! `switchboard lab conformance-client URL`: the client the official MCP conformance suite
//! (`@modelcontextprotocol/conformance`, tests/conformance.rs) drives. The suite starts one
//! scenario server per run, appends its URL to our command line and names the scenario in
//! `$MCP_CONFORMANCE_SCENARIO`. Each scenario runs exactly what an operator's
//! `switchboard tools --url URL` or `switchboard call --url URL TOOL ARGS` runs — the same
//! argument checks, transport, validation and rendering — so the suite grades the real client,
//! not a test double.

use crate::cli::EXIT_USAGE;
use crate::cli::{CallArgs, Global, TargetArgs, ToolsArgs};
use crate::commands::{Exit, Outcome, tools};

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
        "elicitation-sep1034-client-defaults" => Action::Call {
            tool: "test_client_elicitation_defaults",
            arguments: "{}",
        },
        _ => Action::List,
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
    let target = TargetArgs {
        account: crate::domain::DEFAULT_ACCOUNT.to_string(),
        url: Some(url),
        stdio: None,
        transport: None,
        headers: Vec::new(),
        bearer: None,
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
            action("sse-retry"),
            Action::Call {
                tool: "test_reconnection",
                ..
            }
        ));
    }
}
