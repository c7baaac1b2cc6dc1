//! The lab's MCP server: a few tools served over streamable HTTP at `/mcp` behind bearer
//! auth (RFC 9728 discovery), and over stdio for `switchboard lab mcp-stdio`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Extensions, ProgressNotificationParam, RequestMetaObject,
};
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{
    ErrorData, Peer, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::rest::bearer;
use super::tokens::{LabState, SCOPES_SUPPORTED, TokenInfo};

/// Bounds on `count_slowly`, so one call cannot keep a session busy for hours.
const MAX_COUNT: u32 = 1000;
const MAX_DELAY_MS: u64 = 5000;
const DEFAULT_DELAY_MS: u64 = 100;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct EchoArgs {
    /// The text to send back.
    pub message: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AddArgs {
    /// Left operand.
    pub a: f64,
    /// Right operand.
    pub b: f64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AddOutput {
    pub sum: f64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CountArgs {
    /// Count from 1 up to this number (at most 1000).
    pub to: u32,
    /// Pause between steps in milliseconds (default 100, at most 5000).
    pub delay_ms: Option<u64>,
}

/// The tool set, identical over HTTP and stdio. Stateless: who is calling comes from the
/// HTTP request the auth middleware annotated.
#[derive(Debug, Clone, Default)]
pub struct LabTools;

#[tool_router]
impl LabTools {
    #[tool(description = "Echo a message back unchanged")]
    fn echo(&self, Parameters(EchoArgs { message }): Parameters<EchoArgs>) -> String {
        message
    }

    #[tool(
        description = "Add two numbers; returns the sum as text and as structured content",
        output_schema = schema_for_output::<AddOutput>()
    )]
    fn add(&self, Parameters(AddArgs { a, b }): Parameters<AddArgs>) -> CallToolResult {
        let sum = a + b;
        let mut result = CallToolResult::success(vec![ContentBlock::text(sum.to_string())]);
        result.structured_content = Some(json!(AddOutput { sum }));
        result
    }

    #[tool(
        description = "Count up to `to`, pausing `delay_ms` between steps and sending a progress notification per step when the request carries a progressToken"
    )]
    async fn count_slowly(
        &self,
        Parameters(CountArgs { to, delay_ms }): Parameters<CountArgs>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        ct: CancellationToken,
    ) -> Result<String, ErrorData> {
        if to > MAX_COUNT {
            return Err(ErrorData::invalid_params(
                format!("to must be at most {MAX_COUNT}"),
                None,
            ));
        }
        let delay = Duration::from_millis(delay_ms.unwrap_or(DEFAULT_DELAY_MS).min(MAX_DELAY_MS));
        let token = meta.get_progress_token();
        for step in 1..=to {
            tokio::select! {
                _ = ct.cancelled() => return Err(ErrorData::internal_error("cancelled", None)),
                _ = tokio::time::sleep(delay) => {}
            }
            if let Some(token) = &token {
                let param = ProgressNotificationParam::new(token.clone(), f64::from(step))
                    .with_total(f64::from(to))
                    .with_message(format!("{step}/{to}"));
                // A client that went away must not turn into a tool error.
                if let Err(err) = peer.notify_progress(param).await {
                    tracing::debug!(%err, "progress notification not delivered");
                }
            }
        }
        Ok(format!("counted to {to}"))
    }

    #[tool(description = "Return the client_id of the access token used for this session")]
    fn whoami(&self, extensions: Extensions) -> String {
        extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<TokenInfo>())
            .map(|info| info.client_id.clone())
            .unwrap_or_else(|| "anonymous (stdio)".to_owned())
    }
}

#[tool_handler(
    name = "switchboard-lab",
    version = "0.1.0",
    instructions = "Demo MCP server of the switchboard lab: echo, add, count_slowly, whoami."
)]
impl ServerHandler for LabTools {}

pub(crate) fn routes(state: Arc<LabState>, cancel: CancellationToken) -> Router<Arc<LabState>> {
    // The lab's own token doubles as the MCP server's: shutdown also ends open SSE streams,
    // which would otherwise hold graceful shutdown forever.
    let config =
        StreamableHttpServerConfig::default().with_cancellation_token(cancel.child_token());
    let service = StreamableHttpService::new(|| Ok(LabTools), state.mcp_sessions.clone(), config);
    Router::new()
        .route_service("/mcp", service)
        .route_layer(middleware::from_fn_with_state(state, require_bearer))
        .route(
            "/.well-known/oauth-protected-resource",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(resource_metadata),
        )
}

