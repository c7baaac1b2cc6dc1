//! `--grant cross-app` (enterprise-managed authorization, SEP-990) through the real binary
//! against a loopback IdP and AS of our own (`support::hostile`): the ID token is exchanged at
//! the IdP (RFC 8693) for an ID-JAG that the IdP signs (ES256, its key published as a JWKS),
//! then redeemed at the AS (RFC 7523 JWT bearer grant, the client authenticating with Basic).
//! The AS checks the ID-JAG as a real one does: the signature against the IdP's JWKS key named
//! by `kid`, `iss`, `aud` (the AS), `client_id`, `resource`, expiry and `jti` replay
//! (`support::jwt`). A refused ID token, a tampered or an expired ID-JAG must each give a clear
//! error that never shows the token or the grant.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/jwt.rs"]
mod jwt;
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use support::hostile::{Hostile, Reply, Request};

const GUARD: Duration = Duration::from_secs(120);
const ID_TOKEN: &str = "id-token-Fixture-0b7e";
const TOKEN: &str = "xaa-token-2f9a";
const SECRET: &str = "as-s3cret-Fixture-aa10";
const KID: &str = "idp-key-1";

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

/// What the IdP does with a good ID token.
#[derive(Clone, Copy, PartialEq)]
enum Idp {
    /// Issues a fresh signed ID-JAG.
    Grants,
    /// Refuses the ID token.
    Refuses,
    /// Issues an ID-JAG whose claims were changed after signing (`sub` made an admin).
    Tampered,
    /// Issues an ID-JAG that expired a minute ago.
    Expired,
    /// Issues the same ID-JAG every time.
    Replays,
}

/// The IdP's side of an ID-JAG: its claims for this exchange, signed with the IdP's key.
fn id_jag(idp: Idp, pem: &str, base: &str, n: u64, cached: &Mutex<Option<String>>) -> String {
    if idp == Idp::Replays
        && let Some(jag) = cached.lock().expect("cached").clone()
    {
        return jag;
    }
    let now = jwt::now();
    let (iat, exp) = if idp == Idp::Expired {
        (now - 360, now - 60)
    } else {
        (now, now + 300)
    };
    let claims = json!({
        "iss": format!("{base}/idp"), "sub": "user-1", "aud": format!("{base}/as"),
        "client_id": "cid", "resource": format!("{base}/mcp"), "scope": "",
        "iat": iat, "exp": exp, "jti": format!("jag-{n}"),
    });
    let mut jag = jwt::sign_es256(pem, KID, &claims);
    if idp == Idp::Tampered {
        let mut forged = claims.clone();
        forged["sub"] = Value::from("admin");
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string());
        let parts: Vec<&str> = jag.split('.').collect();
        jag = format!("{}.{body}.{}", parts[0], parts[2]);
    }
    *cached.lock().expect("cached") = Some(jag.clone());
    jag
}

/// The AS's check of an ID-JAG: the IdP's key from its JWKS by `kid`, then the claims.
fn check_jag(jag: &str, jwks: &Value, verifier: &jwt::Verifier, base: &str) -> Result<(), String> {
    let (header, _) = jwt::decode(jag)?;
    let kid = header["kid"].as_str().ok_or("no kid")?;
    if jwt::Registered::from_jwks(jwks, kid).is_none() {
        return Err(format!("no key {kid} in the IdP's JWKS"));
    }
    let claims = verifier.check(jag, &format!("{base}/idp"), None)?;
    if claims["client_id"] != "cid" || claims["resource"] != format!("{base}/mcp") {
        return Err("the grant is for another client or resource".into());
    }
    Ok(())
}

struct Fleet {
    peer: Hostile,
    /// Why the AS refused ID-JAGs, in order.
    refusals: Arc<Mutex<Vec<String>>>,
}

