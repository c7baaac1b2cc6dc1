//! Fleet clients and the per-client counters `benches/fleet.sh` reads at `/admin/clients`.

use reqwest::StatusCode;
use rmcp::ServiceExt;
use rmcp::model::{ClientRequest, PingRequest};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use super::tests_support::{http, login, quiet_lab, refresh, s, token};
use super::*;

async fn service_token(lab: &Lab, client_id: &str) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", SERVICE_SECRET),
    ];
    token(lab, &form).await
}

async fn clients(lab: &Lab, full: bool) -> Value {
    let url = format!(
        "{}/admin/clients{}",
        lab.issuer,
        if full { "?full=1" } else { "" }
    );
    let resp = http().get(url).send().await.expect("clients");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("json")
}

#[tokio::test]
async fn fleet_clients_get_tokens_and_are_counted_one_by_one() {
    let lab = quiet_lab().await;
    for i in 0..3 {
        let id = format!("{FLEET_SERVICE_PREFIX}{i}");
        // Client i asks i + 1 times: the histogram must tell them apart.
        for _ in 0..=i {
            let (status, body) = service_token(&lab, &id).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    // A public fleet client: authorization code, then one refresh.
    let first = login(&lab, "fleet-7").await;
    let (status, body) = refresh(&lab, "fleet-7", s(&first, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let stats = lab.stats();
    assert_eq!(stats.by_client["fleet-service-0"].token_requests, 1);
    assert_eq!(stats.by_client["fleet-service-2"].token_requests, 3);
    assert_eq!(stats.by_client["fleet-service-2"].tokens_issued, 3);
    assert_eq!(stats.by_client["fleet-7"].token_requests, 2);
    let c = clients(&lab, false).await;
    assert_eq!(c["clients"], 4);
    assert_eq!(c["token_requests"], json!({"1": 1, "2": 2, "3": 1}));
    assert!(c.get("by_client").is_none(), "only with ?full=1: {c}");
    let full = clients(&lab, true).await;
    assert_eq!(full["by_client"]["fleet-service-1"]["token_requests"], 2);
    // The plain stats stay small: the per-client map is served apart.
    let plain: Value = http()
        .get(format!("{}/admin/stats", lab.issuer))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert!(plain.get("by_client").is_none(), "{plain}");
}

#[tokio::test]
async fn wrong_secrets_empty_and_oversized_fleet_ids_are_refused_and_not_counted() {
    let lab = quiet_lab().await;
    let long = format!("{FLEET_SERVICE_PREFIX}{}", "x".repeat(80));
    for id in [FLEET_SERVICE_PREFIX, long.as_str(), "fleetservice-1"] {
        let (status, body) = service_token(&lab, id).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{id}: {body}");
    }
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "fleet-service-1"),
        ("client_secret", "guessed"),
    ];
    let (status, _) = token(&lab, &form).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A public fleet client has no secret and cannot use client credentials.
    let (status, body) = service_token(&lab, "fleet-1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let stats = lab.stats();
    // Unknown ids are never keys; known ones count the attempt but no token.
    assert_eq!(
        stats.by_client.keys().collect::<Vec<_>>(),
        ["fleet-1", "fleet-service-1"]
    );
    assert_eq!(stats.by_client["fleet-service-1"].tokens_issued, 0);
    assert_eq!(stats.token_requests, 5);
}

#[tokio::test]
async fn a_session_counts_one_initialize_however_many_requests_follow() -> anyhow::Result<()> {
    let lab = quiet_lab().await;
    let (status, body) = service_token(&lab, "fleet-service-9").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = s(&body, "access_token").to_owned();
    for _ in 0..2 {
        let config = StreamableHttpClientTransportConfig::with_uri(lab.mcp_url.as_str())
            .auth_header(access.clone());
        let client = ().serve(StreamableHttpClientTransport::from_config(config)).await?;
        for _ in 0..3 {
            client
                .send_request(ClientRequest::PingRequest(PingRequest::default()))
                .await?;
        }
        client.cancel().await?;
    }
    let stats = lab.stats();
    let counts = stats.by_client["fleet-service-9"];
    assert_eq!(counts.mcp_initialize, 2, "two sessions: {counts:?}");
    assert_eq!(stats.mcp_initialize, 2);
    assert!(counts.mcp_requests >= 2 * 4, "{counts:?}");
    let c = clients(&lab, false).await;
    assert_eq!(c["mcp_initialize"], json!({"2": 1}));
    Ok(())
}

#[tokio::test]
async fn an_oversized_session_opening_request_is_refused() {
    let lab = quiet_lab().await;
    let (_, body) = service_token(&lab, "fleet-service-3").await;
    let huge = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"pad": "x".repeat(2 << 20)}});
    let resp = http()
        .post(&lab.mcp_url)
        .bearer_auth(s(&body, "access_token"))
        .header("accept", "application/json, text/event-stream")
        .json(&huge)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(lab.stats().mcp_initialize, 0);
}
