//! `--protocol-version` and `[connectors.mcp] protocol_version` through the real binary: the
//! `initialize` a loopback MCP server (`support::hostile`) receives proposes the pinned
//! revision, and without a pin rmcp's newest. The conformance suite's `initialize` scenario
//! refuses revisions it does not know, which is what the pin is for.

#[path = "support/cli.rs"]
mod cli;
mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::hostile::{Hostile, Reply, Request};

const GUARD: Duration = Duration::from_secs(120);

/// A stateless MCP server that answers `initialize` with whatever revision was proposed.
async fn server() -> Hostile {
    Hostile::start(|req: &Request| {
        if req.method != "POST" {
            return Reply::text(405, "text/plain", "no stream");
        }
        let msg: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let id = &msg["id"];
        let result = match msg["method"].as_str().unwrap_or_default() {
            "initialize" => json!({
                "protocolVersion": msg["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "pinned", "version": "0"}
            }),
            "tools/list" => json!({"tools": []}),
            _ if id.is_null() => return Reply::text(202, "text/plain", ""),
            _ => json!({}),
        };
        Reply::json(200, json!({"jsonrpc": "2.0", "id": id, "result": result}))
    })
    .await
}

use cli::Ran;

async fn switchboard(args: &[&str], dir: &std::path::Path) -> Ran {
    let mut cmd = tokio::process::Command::from(cli::scrubbed(cli::BIN));
    cmd.args(args)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .kill_on_drop(true);
    cli::output(cmd, GUARD).await
}

/// The revisions proposed in the `initialize` requests the server received.
fn proposed(peer: &Hostile) -> Vec<String> {
    peer.requests_to("/mcp")
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .filter(|m| m["method"] == "initialize")
        .filter_map(|m| m["params"]["protocolVersion"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ad_hoc_target_proposes_the_pinned_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let peer = server().await;
    let url = peer.url("/mcp");
    let ran = switchboard(
        &["tools", "--url", &url, "--protocol-version", "2025-06-18"],
        dir.path(),
    )
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(proposed(&peer), ["2025-06-18"]);

    let unpinned = server().await;
    let ran = switchboard(&["tools", "--url", &unpinned.url("/mcp")], dir.path()).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let default = proposed(&unpinned);
    assert_eq!(default.len(), 1);
    assert_ne!(default[0], "2025-06-18", "the pin must not be the default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_revision_is_a_usage_error_that_lists_the_known_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let peer = server().await;
    let ran = switchboard(
        &[
            "tools",
            "--url",
            &peer.url("/mcp"),
            "--protocol-version",
            "2099-01-01",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("2099-01-01") && ran.stderr.contains("2025-11-25"),
        "{}",
        ran.stderr
    );
    assert!(peer.requests().is_empty(), "nothing may be sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_connector_proposes_its_protocol_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let peer = server().await;
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[connectors]]\nid = \"pinned\"\nkind = \"mcp\"\n[connectors.mcp]\ntransport = \"streamable-http\"\nurl = \"{}\"\nprotocol_version = \"2025-03-26\"\n",
            peer.url("/mcp")
        ),
    )
    .expect("write config");
    let config = config.display().to_string();
    let data = dir.path().join("store").display().to_string();
    let ran = switchboard(
        &["--config", &config, "--data-dir", &data, "tools", "pinned"],
        dir.path(),
    )
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let sent = proposed(&peer);
    assert!(!sent.is_empty(), "no initialize reached the server");
    assert!(sent.iter().all(|v| v == "2025-03-26"), "{sent:?}");

    let ran = switchboard(
        &[
            "--config",
            &config,
            "--data-dir",
            &data,
            "tools",
            "pinned",
            "--protocol-version",
            "2025-06-18",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("protocol_version under [connectors.mcp]"),
        "{}",
        ran.stderr
    );
}
