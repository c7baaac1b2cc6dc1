//! `--grant client-credentials` through the real binary (`tools --url`): a machine client with
//! no user gets its token from the MCP server's authorization server (found by MCP discovery)
//! with the client credentials grant, authenticating with its secret. The server and AS are a
//! loopback `support::hostile` peer whose token endpoint checks the Basic credentials. The AS
//! advertises no PKCE: a machine client does not need it, so it is no reason to refuse.

#[path = "support/cli.rs"]
mod cli;
mod support;

use std::time::Duration;

use base64::Engine as _;
use serde_json::json;
use support::hostile::{Hostile, Reply, Request};

const GUARD: Duration = Duration::from_secs(120);
const SECRET: &str = "machine-s3cret-Fixture-41c2";
const TOKEN: &str = "machine-token-9d0e";

fn mcp(req: &Request, base: &str) -> Reply {
    if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return Reply::json(401, json!({"error": "invalid_token"})).with_header(
            "WWW-Authenticate",
            &format!("Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource/mcp\", scope=\"tools:read\""),
        );
    }
    support::hostile::mcp_answer(req, "2025-11-25", "machine_tool")
}

/// The MCP server, its resource metadata, and an AS that grants only `cid:SECRET` over Basic.
async fn server() -> Hostile {
    let origin = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let base = origin.clone();
    let peer = Hostile::start(move |req: &Request| {
        let base = base.get().cloned().unwrap_or_default();
        match (req.method.as_str(), req.path()) {
            ("POST", "/mcp") => mcp(req, &base),
            ("GET", "/mcp") => Reply::text(405, "text/plain", "no stream"),
            ("GET", "/.well-known/oauth-protected-resource/mcp") => Reply::json(
                200,
                json!({"resource": format!("{base}/mcp"), "authorization_servers": [format!("{base}/as")]}),
            ),
            ("GET", "/.well-known/oauth-authorization-server/as") => Reply::json(
                200,
                json!({
                    "issuer": format!("{base}/as"),
                    "token_endpoint": format!("{base}/as/token"),
                    "grant_types_supported": ["client_credentials"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic"]
                }),
            ),
            ("POST", "/as/token") => {
                let expected = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("cid:{SECRET}"))
                );
                if req.header("authorization") != Some(expected.as_str()) {
                    return Reply::json(
                        401,
                        json!({"error": "invalid_client", "error_description": "bad client credentials"}),
                    );
                }
                Reply::json(
                    200,
                    json!({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600, "scope": "tools:read"}),
                )
            }
            _ => Reply::text(404, "text/plain", "not found"),
        }
    })
    .await;
    let _ = origin.set(format!("http://{}", peer.addr));
    peer
}

use cli::Ran;

/// `switchboard tools --url URL ARGS` with the secret in the environment, no `$BROWSER` and no
/// terminal: a daemon's situation.
async fn tools(url: &str, args: &[&str], secret: Option<&str>) -> Ran {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = tokio::process::Command::from(cli::scrubbed(cli::BIN));
    cmd.args(["tools", "--url", url])
        .args(args)
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("SWITCHBOARD_LOG", "debug")
        .env_remove("SWITCHBOARD_CLIENT_SECRET")
        .kill_on_drop(true);
    if let Some(s) = secret {
        cmd.env("SWITCHBOARD_CLIENT_SECRET", s);
    }
    cli::output(cmd, GUARD).await
}

fn assert_no_secret(ran: &Ran, secret: &str) {
    assert!(
        !ran.stdout.contains(secret) && !ran.stderr.contains(secret),
        "the secret leaked:\n{}\n{}",
        ran.stdout,
        ran.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_client_gets_its_token_with_client_credentials() {
    let peer = server().await;
    let url = peer.url("/mcp");
    let ran = tools(
        &url,
        &["--grant", "client-credentials", "--client-id", "cid"],
        Some(SECRET),
    )
    .await;
    assert_eq!(
        ran.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    assert!(ran.stdout.contains("machine_tool"), "{}", ran.stdout);
    let token = peer.requests_to("/as/token");
    assert_eq!(token.len(), 1);
    assert_eq!(
        token[0].form("grant_type").as_deref(),
        Some("client_credentials")
    );
    assert_eq!(token[0].form("resource").as_deref(), Some(url.as_str()));
    assert_eq!(token[0].form("scope").as_deref(), Some("tools:read"));
    assert_eq!(
        token[0].form("client_secret"),
        None,
        "Basic, not in the body"
    );
    assert_no_secret(&ran, SECRET);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_a_clear_refusal_that_never_shows_it() {
    let peer = server().await;
    let wrong = "wrong-s3cret-Fixture-77aa";
    let ran = tools(
        &peer.url("/mcp"),
        &["--grant", "client-credentials", "--client-id", "cid"],
        Some(wrong),
    )
    .await;
    assert_ne!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stderr.contains("invalid_client"), "{}", ran.stderr);
    assert_eq!(peer.requests_to("/as/token").len(), 1, "no retry loop");
    assert_no_secret(&ran, wrong);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_without_a_client_is_a_usage_error() {
    let peer = server().await;
    let ran = tools(
        &peer.url("/mcp"),
        &["--grant", "client-credentials"],
        Some(SECRET),
    )
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("--client-id"), "{}", ran.stderr);
    let ran = tools(
        &peer.url("/mcp"),
        &["--grant", "client-credentials", "--client-id", "cid"],
        None,
    )
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("SWITCHBOARD_CLIENT_SECRET"),
        "{}",
        ran.stderr
    );
    assert!(peer.requests().is_empty(), "nothing may be sent");
}
