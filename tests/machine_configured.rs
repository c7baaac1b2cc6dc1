//! A configured `type = "mcp"` connector with `grant = "client-credentials"`: a machine client
//! that discovers the server's authorization server (RFC 9728, RFC 8414) and gets its token
//! with the client credentials grant through the broker, with no human. Through the real binary
//! against a loopback MCP server and an AS of our own (`support::hostile`) that checks each
//! client assertion as a real one does (`support::jwt`: signature, `aud`, expiry, `jti`
//! replay). `probe`, `tools`, `call` and the daemon's scheduler all go through the broker.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/jwt.rs"]
mod jwt;
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use cli::{KillOnDrop, Run, Session};
use jwt::{Registered, Verifier};
use serde_json::json;
use support::hostile::{Hostile, Reply, Request};

const SECRET: &str = "m2m-s3cret-Fixture-77c1";

/// How the AS authenticates the client.
enum ClientAuth {
    Key(Registered),
    Basic,
}

struct Fleet {
    peer: Hostile,
    /// Why the AS refused token requests, in order.
    refusals: Arc<Mutex<Vec<String>>>,
    /// Every access token it issued.
    issued: Arc<Mutex<Vec<String>>>,
}

fn mcp(req: &Request, base: &str, issued: &[String], legacy: bool) -> Reply {
    let ok = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|t| issued.iter().any(|i| i == t));
    if !ok {
        // A 2025-03-26 server names no resource metadata: it has none.
        let challenge = if legacy {
            "Bearer".to_string()
        } else {
            format!("Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource/mcp\"")
        };
        return Reply::json(401, json!({"error": "invalid_token"}))
            .with_header("WWW-Authenticate", &challenge);
    }
    let msg: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    if msg["method"] == "tools/call" {
        return Reply::json(
            200,
            json!({"jsonrpc": "2.0", "id": msg["id"],
                   "result": {"content": [{"type": "text", "text": "pong from the machine"}]}}),
        );
    }
    support::hostile::mcp_answer(req, "2025-11-25", "m2m_tool")
}

/// The MCP server (`/mcp`) and its AS (`/as`), tokens living `ttl` seconds. `skew`: how far
/// the AS's clock runs ahead. `legacy`: a 2025-03-26 server, with no protected-resource
/// metadata and its AS at its own origin (issuer the origin, no resource indicators).
async fn fleet(auth: ClientAuth, ttl: u64, skew: i64, legacy: bool) -> Fleet {
    let origin = Arc::new(OnceLock::<String>::new());
    let base = origin.clone();
    let refusals = Arc::new(Mutex::new(Vec::new()));
    let issued = Arc::new(Mutex::new(Vec::<String>::new()));
    let (refused, tokens) = (refusals.clone(), issued.clone());
    let verifier = OnceLock::<Verifier>::new();
    let n = AtomicU64::new(0);
    let peer = Hostile::start(move |req: &Request| {
        let base = base.get().cloned().unwrap_or_default();
        let issuer = if legacy {
            base.clone()
        } else {
            format!("{base}/as")
        };
        let metadata_path = if legacy {
            "/.well-known/oauth-authorization-server"
        } else {
            "/.well-known/oauth-authorization-server/as"
        };
        match (req.method.as_str(), req.path()) {
            ("POST", "/mcp") => mcp(req, &base, &tokens.lock().expect("issued"), legacy),
            ("GET", "/mcp") => Reply::text(405, "text/plain", "no stream"),
            ("DELETE", "/mcp") => Reply::text(405, "text/plain", "no sessions"),
            ("GET", "/.well-known/oauth-protected-resource/mcp") if !legacy => Reply::json(
                200,
                json!({"resource": format!("{base}/mcp"), "authorization_servers": [issuer]}),
            ),
            ("GET", path) if path == metadata_path => Reply::json(
                200,
                json!({
                    "issuer": issuer,
                    "token_endpoint": format!("{base}/as/token"),
                    "grant_types_supported": ["client_credentials"],
                    "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
                    "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"]
                }),
            ),
            ("POST", "/as/token") => {
                let checked = if req.form("grant_type").as_deref() != Some("client_credentials") {
                    Err("grant_type".to_string())
                } else if !legacy && req.form("resource") != Some(format!("{base}/mcp")) {
                    Err("resource".to_string())
                } else {
                    match &auth {
                        ClientAuth::Key(key) => verifier
                            .get_or_init(|| Verifier::new(key.clone(), "cid", &issuer, skew))
                            .check_client(req)
                            .map(|_| ()),
                        ClientAuth::Basic => {
                            let basic = format!(
                                "Basic {}",
                                base64::engine::general_purpose::STANDARD
                                    .encode(format!("cid:{SECRET}"))
                            );
                            if req.header("authorization") == Some(basic.as_str()) {
                                Ok(())
                            } else {
                                Err("bad client secret".into())
                            }
                        }
                    }
                };
                match checked {
                    Ok(()) => {
                        let token = format!(
                            "m2m-token-{}-Fixture",
                            n.fetch_add(1, Ordering::SeqCst)
                        );
                        tokens.lock().expect("issued").push(token.clone());
                        Reply::json(
                            200,
                            json!({"access_token": token, "token_type": "Bearer", "expires_in": ttl}),
                        )
                    }
                    Err(why) => {
                        refused.lock().expect("refusals").push(why.clone());
                        Reply::json(
                            401,
                            json!({"error": "invalid_client", "error_description": why}),
                        )
                    }
                }
            }
            _ => Reply::text(404, "text/plain", "not found"),
        }
    })
    .await;
    let _ = origin.set(format!("http://{}", peer.addr));
    Fleet {
        peer,
        refusals,
        issued,
    }
}