/// MCP server, AS (`/as`) and IdP (`/idp`, its JWKS at `/idp/jwks`) on one peer.
async fn fleet(idp: Idp) -> Fleet {
    let (idp_pem, idp_key) = jwt::es256();
    let jwks = json!({"keys": [idp_key.jwk(KID)]});
    let origin = Arc::new(OnceLock::<String>::new());
    let base = origin.clone();
    let refusals = Arc::new(Mutex::new(Vec::new()));
    let refused = refusals.clone();
    let verifier = OnceLock::<jwt::Verifier>::new();
    let (n, cached) = (AtomicU64::new(0), Mutex::new(None));
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
                json!({"issuer": format!("{base}/idp"), "token_endpoint": format!("{base}/idp/token"),
                       "jwks_uri": format!("{base}/idp/jwks")}),
            ),
            ("GET", "/idp/jwks") => Reply::json(200, jwks.clone()),
            ("POST", "/idp/token") => {
                let f = |k: &str| req.form(k).unwrap_or_default();
                if idp == Idp::Refuses {
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
                let jag = id_jag(idp, &idp_pem, &base, n.fetch_add(1, Ordering::SeqCst), &cached);
                Reply::json(200, json!({"access_token": jag, "token_type": "N_A",
                    "issued_token_type": "urn:ietf:params:oauth:token-type:id-jag"}))
            }
            ("POST", "/as/token") => {
                let basic = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("cid:{SECRET}"))
                );
                if req.form("grant_type").as_deref() != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
                    || req.header("authorization") != Some(basic.as_str())
                {
                    return Reply::json(401, json!({"error": "invalid_client"}));
                }
                let verifier = verifier.get_or_init(|| {
                    let key = jwt::Registered::from_jwks(&jwks, KID).expect("the IdP's key");
                    jwt::Verifier::new(key, "idp", &as_issuer, 0)
                });
                let jag = req.form("assertion").unwrap_or_default();
                if let Err(why) = check_jag(&jag, &jwks, verifier, &base) {
                    refused.lock().expect("refusals").push(why.clone());
                    return bad(&format!("the ID-JAG is refused: {why}"));
                }
                Reply::json(200, json!({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600}))
            }
            _ => Reply::text(404, "text/plain", "not found"),
        }
    })
    .await;
    let _ = origin.set(format!("http://{}", peer.addr));
    Fleet { peer, refusals }
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

/// Neither the ID token, the client secret, the access token nor any ID-JAG the IdP issued.
fn assert_nothing_secret(ran: &Ran, fleet: &Fleet) {
    let mut secrets: Vec<String> = [ID_TOKEN, SECRET, TOKEN].map(String::from).to_vec();
    for req in fleet.peer.requests_to("/as/token") {
        secrets.extend(req.form("assertion"));
    }
    for s in secrets {
        assert!(
            !s.is_empty() && !ran.stdout.contains(&s) && !ran.stderr.contains(&s),
            "{s} leaked:\n{}\n{}",
            ran.stdout,
            ran.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_id_token_is_exchanged_for_a_signed_id_jag_that_the_as_verifies() {
    let fleet = fleet(Idp::Grants).await;
    let ran = tools(&fleet.peer, &[]).await;
    assert_eq!(
        ran.code,
        0,
        "refusals {:?}\nstdout:\n{}\nstderr:\n{}",
        fleet.refusals.lock().unwrap(),
        ran.stdout,
        ran.stderr
    );
    assert!(ran.stdout.contains("xaa_tool"), "{}", ran.stdout);
    assert_eq!(fleet.peer.requests_to("/idp/token").len(), 1);
    assert_eq!(fleet.peer.requests_to("/as/token").len(), 1);
    assert!(fleet.refusals.lock().unwrap().is_empty());
    assert_nothing_secret(&ran, &fleet);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_token_the_idp_refuses_is_a_clear_error() {
    let fleet = fleet(Idp::Refuses).await;
    let ran = tools(&fleet.peer, &[]).await;
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
        fleet.peer.requests_to("/as/token").is_empty(),
        "no grant to redeem"
    );
    assert_nothing_secret(&ran, &fleet);
}

/// The AS refuses the ID-JAG for `why`; the binary must say where (the AS), what (the
/// identity provider's grant) and what to check.
async fn refused_id_jag(idp: Idp, why: &str) {
    let fleet = fleet(idp).await;
    let ran = tools(&fleet.peer, &[]).await;
    assert_ne!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(*fleet.refusals.lock().unwrap(), [why]);
    for needle in [
        "JWT bearer grant at authorization server",
        "invalid_grant",
        why,
        "trusts this identity provider",
    ] {
        assert!(
            ran.stderr.contains(needle),
            "no {needle:?}:\n{}",
            ran.stderr
        );
    }
    assert_nothing_secret(&ran, &fleet);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_id_jag_is_refused_by_signature_with_a_clear_error() {
    refused_id_jag(
        Idp::Tampered,
        "signature does not verify with the registered key",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_id_jag_is_refused_with_a_clear_error() {
    refused_id_jag(Idp::Expired, "assertion expired").await;
}

/// The same ID-JAG twice (an IdP or a proxy replaying it): the second redemption is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_id_jag_is_refused() {
    let fleet = fleet(Idp::Replays).await;
    let first = tools(&fleet.peer, &[]).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    let second = tools(&fleet.peer, &[]).await;
    assert_ne!(second.code, 0, "{}", second.stderr);
    assert_eq!(*fleet.refusals.lock().unwrap(), ["jti replayed"]);
    assert!(second.stderr.contains("jti replayed"), "{}", second.stderr);
    assert_nothing_secret(&second, &fleet);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_app_without_the_idp_is_a_usage_error() {
    let peer = fleet(Idp::Grants).await.peer;
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
