//! MCP authorization against a 2025-03-26 server through the real binary (`tools --url`): no
//! protected-resource metadata, so the authorization server is the MCP server's origin — its
//! RFC 8414 metadata when it has some, else the default `/authorize`, `/token` and `/register`.
//! The server is a loopback `support::hostile` peer playing MCP server and AS at once; the
//! "browser" is curl following the AS's redirect back to switchboard's loopback listener.

#[path = "support/cli.rs"]
mod cli;
mod support;

use std::time::Duration;

use serde_json::json;
use support::hostile::{Hostile, Reply, Request};

const GUARD: Duration = Duration::from_secs(120);
const TOKEN: &str = "legacy-token-7f3a";

/// What the AS publishes at the origin's well-known URL.
#[derive(Clone, Copy)]
enum Metadata {
    /// 404: the defaults apply.
    None,
    /// RFC 8414 metadata naming endpoints under `/oauth`.
    UnderOauth,
}

fn mcp(req: &Request) -> Reply {
    if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return Reply::json(401, json!({"error": "invalid_token"}))
            .with_header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    }
    support::hostile::mcp_answer(req, "2025-03-26", "legacy_tool")
}

async fn legacy_server(metadata: Metadata) -> Hostile {
    let port = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let origin = port.clone();
    let peer = Hostile::start(move |req: &Request| {
        let base = origin.get().cloned().unwrap_or_default();
        let prefix = match metadata {
            Metadata::None => "",
            Metadata::UnderOauth => "/oauth",
        };
        match (req.method.as_str(), req.path()) {
            ("POST", "/mcp") => mcp(req),
            ("GET", "/mcp") => Reply::text(405, "text/plain", "no stream"),
            ("GET", "/.well-known/oauth-authorization-server") => match metadata {
                Metadata::None => Reply::text(404, "text/plain", "not found"),
                Metadata::UnderOauth => Reply::json(
                    200,
                    json!({
                        "issuer": format!("{base}/oauth"),
                        "authorization_endpoint": format!("{base}/oauth/authorize"),
                        "token_endpoint": format!("{base}/oauth/token"),
                        "registration_endpoint": format!("{base}/oauth/register"),
                        "code_challenge_methods_supported": ["S256"],
                        "token_endpoint_auth_methods_supported": ["none"]
                    }),
                ),
            },
            ("POST", p) if p == format!("{prefix}/register") => Reply::json(
                201,
                json!({"client_id": "legacy-client", "redirect_uris": ["http://127.0.0.1/callback"]}),
            ),
            ("GET", p) if p == format!("{prefix}/authorize") => {
                let query = req.target.split_once('?').map(|(_, q)| q).unwrap_or("");
                let param = |name: &str| {
                    url::form_urlencoded::parse(query.as_bytes())
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                let mut back = url::Url::parse(&param("redirect_uri"))
                    .unwrap_or_else(|_| url::Url::parse("http://127.0.0.1/").expect("url"));
                back.query_pairs_mut()
                    .append_pair("code", "legacy-code")
                    .append_pair("state", &param("state"));
                Reply::redirect(302, back.as_str())
            }
            ("POST", p) if p == format!("{prefix}/token") => Reply::json(
                200,
                json!({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600}),
            ),
            _ => Reply::text(404, "text/plain", "not found"),
        }
    })
    .await;
    let _ = port.set(format!("http://{}", peer.addr));
    peer
}

use cli::Ran;

async fn tools(url: &str) -> Ran {
    let dir = tempfile::tempdir().expect("tempdir");
    let browser = dir.path().join("browser.sh");
    cli::write_script(
        &browser,
        "#!/bin/sh\nexec curl -s -L --noproxy '*' --max-time 30 -o /dev/null \"$1\"\n",
    );
    let mut cmd = tokio::process::Command::from(cli::scrubbed(cli::BIN));
    cmd.args(["tools", "--url", url])
        .env("BROWSER", &browser)
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .kill_on_drop(true);
    cli::output(cmd, GUARD).await
}

/// The login ran at `prefix`'s endpoints and the token request carried no `resource` (2025-03-26
/// had no resource indicators, and an old AS may refuse one).
fn assert_logged_in(peer: &Hostile, prefix: &str, ran: &Ran) {
    assert_eq!(
        ran.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    assert!(ran.stdout.contains("legacy_tool"), "{}", ran.stdout);
    assert_eq!(peer.requests_to(&format!("{prefix}/register")).len(), 1);
    assert_eq!(peer.requests_to(&format!("{prefix}/authorize")).len(), 1);
    let token = peer.requests_to(&format!("{prefix}/token"));
    assert_eq!(token.len(), 1);
    assert_eq!(
        token[0].form("grant_type").as_deref(),
        Some("authorization_code")
    );
    assert!(token[0].form("code_verifier").is_some(), "PKCE");
    assert_eq!(token[0].form("resource"), None, "{}", token[0].body_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_metadata_at_all_falls_back_to_the_default_endpoints() {
    let peer = legacy_server(Metadata::None).await;
    let ran = tools(&peer.url("/mcp")).await;
    assert_logged_in(&peer, "", &ran);
    assert!(
        !peer
            .requests_to("/.well-known/oauth-authorization-server")
            .is_empty(),
        "the metadata was looked for first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_at_the_origin_names_the_endpoints() {
    let peer = legacy_server(Metadata::UnderOauth).await;
    let ran = tools(&peer.url("/mcp")).await;
    assert_logged_in(&peer, "/oauth", &ran);
    assert!(
        peer.requests_to("/token").is_empty(),
        "the defaults were not used"
    );
}

/// A challenge that names its protected-resource metadata is a newer server whose metadata is
/// broken: reported, never guessed around.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_but_missing_resource_metadata_is_not_guessed_around() {
    let peer = Hostile::start(|req: &Request| match req.path() {
        "/mcp" => Reply::json(401, json!({"error": "invalid_token"})).with_header(
            "WWW-Authenticate",
            "Bearer resource_metadata=\"/.well-known/oauth-protected-resource/mcp\"",
        ),
        _ => Reply::text(404, "text/plain", "not found"),
    })
    .await;
    let ran = tools(&peer.url("/mcp")).await;
    assert_ne!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("protected-resource metadata"),
        "{}",
        ran.stderr
    );
    assert!(
        peer.requests_to("/.well-known/oauth-authorization-server")
            .is_empty()
    );
    assert!(peer.requests_to("/register").is_empty());
}