/// The connector, authenticating with `auth_lines`.
fn config(fleet: &Fleet, auth_lines: &str) -> String {
    format!(
        r#"[[connectors]]
id = "m2m"
kind = "mcp"
[connectors.mcp]
transport = "streamable-http"
url = "{}"
[connectors.auth]
type = "mcp"
grant = "client-credentials"
client_id = "cid"
{auth_lines}
[connectors.schedule]
probe = "1h"
refresh_lead = "2s"
"#,
        fleet.peer.url("/mcp")
    )
}

const KEY_FILE: &str = "token_auth_method = \"private_key_jwt\"\nprivate_key_file = \"client.pem\"";

/// A session whose config sits beside `client.pem` (the relative `private_key_file`).
fn session(config_text: &str, pem: &str) -> Session {
    let s = Session::new(config_text);
    std::fs::write(s.dir.path().join("client.pem"), pem).expect("write the key");
    s
}

fn run(s: &mut Session, args: &[&str]) -> Run {
    tokio::task::block_in_place(|| s.run(args))
}

/// No key, secret, assertion or token in any output or in the log.
fn assert_nothing_secret(s: &Session, fleet: &Fleet, pem: Option<&str>) {
    let log = cli::log_text(&s.data_dir);
    let all: String = s
        .transcript
        .iter()
        .map(|r| format!("{}{}", r.stdout, r.stderr))
        .chain([log])
        .collect();
    let mut secrets: Vec<String> = fleet.issued.lock().expect("issued").clone();
    secrets.push(SECRET.into());
    if let Some(pem) = pem {
        secrets.push(jwt::pem_fragment(pem));
    }
    for req in fleet.peer.requests_to("/as/token") {
        secrets.extend(req.form("client_assertion"));
    }
    jwt::assert_none_leaked(&all, &secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_connector_discovers_and_signs_its_way_to_probe_tools_and_call() {
    let (pem, registered) = jwt::es256();
    let fleet = fleet(ClientAuth::Key(registered), 3600, 0, false).await;
    let mut s = session(&config(&fleet, KEY_FILE), &pem);

    let probe = run(&mut s, &["probe", "m2m"]);
    assert_eq!(
        probe.code,
        0,
        "refusals {:?}\n{probe}",
        fleet.refusals.lock().unwrap()
    );
    let tools = run(&mut s, &["tools", "m2m"]);
    assert_eq!(tools.code, 0, "{tools}");
    assert!(tools.stdout.contains("m2m_tool"), "{tools}");
    let call = run(&mut s, &["call", "m2m", "m2m_tool", "{}"]);
    assert_eq!(call.code, 0, "{call}");
    assert!(call.stdout.contains("pong from the machine"), "{call}");
    let status = run(&mut s, &["status"]);
    assert_eq!(status.code, 0, "{status}");
    assert!(status.stdout.contains("m2m"), "{status}");

    assert!(fleet.refusals.lock().unwrap().is_empty());
    // Discovery found the AS once; later processes build their client from the store.
    assert!(
        !fleet
            .peer
            .requests_to("/.well-known/oauth-authorization-server/as")
            .is_empty()
    );
    assert!(!fleet.peer.requests_to("/as/token").is_empty());
    assert_nothing_secret(&s, &fleet, Some(&pem));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rs256_key_from_the_environment_works_the_same() {
    let (pem, registered) = jwt::rs256();
    let fleet = fleet(ClientAuth::Key(registered), 3600, 0, false).await;
    let lines = "token_auth_method = \"private_key_jwt\"\nprivate_key = \"${M2M_KEY}\"\nprivate_key_alg = \"RS256\"";
    let mut s = Session::new(&config(&fleet, lines));
    s.env.push(("M2M_KEY".into(), pem.clone().into()));
    let call = run(&mut s, &["call", "m2m", "m2m_tool", "{}"]);
    assert_eq!(
        call.code,
        0,
        "refusals {:?}\n{call}",
        fleet.refusals.lock().unwrap()
    );
    assert!(call.stdout.contains("pong from the machine"), "{call}");
    assert_nothing_secret(&s, &fleet, Some(&pem));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_secret_works_through_discovery_too() {
    let fleet = fleet(ClientAuth::Basic, 3600, 0, false).await;
    let lines = "client_secret = \"${M2M_SECRET}\"";
    let mut s = Session::new(&config(&fleet, lines));
    s.env.push(("M2M_SECRET".into(), SECRET.into()));
    let call = run(&mut s, &["call", "m2m", "m2m_tool", "{}"]);
    assert_eq!(
        call.code,
        0,
        "refusals {:?}\n{call}",
        fleet.refusals.lock().unwrap()
    );
    assert_nothing_secret(&s, &fleet, None);
}

/// Tokens live 4 s with a 2 s lead: a running daemon asks again and again, each time with a
/// fresh assertion (the AS refuses a `jti` it has seen).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_keeps_a_machine_token_fresh_with_a_new_assertion_each_time() {
    let (pem, registered) = jwt::es256();
    let fleet = fleet(ClientAuth::Key(registered), 4, 0, false).await;
    let mut s = session(&config(&fleet, KEY_FILE), &pem);
    let (mut cmd, _, _) = s.command(&["daemon"]);
    let daemon = KillOnDrop(cmd.spawn().expect("start the daemon"));
    let start = Instant::now();
    while fleet.issued.lock().unwrap().len() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the daemon got {} tokens; refusals {:?}; log:\n{}",
            fleet.issued.lock().unwrap().len(),
            fleet.refusals.lock().unwrap(),
            cli::log_text(&s.data_dir)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(daemon);
    assert!(fleet.refusals.lock().unwrap().is_empty());
    let jtis: std::collections::HashSet<String> = fleet
        .peer
        .requests_to("/as/token")
        .iter()
        .filter_map(|r| r.form("client_assertion"))
        .filter_map(|a| jwt::decode(&a).ok())
        .filter_map(|(_, c)| c["jti"].as_str().map(str::to_string))
        .collect();
    assert!(jtis.len() >= 3, "{jtis:?}");
    s.transcript.clear();
    assert_nothing_secret(&s, &fleet, Some(&pem));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_names_the_connector_and_what_to_check() {
    let (_, registered) = jwt::es256();
    let (other, _) = jwt::es256();
    let fleet = fleet(ClientAuth::Key(registered), 3600, 0, false).await;
    let mut s = session(&config(&fleet, KEY_FILE), &other);
    let call = run(&mut s, &["call", "m2m", "m2m_tool", "{}"]);
    assert_ne!(call.code, 0, "{call}");
    assert_eq!(
        fleet.refusals.lock().unwrap()[0],
        "signature does not verify with the registered key"
    );
    for needle in [
        "m2m",
        "invalid_client",
        "refused the signed assertion (ES256)",
        "public half for client cid",
    ] {
        assert!(call.stderr.contains(needle), "no {needle:?}:\n{call}");
    }
    assert_nothing_secret(&s, &fleet, Some(&other));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_the_server_finds_expired_points_at_the_clock() {
    let (pem, registered) = jwt::es256();
    let fleet = fleet(ClientAuth::Key(registered), 3600, 3600, false).await;
    let mut s = session(&config(&fleet, KEY_FILE), &pem);
    let probe = run(&mut s, &["call", "m2m", "m2m_tool", "{}"]);
    assert_ne!(probe.code, 0, "{probe}");
    assert_eq!(fleet.refusals.lock().unwrap()[0], "assertion expired");
    assert!(
        probe.stderr.contains("assertion expired") && probe.stderr.contains("clock"),
        "{probe}"
    );
    assert_nothing_secret(&s, &fleet, Some(&pem));
}

/// A 2025-03-26 server: no protected-resource metadata, so the AS is found at the server's
/// origin; the assertion's audience is that issuer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2025_03_26_server_is_found_through_the_legacy_fallback() {
    let (pem, registered) = jwt::es256();
    let fleet = fleet(ClientAuth::Key(registered), 3600, 0, true).await;
    let mut s = session(&config(&fleet, KEY_FILE), &pem);
    let call = run(&mut s, &["call", "m2m", "m2m_tool", "{}"]);
    assert_eq!(
        call.code,
        0,
        "refusals {:?}\n{call}",
        fleet.refusals.lock().unwrap()
    );
    assert!(call.stdout.contains("pong from the machine"), "{call}");
    assert_eq!(
        fleet
            .peer
            .requests_to("/.well-known/oauth-authorization-server")
            .len(),
        1
    );
    assert_nothing_secret(&s, &fleet, Some(&pem));
}
