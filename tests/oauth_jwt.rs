//! `token_auth_method = "private_key_jwt"` for configured OAuth connectors (Okta, Entra ID
//! certificate credentials): every token request — the authorization code exchange, each
//! refresh, each client credentials request, and revocation — carries a fresh assertion, through the real
//! binary against an AS of our own (`support::hostile`) that checks signature, `kid`, `aud`
//! (the token endpoint by default), expiry and `jti` replay (`support::jwt`).

#[path = "support/cli.rs"]
mod cli;
#[path = "support/jwt.rs"]
mod jwt;
mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use cli::{Run, Session};
use jwt::{Registered, Verifier};
use serde_json::json;
use support::hostile::{Hostile, Reply, Request};

struct As {
    peer: Hostile,
    refusals: Arc<Mutex<Vec<String>>>,
    /// Access and refresh tokens it issued.
    issued: Arc<Mutex<Vec<String>>>,
}

/// The grant a token request is for, checked apart from the client's authentication.
fn check_grant(req: &Request, issued: &[String]) -> Result<(), String> {
    match req.form("grant_type").as_deref() {
        Some("authorization_code") => {
            if req.form("code").as_deref() != Some("code-Fixture-1")
                || req.form("code_verifier").is_none()
            {
                return Err("bad code or no PKCE verifier".into());
            }
        }
        Some("refresh_token") => {
            let rt = req.form("refresh_token").unwrap_or_default();
            if !issued.contains(&rt) {
                return Err("unknown refresh token".into());
            }
        }
        Some("client_credentials") => {}
        other => return Err(format!("grant_type {other:?}")),
    }
    Ok(())
}

