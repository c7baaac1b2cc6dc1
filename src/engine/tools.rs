//! Tool listing and tool calls for every front-end: the console's panel sends
//! `Command::ListTools`/`Command::CallTool` and watches the events these emit.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::JsonObject;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::api::Event;
use super::core::Engine;
use super::ready::{Need, NotReady};
use crate::domain::{Actor, ConnectionKey, ErrorClass, Failure};
use crate::mcp::Target;
use crate::toolkit::Catalogue;
use crate::toolkit::schema::{Checked, check};
use crate::toolkit::{CallError, CallOutcome};

impl Engine {
    /// The MCP target of a connection that can be used now, or why not.
    pub(super) fn tool_target(&self, key: &ConnectionKey) -> Result<Target, Failure> {
        self.ready(key, Need::Tools)?;
        self.spec(key)
            .and_then(|s| s.plan.route.mcp().cloned())
            .ok_or_else(|| NotReady::NoTools.failure(key))
    }

    pub async fn list_tools(
        &self,
        key: &ConnectionKey,
        refresh: bool,
    ) -> Result<Arc<Catalogue>, Failure> {
        let target = self.tool_target(key)?;
        let result = self.mcp.catalogue(key, &target, refresh).await;
        self.emit(Event::ToolsListed {
            key: key.clone(),
            result: result.clone(),
        });
        result
    }

    /// Validates, calls (recording the call in the event log) and emits progress and result.
    pub async fn call_tool(
        &self,
        key: &ConnectionKey,
        tool: &str,
        arguments: Option<JsonObject>,
        timeout: Duration,
        actor: Actor,
        cancel: &CancellationToken,
    ) -> Result<CallOutcome, CallError> {
        let result = self
            .call_checked(key, tool, arguments, timeout, actor, cancel)
            .await;
        self.emit(Event::ToolResult {
            key: key.clone(),
            tool: tool.to_string(),
            result: result.clone(),
        });
        result
    }

    async fn call_checked(
        &self,
        key: &ConnectionKey,
        tool: &str,
        arguments: Option<JsonObject>,
        timeout: Duration,
        actor: Actor,
        cancel: &CancellationToken,
    ) -> Result<CallOutcome, CallError> {
        let target = self.tool_target(key).map_err(CallError::Failed)?;
        let mut catalogue = self
            .mcp
            .catalogue(key, &target, false)
            .await
            .map_err(CallError::Failed)?;
        if catalogue.tool(tool).is_none() {
            catalogue = self
                .mcp
                .catalogue(key, &target, true)
                .await
                .map_err(CallError::Failed)?;
        }
        let Some(spec) = catalogue.tool(tool) else {
            return Err(CallError::Failed(Failure::new(
                ErrorClass::Config,
                format!("{key} has no tool `{tool}`"),
            )));
        };
        let schema = Value::Object((*spec.input_schema).clone());
        let args = Value::Object(arguments.clone().unwrap_or_default());
        if let Checked::Invalid(violations) = check(&schema, &args) {
            return Err(CallError::InvalidArguments(violations));
        }
        let progress = |p: &rmcp::model::ProgressNotificationParam| {
            self.emit(Event::ToolProgress {
                key: key.clone(),
                tool: tool.to_string(),
                progress: p.progress,
                total: p.total,
                message: p.message.clone(),
            })
        };
        self.mcp
            .call_tool(
                key, &target, tool, arguments, timeout, actor, cancel, progress,
            )
            .await
    }
}
