//! The MCP resource server, exercised with rmcp's own streamable HTTP client.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use reqwest::StatusCode;
use rmcp::model::{
    CallToolRequestParams, ClientRequest, PingRequest, ProgressNotificationParam, ServerResult,
};
use rmcp::service::NotificationContext;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};

use super::tests_support::{http, quiet_lab, token};
use super::*;

/// Counts progress notifications, to check `count_slowly` reports them.
#[derive(Clone, Default)]
struct ProgressCounter(Arc<AtomicU32>);

impl ClientHandler for ProgressCounter {
    async fn on_progress(
        &self,
        _params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

async fn service_token(lab: &Lab) -> String {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", SERVICE_CLIENT),
        ("client_secret", SERVICE_SECRET),
    ];
    let (status, body) = token(lab, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap_or_default().to_owned()
}

fn args(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

#[tokio::test]
async fn lab_mcp_requires_bearer_and_advertises_metadata() {
    let lab = quiet_lab().await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}});
    for auth in [None, Some("Bearer lab_at_forged")] {
        let mut req = http().post(&lab.mcp_url).json(&init);
        if let Some(auth) = auth {
            req = req.header("Authorization", auth);
        }
        let resp = req.send().await.expect("post");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let challenge = resp.headers()["www-authenticate"].to_str().expect("ascii");
        let expected = format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
            lab.issuer
        );
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        assert!(challenge.contains(&expected), "{challenge}");
        assert_eq!(challenge.contains("invalid_token"), auth.is_some());
    }
    let doc: Value = http()
        .get(format!(
            "{}/.well-known/oauth-protected-resource",
            lab.issuer
        ))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    assert_eq!(doc["resource"], lab.mcp_url.as_str());
    assert_eq!(doc["authorization_servers"][0], lab.issuer.as_str());
    assert_eq!(lab.stats().mcp_requests, 2);
}

#[tokio::test]
async fn lab_mcp_client_lists_and_calls_tools() -> anyhow::Result<()> {
    let lab = quiet_lab().await;
    let access = service_token(&lab).await;
    let config =
        StreamableHttpClientTransportConfig::with_uri(lab.mcp_url.as_str()).auth_header(access);
    let transport = StreamableHttpClientTransport::from_config(config);
    let progress = ProgressCounter::default();
    let client = progress.clone().serve(transport).await?;

    let info = client.peer_info().expect("server info after initialize");
    let name = info.server_info.as_ref().map(|s| s.name.as_str());
    assert_eq!(name, Some("switchboard-lab"));
    let pong = client
        .send_request(ClientRequest::PingRequest(PingRequest::default()))
        .await?;
    assert!(matches!(pong, ServerResult::EmptyResult(_)), "{pong:?}");
    let tools = client.list_all_tools().await?;
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(names, ["add", "count_slowly", "echo", "whoami"]);
    let add = tools.iter().find(|t| t.name == "add").expect("add");
    let props = add.input_schema.get("properties").expect("input schema");
    assert!(
        props.get("a").is_some() && props.get("b").is_some(),
        "{props}"
    );
    assert!(add.output_schema.is_some());

    let sum = client
        .call_tool(
            CallToolRequestParams::new("add").with_arguments(args(json!({"a": 2, "b": 3.5}))),
        )
        .await?;
    assert_eq!(sum.structured_content, Some(json!({"sum": 5.5})));
    let text = sum.content[0].as_text().map(|t| t.text.clone());
    assert_eq!(text.as_deref(), Some("5.5"));

    let who = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await?;
    let text = who.content[0].as_text().map(|t| t.text.clone());
    assert_eq!(text.as_deref(), Some(SERVICE_CLIENT));

    let counted = client
        .call_tool(
            CallToolRequestParams::new("count_slowly")
                .with_arguments(args(json!({"to": 3, "delay_ms": 10}))),
        )
        .await?;
    let text = counted.content[0].as_text().map(|t| t.text.clone());
    assert_eq!(text.as_deref(), Some("counted to 3"));
    // Notifications may trail the response on the SSE stream by a moment.
    for _ in 0..50 {
        if progress.0.load(Ordering::SeqCst) >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(progress.0.load(Ordering::SeqCst), 3);

    let bad = client
        .call_tool(CallToolRequestParams::new("add").with_arguments(args(json!({"a": "x"}))))
        .await?;
    // rmcp 3.9 reports argument errors as a tool error result, not a JSON-RPC error.
    assert_eq!(bad.is_error, Some(true), "{bad:?}");

    assert!(lab.stats().mcp_requests >= 5);
    client.cancel().await?;
    lab.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn lab_tools_over_a_byte_stream_without_auth() -> anyhow::Result<()> {
    // `run_stdio_server` owns the process's real stdio, so the same router is served over
    // an in-memory pipe: the newline-delimited JSON-RPC framing is the same.
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move {
        let running = LabTools.serve(server_io).await?;
        running.waiting().await?;
        anyhow::Ok(())
    });
    let client = ().serve(client_io).await?;
    assert_eq!(client.list_all_tools().await?.len(), 4);
    let echo = client
        .call_tool(
            CallToolRequestParams::new("echo").with_arguments(args(json!({"message": "hi"}))),
        )
        .await?;
    assert_eq!(
        echo.content[0].as_text().map(|t| t.text.as_str()),
        Some("hi")
    );
    let who = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await?;
    let text = who.content[0].as_text().map(|t| t.text.clone());
    assert_eq!(text.as_deref(), Some("anonymous (stdio)"));
    client.cancel().await?;
    server.await??;
    Ok(())
}

#[tokio::test]
async fn lab_mcp_client_sees_the_auth_challenge() {
    let lab = quiet_lab().await;
    let config =
        StreamableHttpClientTransportConfig::with_uri(lab.mcp_url.as_str()).auth_header("lab_at_x");
    let err = match ().serve(StreamableHttpClientTransport::from_config(config)).await {
        Ok(_) => panic!("a forged token must not get a session"),
        Err(err) => err,
    };
    assert!(err.is_authorization_required(), "{err:?}");
    let challenge = err.auth_challenge().unwrap_or_default();
    assert!(challenge.contains("resource_metadata="), "{challenge}");
}