/// An AS at the peer's root, with clients `cid` (ES256, `kid` "key-1", audience the token
/// endpoint; connector `okta`) and `svc` (RS256, audience as configured: the AS's origin;
/// connector `reports`), and a REST API at
/// `/api/me` that wants one of its tokens.
async fn authorization_server(cid: Registered, svc: Registered) -> As {
    let origin = Arc::new(OnceLock::<String>::new());
    let base = origin.clone();
    let refusals = Arc::new(Mutex::new(Vec::new()));
    let issued = Arc::new(Mutex::new(Vec::<String>::new()));
    let (refused, tokens) = (refusals.clone(), issued.clone());
    let verifiers = OnceLock::<HashMap<&'static str, Verifier>>::new();
    let revoke_verifier = OnceLock::<Verifier>::new();
    let n = AtomicU64::new(0);
    let peer = Hostile::start(move |req: &Request| {
        let base = base.get().cloned().unwrap_or_default();
        match (req.method.as_str(), req.path()) {
            ("GET", "/authorize") => {
                let q = |k: &str| {
                    url::Url::parse(&format!("http://x{}", req.target))
                        .ok()
                        .and_then(|u| {
                            u.query_pairs()
                                .find(|(n, _)| n == k)
                                .map(|(_, v)| v.into_owned())
                        })
                        .unwrap_or_default()
                };
                let to = format!(
                    "{}?code=code-Fixture-1&state={}",
                    q("redirect_uri"),
                    q("state")
                );
                Reply::redirect(302, &to)
            }
            ("POST", "/token") => {
                let verifiers = verifiers.get_or_init(|| {
                    HashMap::from([
                        (
                            "cid",
                            Verifier::new(cid.clone(), "cid", &format!("{base}/token"), 0),
                        ),
                        ("svc", Verifier::new(svc.clone(), "svc", &base, 0)),
                    ])
                });
                let client = req.form("client_id").unwrap_or_default();
                let checked = check_grant(req, &tokens.lock().expect("issued")).and_then(|()| {
                    let v = verifiers.get(client.as_str()).ok_or("unknown client_id")?;
                    let claims = v.check_client(req)?;
                    let header = req
                        .form("client_assertion")
                        .and_then(|a| jwt::decode(&a).ok())
                        .map(|(h, _)| h)
                        .unwrap_or_default();
                    if client == "cid" && header["kid"] != "key-1" {
                        return Err("no kid key-1".to_string());
                    }
                    Ok(claims)
                });
                match checked {
                    Ok(_) => {
                        let i = n.fetch_add(1, Ordering::SeqCst);
                        let (access, refresh) = (
                            format!("oa-access-{i}-Fixture"),
                            format!("oa-refresh-{i}-Fixture"),
                        );
                        tokens
                            .lock()
                            .expect("issued")
                            .extend([access.clone(), refresh.clone()]);
                        Reply::json(
                            200,
                            json!({"access_token": access, "refresh_token": refresh,
                                   "token_type": "Bearer", "expires_in": 3600}),
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
            // RFC 7009 revocation, the client authenticating with an assertion addressed to
            // this endpoint (as Okta wants).
            ("POST", "/revoke") => {
                let v = revoke_verifier.get_or_init(|| {
                    Verifier::new(cid.clone(), "cid", &format!("{base}/revoke"), 0)
                });
                match v.check_client(req) {
                    Ok(_) => Reply::text(200, "text/plain", ""),
                    Err(why) => {
                        refused
                            .lock()
                            .expect("refusals")
                            .push(format!("revoke: {why}"));
                        Reply::json(
                            401,
                            json!({"error": "invalid_client", "error_description": why}),
                        )
                    }
                }
            }
            ("GET", "/api/me") => {
                let ok = req
                    .header("authorization")
                    .and_then(|h| h.strip_prefix("Bearer "))
                    .is_some_and(|t| tokens.lock().expect("issued").iter().any(|i| i == t));
                if ok {
                    Reply::json(200, json!({"me": "ok"}))
                } else {
                    Reply::json(401, json!({"error": "invalid_token"}))
                }
            }
            _ => Reply::text(404, "text/plain", "not found"),
        }
    })
    .await;
    let _ = origin.set(format!("http://{}", peer.addr));
    As {
        peer,
        refusals,
        issued,
    }
}

fn config(base: &str) -> String {
    format!(
        r#"[[connectors]]
id = "okta"
kind = "rest"
[connectors.rest]
base_url = "{base}/api"
health_path = "/me"
[connectors.auth]
type = "oauth2"
authorize_url = "{base}/authorize"
token_url = "{base}/token"
revoke_url = "{base}/revoke"
client_id = "cid"
token_auth_method = "private_key_jwt"
private_key_file = "keys/okta.pem"
private_key_alg = "ES256"
private_key_id = "key-1"
[connectors.schedule]
probe = "1h"

[[connectors]]
id = "reports"
kind = "rest"
[connectors.rest]
base_url = "{base}/api"
health_path = "/me"
[connectors.auth]
type = "client-credentials"
token_url = "{base}/token"
client_id = "svc"
token_auth_method = "private_key_jwt"
private_key = "${{SVC_KEY}}"
assertion_audience = "{base}"
[connectors.schedule]
probe = "1h"
"#
    )
}

fn run(s: &mut Session, args: &[&str]) -> Run {
    tokio::task::block_in_place(|| s.expect(args, 0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_token_request_of_an_oauth_connector_carries_a_fresh_assertion() {
    let (okta_pem, okta_key) = jwt::es256();
    let (svc_pem, svc_key) = jwt::rs256();
    let server = authorization_server(okta_key, svc_key).await;
    let mut s = Session::new(&config(&server.peer.url("")));
    std::fs::create_dir_all(s.dir.path().join("keys")).expect("keys dir");
    std::fs::write(s.dir.path().join("keys/okta.pem"), &okta_pem).expect("write key");
    s.env.push(("SVC_KEY".into(), svc_pem.clone().into()));

    run(&mut s, &["auth", "okta"]);
    run(&mut s, &["refresh", "okta"]);
    run(&mut s, &["probe", "okta"]);
    run(&mut s, &["revoke", "okta"]);
    assert_eq!(
        server.peer.requests_to("/revoke").len(),
        2,
        "refresh and access token"
    );
    run(&mut s, &["auth", "reports"]);
    run(&mut s, &["refresh", "reports"]);
    run(&mut s, &["probe", "reports"]);
    assert!(
        server.refusals.lock().unwrap().is_empty(),
        "{:?}",
        server.refusals.lock().unwrap()
    );

    let grants: Vec<(String, String)> = server
        .peer
        .requests_to("/token")
        .iter()
        .map(|r| {
            (
                r.form("client_id").unwrap_or_default(),
                r.form("grant_type").unwrap_or_default(),
            )
        })
        .collect();
    let want = |c: &str, g: &str| (c.to_string(), g.to_string());
    assert_eq!(
        grants,
        [
            want("cid", "authorization_code"),
            want("cid", "refresh_token"),
            want("svc", "client_credentials"),
            want("svc", "client_credentials"),
        ]
    );

    // Nothing secret anywhere: keys, assertions, tokens.
    let log = cli::log_text(&s.data_dir);
    let all: String = s
        .transcript
        .iter()
        .map(|r| format!("{}{}", r.stdout, r.stderr))
        .chain([log])
        .collect();
    let mut secrets: Vec<String> = server.issued.lock().unwrap().clone();
    for pem in [&okta_pem, &svc_pem] {
        secrets.push(jwt::pem_fragment(pem));
    }
    for req in server.peer.requests_to("/token") {
        secrets.extend(req.form("client_assertion"));
    }
    jwt::assert_none_leaked(&all, &secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_the_as_does_not_hold_is_a_clear_error_naming_the_connector() {
    let (okta_pem, okta_key) = jwt::es256();
    let (_, svc_key) = jwt::rs256();
    let (wrong_pem, _) = jwt::rs256();
    let server = authorization_server(okta_key, svc_key).await;
    let mut s = Session::new(&config(&server.peer.url("")));
    std::fs::create_dir_all(s.dir.path().join("keys")).expect("keys dir");
    std::fs::write(s.dir.path().join("keys/okta.pem"), &okta_pem).expect("write key");
    s.env.push(("SVC_KEY".into(), wrong_pem.clone().into()));
    let run = tokio::task::block_in_place(|| s.run(&["auth", "reports"]));
    assert_ne!(run.code, 0, "{run}");
    assert_eq!(
        *server.refusals.lock().unwrap(),
        ["signature does not verify with the registered key"]
    );
    for needle in [
        "reports",
        "refused the signed assertion (RS256)",
        "public half for client svc",
    ] {
        assert!(run.stderr.contains(needle), "no {needle:?}:\n{run}");
    }
    let body: String = wrong_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(!run.stderr.contains(&body[..40]), "{run}");
}
