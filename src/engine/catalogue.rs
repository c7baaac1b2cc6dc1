//! What a connection's MCP server offers besides tool calls: its catalogue with a reply
//! (`Command::ListCatalogue`), one resource (`Command::ReadResource`) and one prompt
//! (`Command::GetPrompt`), through the engine's session pool and token broker.

use rmcp::model::{
    GetPromptRequestParams, GetPromptResult, JsonObject, ReadResourceRequestParams,
    ReadResourceResult,
};

use std::sync::Arc;

use super::api::Event;
use super::core::Engine;
use crate::domain::{ConnectionKey, Failure};

impl Engine {
    /// `resources/read` on the connection's session (connecting first if needed).
    pub async fn read_resource(
        &self,
        key: &ConnectionKey,
        uri: &str,
    ) -> Result<ReadResourceResult, Failure> {
        let result = self.read_resource_quietly(key, uri).await;
        self.emit(Event::ResourceRead {
            key: key.clone(),
            uri: uri.to_string(),
            result: result.clone().map(Arc::new),
        });
        result
    }

    async fn read_resource_quietly(
        &self,
        key: &ConnectionKey,
        uri: &str,
    ) -> Result<ReadResourceResult, Failure> {
        let target = self.tool_target(key)?;
        let session = self.mcp.session(key, &target).await?;
        let result = session
            .read_resource(ReadResourceRequestParams::new(uri))
            .await;
        result.map_err(|e| self.session_failed(key, &e))
    }

    /// `prompts/get` with the prompt's arguments.
    pub async fn get_prompt(
        &self,
        key: &ConnectionKey,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<GetPromptResult, Failure> {
        let result = self.get_prompt_quietly(key, name, arguments).await;
        self.emit(Event::PromptGot {
            key: key.clone(),
            name: name.to_string(),
            result: result.clone().map(Arc::new),
        });
        result
    }

    async fn get_prompt_quietly(
        &self,
        key: &ConnectionKey,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<GetPromptResult, Failure> {
        let target = self.tool_target(key)?;
        let session = self.mcp.session(key, &target).await?;
        let mut params = GetPromptRequestParams::new(name);
        if let Some(arguments) = arguments {
            params = params.with_arguments(arguments);
        }
        let result = session.get_prompt(params).await;
        result.map_err(|e| self.session_failed(key, &e))
    }

    /// A request that failed on the session: classified, and the session dropped when the
    /// transport is gone, so the next request reconnects rather than failing the same way.
    fn session_failed(&self, key: &ConnectionKey, e: &rmcp::service::ServiceError) -> Failure {
        let failure = self.mcp.failure(key, e);
        if matches!(e, rmcp::service::ServiceError::TransportClosed) {
            let (mcp, key) = (self.mcp.clone(), key.clone());
            tokio::spawn(async move { mcp.drop_session(&key).await });
        }
        failure
    }
}
