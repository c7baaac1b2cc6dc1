//! `--grant cross-app` (enterprise-managed authorization, SEP-990) through the real binary
//! against a loopback IdP and AS of our own (`support::hostile`): the ID token is exchanged at
//! the IdP (RFC 8693, for an ID-JAG whose audience is the AS and resource the MCP server), then
//! redeemed at the AS (RFC 7523 JWT bearer grant, the client authenticating with Basic). An IdP
//! that refuses the ID token must give a clear error that never shows the token.

#[path = "support/cli.rs"]
mod cli;
mod support;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use serde_json::json;
use support::hostile::{Hostile, Reply, Request};

const GUARD: Duration = Duration::from_secs(120);
const ID_TOKEN: &str = "id-token-Fixture-0b7e";
const JAG: &str = "id-jag-Fixture-c4d1";
const TOKEN: &str = "xaa-token-2f9a";
const SECRET: &str = "as-s3cret-Fixture-aa10";

fn mcp(req: &Request, base: &str) -> Reply {
    if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return Reply::json(401, json!({"error": "invalid_token"})).with_header(
            "WWW-Authenticate",
            &format!(
                "Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource/mcp\""
            ),
        );
    }
    support::hostile::mcp_answer(req, "2025-11-25", "xaa_tool")
}

fn bad(why: &str) -> Reply {
    Reply::json(
        400,
        json!({"error": "invalid_grant", "error_description": why}),
    )
}

/// MCP server, AS (`/as`) and IdP (`/idp`) on one peer. `idp_accepts`: whether the IdP takes
/// the ID token.
async fn fleet(idp_accepts: bool) -> Hostile {
    let origin = Arc::new(OnceLock::<String>::new());
    let base = origin.clone();
    let peer = Hostile::start(move |req: &Request| {
        let base = base.get().cloned().unwrap_or_default();
        let (as_issuer, mcp_url) = (format!("{base}/as"), format!("{base}/mcp"));
        match (req.method.as_str(), req.path()) {
            ("POST", "/mcp") => mcp(req, &base),
            ("GET", "/mcp") => Reply::text(405, "text/plain", "no stream"),
            ("GET", "/.well-known/oauth-protected-resource/mcp") => Reply::json(
                200,
                json!({"resource": mcp_url, "authorization_servers": [as_issuer]}),
            ),
            ("GET", "/.well-known/oauth-authorization-server/as") => Reply::json(
                200,
                json!({"issuer": as_issuer, "token_endpoint": format!("{base}/as/token"),
                       "grant_types_supported": ["urn:ietf:params:oauth:grant-type:jwt-bearer"]}),
            ),
            ("GET", "/.well-known/openid-configuration/idp") => Reply::json(
                200,
                json!({"issuer": format!("{base}/idp"), "token_endpoint": format!("{base}/idp/token")}),
            ),
            ("POST", "/idp/token") => {
                let f = |k: &str| req.form(k).unwrap_or_default();
                if !idp_accepts {
                    return bad("the ID token has expired");
                }
                if f("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange"
                    || f("subject_token") != ID_TOKEN
                    || f("subject_token_type") != "urn:ietf:params:oauth:token-type:id_token"
                    || f("requested_token_type") != "urn:ietf:params:oauth:token-type:id-jag"
                    || f("audience") != as_issuer
                    || f("resource") != mcp_url
                    || f("client_id") != "idp-client"
                {
                    return bad("bad token exchange");
                }
                Reply::json(200, json!({"access_token": JAG, "token_type": "N_A",
                    "issued_token_type": "urn:ietf:params:oauth:token-type:id-jag"}))
            }
            ("POST", "/as/token") => {
                let basic = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("cid:{SECRET}"))
                );
                if req.form("grant_type").as_deref() != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
                    || req.form("assertion").as_deref() != Some(JAG)
                    || req.header("authorization") != Some(basic.as_str())
                {
                    return Reply::json(401, json!({"error": "invalid_client"}));
                }
                Reply::json(200, json!({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600}))
            }
            _ => Reply::text(404, "text/plain", "not found"),
        }
    })
    .await;
    let _ = origin.set(format!("http://{}", peer.addr));
    peer
}

use cli::Ran;

async fn tools(peer: &Hostile, extra: &[&str]) -> Ran {
    let dir = tempfile::tempdir().expect("tempdir");
    let id_token = dir.path().join("id_token");
    std::fs::write(&id_token, format!("{ID_TOKEN}\n")).expect("write the ID token");
    let (url, idp) = (peer.url("/mcp"), peer.url("/idp"));
    let mut cmd = tokio::process::Command::from(cli::scrubbed(cli::BIN));
    cmd.args([
        "tools",
        "--url",
        &url,
        "--grant",
        "cross-app",
        "--client-id",
        "cid",
    ])
    .args([
        "--idp-issuer",
        &idp,
        "--idp-client-id",
        "idp-client",
        "--id-token-file",
    ])
    .arg(&id_token)
    .args(extra)
    .env("SWITCHBOARD_CLIENT_SECRET", SECRET)
    .env("HOME", dir.path())
    .env("XDG_CONFIG_HOME", dir.path().join("config"))
    .env("XDG_DATA_HOME", dir.path().join("data"))
    .env("SWITCHBOARD_LOG", "debug")
    .kill_on_drop(true);
    cli::output(cmd, GUARD).await
}

fn assert_nothing_secret(ran: &Ran) {
    for s in [ID_TOKEN, JAG, SECRET, TOKEN] {
        assert!(
            !ran.stdout.contains(s) && !ran.stderr.contains(s),
            "{s} leaked:\n{}\n{}",
            ran.stdout,
            ran.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_id_token_is_exchanged_at_the_idp_and_redeemed_at_the_as() {
    let peer = fleet(true).await;
    let ran = tools(&peer, &[]).await;
    assert_eq!(
        ran.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    assert!(ran.stdout.contains("xaa_tool"), "{}", ran.stdout);
    assert_eq!(peer.requests_to("/idp/token").len(), 1);
    assert_eq!(peer.requests_to("/as/token").len(), 1);
    assert_nothing_secret(&ran);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_token_the_idp_refuses_is_a_clear_error() {
    let peer = fleet(false).await;
    let ran = tools(&peer, &[]).await;
    assert_ne!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("token exchange at identity provider")
            && ran
                .stderr
                .contains("invalid_grant: the ID token has expired"),
        "{}",
        ran.stderr
    );
    assert!(
        peer.requests_to("/as/token").is_empty(),
        "no grant to redeem"
    );
    assert_nothing_secret(&ran);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_app_without_the_idp_is_a_usage_error() {
    let peer = fleet(true).await;
    let mut cmd = tokio::process::Command::from(cli::scrubbed(cli::BIN));
    let out = cmd
        .args([
            "tools",
            "--url",
            &peer.url("/mcp"),
            "--grant",
            "cross-app",
            "--client-id",
            "cid",
        ])
        .env("SWITCHBOARD_CLIENT_SECRET", SECRET)
        .output()
        .await
        .expect("run switchboard");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--idp-issuer"));
    assert!(peer.requests().is_empty());
}