/// RFC 9728 protected-resource metadata, which MCP clients find through the 401 challenge.
async fn resource_metadata(State(state): State<Arc<LabState>>) -> Json<serde_json::Value> {
    let resource = state
        .opts
        .resource_override
        .clone()
        .unwrap_or_else(|| format!("{}/mcp", state.issuer));
    Json(json!({
        "resource": resource,
        "authorization_servers": [state.issuer],
        "scopes_supported": SCOPES_SUPPORTED,
        "bearer_methods_supported": ["header"],
        "resource_name": "switchboard lab MCP server",
    }))
}

pub(crate) async fn require_bearer(
    State(state): State<Arc<LabState>>,
    req: Request,
    next: Next,
) -> Response {
    state.lock().stats.mcp_requests += 1;
    let token = bearer(req.headers());
    let metadata = format!("{}/.well-known/oauth-protected-resource", state.issuer);
    if let Some(info) = token.and_then(|t| state.validate(t)) {
        let req = match super::fleet::is_initialize(req).await {
            Ok((req, initialize)) => {
                let mut store = state.lock();
                store.stats.mcp_initialize += u64::from(initialize);
                if let Some(counts) = store.client_counts(&info.client_id) {
                    counts.mcp_requests += 1;
                    counts.mcp_initialize += u64::from(initialize);
                }
                req
            }
            Err(refused) => return refused,
        };
        let (req, refused) = match &state.opts.mcp_call_scope {
            Some(needed) if !info.scope.split_whitespace().any(|s| s == needed) => {
                let (req, is_call) = is_tool_call(req).await;
                (req, is_call.then(|| format!("{} {needed}", info.scope)))
            }
            _ => (req, None),
        };
        if let Some(scope) = refused {
            let challenge = format!(
                "Bearer error=\"insufficient_scope\", scope=\"{scope}\", resource_metadata=\"{metadata}\""
            );
            let mut resp = (
                StatusCode::FORBIDDEN,
                Json(json!({"error": "insufficient_scope"})),
            )
                .into_response();
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, value);
            }
            return resp;
        }
        let mut req = req;
        req.extensions_mut().insert(info);
        return next.run(req).await;
    }
    // MCP authorization spec: no token gets a bare challenge, a bad one says why.
    let challenge = if token.is_some() {
        format!("Bearer error=\"invalid_token\", resource_metadata=\"{metadata}\"")
    } else {
        format!("Bearer resource_metadata=\"{metadata}\"")
    };
    let mut resp = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "invalid_token"})),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    resp
}

/// Whether a POST is a JSON-RPC `tools/call`; the body is read and put back.
async fn is_tool_call(req: Request) -> (Request, bool) {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let is_call = serde_json::from_slice::<serde_json::Value>(&bytes)
        .is_ok_and(|v| v["method"] == "tools/call");
    (
        Request::from_parts(parts, axum::body::Body::from(bytes)),
        is_call,
    )
}

/// Expires every streamable HTTP session, as a server that restarted or timed sessions out
/// would: the next request with an old `Mcp-Session-Id` gets 404. Returns how many.
pub(crate) async fn expire_sessions(state: &LabState) -> usize {
    let ids: Vec<_> = state
        .mcp_sessions
        .sessions
        .read()
        .await
        .keys()
        .cloned()
        .collect();
    for id in &ids {
        if let Err(err) = state.mcp_sessions.close_session(id).await {
            tracing::debug!(%err, "lab: closing an MCP session failed");
        }
    }
    ids.len()
}

/// `switchboard lab mcp-stdio`: the same tools over stdin/stdout, without auth. Stdout
/// carries only JSON-RPC; anything else (logs) must go to stderr, which the caller sets up.
pub async fn run_stdio_server() -> anyhow::Result<()> {
    let service = LabTools.serve(rmcp::transport::stdio()).await?;
    service.waiting().await?;
    Ok(())
}
