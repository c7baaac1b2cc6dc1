//! `--grant client-credentials --private-key FILE` (private_key_jwt, RFC 7523) through the real
//! binary against an authorization server of our own on loopback (`support::hostile`) that
//! checks what a real one does: the assertion's signature against the client's registered
//! public key (ES256 and RS256), `iss`/`sub`, the audience (its issuer), a short unexpired
//! lifetime and a `jti` it has not seen. A wrong key and an assertion the AS finds expired must
//! each end in a clear error that shows neither the key nor the assertion.

#[path = "support/cli.rs"]
mod cli;
mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use support::hostile::{Hostile, Reply, Request};

const GUARD: Duration = Duration::from_secs(120);
const TOKEN: &str = "jwt-token-51be";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The client's registered public key, as the AS holds it.
#[derive(Clone)]
enum Registered {
    Es256(Vec<u8>),
    Rs256(Vec<u8>),
}

fn pem(der: &[u8]) -> String {
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(der)
    )
}

/// A fresh P-256 key: its PEM and its registration.
fn es256() -> (String, Registered) {
    let der = EcdsaKeyPair::generate_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &SystemRandom::new(),
    )
    .expect("generate P-256");
    let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der.as_ref())
        .expect("parse P-256");
    (
        pem(der.as_ref()),
        Registered::Es256(pair.public_key().as_ref().to_vec()),
    )
}

fn rs256() -> (String, Registered) {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("generate RSA");
    let der: aws_lc_rs::encoding::Pkcs8V1Der = pair.as_der().expect("RSA as PKCS#8");
    (
        pem(der.as_ref()),
        Registered::Rs256(pair.public_key().as_ref().to_vec()),
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn refuse(why: &str) -> Reply {
    Reply::json(
        401,
        json!({"error": "invalid_client", "error_description": why}),
    )
}

/// The AS's check of one token request; `skew` is how far its clock runs ahead of ours.
fn check(
    req: &Request,
    key: &Registered,
    issuer: &str,
    skew: i64,
    seen: &Mutex<HashSet<String>>,
) -> Result<(), String> {
    if req.form("grant_type").as_deref() != Some("client_credentials") {
        return Err("grant_type".into());
    }
    if req.form("client_assertion_type").as_deref() != Some(ASSERTION_TYPE) {
        return Err("client_assertion_type".into());
    }
    if req.header("authorization").is_some() || req.form("client_secret").is_some() {
        return Err("a secret was sent too".into());
    }
    let jwt = req.form("client_assertion").ok_or("no client_assertion")?;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, s] = parts[..] else {
        return Err("not a JWS".into());
    };
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|e| e.to_string())?;
    let signed = format!("{h}.{c}");
    let (alg, verified) = match key {
        Registered::Es256(public) => (
            "ES256",
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, public)
                .verify(signed.as_bytes(), &sig),
        ),
        Registered::Rs256(public) => (
            "RS256",
            signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public)
                .verify(signed.as_bytes(), &sig),
        ),
    };
    if header["alg"] != alg || verified.is_err() {
        return Err("signature does not verify with the registered key".into());
    }
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    if claims["iss"] != "cid" || claims["sub"] != "cid" {
        return Err("iss/sub is not the client".into());
    }
    if claims["aud"] != issuer {
        return Err(format!("aud {} is not {issuer}", claims["aud"]));
    }
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or(0),
        claims["exp"].as_i64().unwrap_or(0),
    );
    if exp <= now() + skew {
        return Err("assertion expired".into());
    }
    if exp - iat > 300 {
        return Err("assertion lives too long".into());
    }
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty())
        .ok_or("no jti")?;
    if !seen.lock().expect("seen").insert(jti.to_string()) {
        return Err("jti replayed".into());
    }
    Ok(())
}

fn mcp(req: &Request, base: &str) -> Reply {
    if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return Reply::json(401, json!({"error": "invalid_token"})).with_header(
            "WWW-Authenticate",
            &format!(
                "Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource/mcp\""
            ),
        );
    }
    support::hostile::mcp_answer(req, "2025-11-25", "jwt_tool")
}

struct As {
    peer: Hostile,
    refusals: Arc<Mutex<Vec<String>>>,
}

async fn server(key: Registered, skew: i64) -> As {
    let origin = Arc::new(OnceLock::<String>::new());
    let base = origin.clone();
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let refusals = Arc::new(Mutex::new(Vec::new()));
    let refused = refusals.clone();
    let peer = Hostile::start(move |req: &Request| {
        let base = base.get().cloned().unwrap_or_default();
        let issuer = format!("{base}/as");
        match (req.method.as_str(), req.path()) {
            ("POST", "/mcp") => mcp(req, &base),
            ("GET", "/mcp") => Reply::text(405, "text/plain", "no stream"),
            ("GET", "/.well-known/oauth-protected-resource/mcp") => Reply::json(
                200,
                json!({"resource": format!("{base}/mcp"), "authorization_servers": [issuer]}),
            ),
            ("GET", "/.well-known/oauth-authorization-server/as") => Reply::json(
                200,
                json!({
                    "issuer": issuer,
                    "token_endpoint": format!("{base}/as/token"),
                    "grant_types_supported": ["client_credentials"],
                    "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                    "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"]
                }),
            ),
            ("POST", "/as/token") => match check(req, &key, &issuer, skew, &seen) {
                Ok(()) => Reply::json(
                    200,
                    json!({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600}),
                ),
                Err(why) => {
                    refused.lock().expect("refusals").push(why.clone());
                    refuse(&why)
                }
            },
            _ => Reply::text(404, "text/plain", "not found"),
        }
    })
    .await;
    let _ = origin.set(format!("http://{}", peer.addr));
    As { peer, refusals }
}

use cli::Ran;

async fn tools(url: &str, key_pem: &str) -> Ran {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("client.pem");
    std::fs::write(&key, key_pem).expect("write key");
    let mut cmd = tokio::process::Command::from(cli::scrubbed(cli::BIN));
    cmd.args([
        "tools",
        "--url",
        url,
        "--grant",
        "client-credentials",
        "--client-id",
        "cid",
        "--private-key",
    ])
    .arg(&key)
    .env("HOME", dir.path())
    .env("XDG_CONFIG_HOME", dir.path().join("config"))
    .env("XDG_DATA_HOME", dir.path().join("data"))
    .env("SWITCHBOARD_LOG", "debug")
    .env_remove("SWITCHBOARD_CLIENT_SECRET")
    .kill_on_drop(true);
    cli::output(cmd, GUARD).await
}

/// Neither the key nor any assertion (a JWS starts `eyJ`) reaches the output.
fn assert_nothing_secret(ran: &Ran, key_pem: &str, peer: &Hostile) {
    let body: String = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let output = format!("{}{}", ran.stdout, ran.stderr);
    assert!(!output.contains(&body[..40]), "the key leaked:\n{output}");
    for req in peer.requests_to("/as/token") {
        let jwt = req.form("client_assertion").unwrap_or_default();
        assert!(
            !jwt.is_empty() && !output.contains(&jwt),
            "the assertion leaked:\n{output}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_and_rs256_assertions_pass_a_checking_authorization_server() {
    for (pem, registered) in [es256(), rs256()] {
        let server = server(registered, 0).await;
        let ran = tools(&server.peer.url("/mcp"), &pem).await;
        assert_eq!(
            ran.code,
            0,
            "refusals {:?}\nstdout:\n{}\nstderr:\n{}",
            server.refusals.lock().unwrap(),
            ran.stdout,
            ran.stderr
        );
        assert!(ran.stdout.contains("jwt_tool"), "{}", ran.stdout);
        assert_eq!(server.peer.requests_to("/as/token").len(), 1);
        assert_nothing_secret(&ran, &pem, &server.peer);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_a_clear_refusal() {
    let (_, registered) = es256();
    let (other, _) = es256();
    let server = server(registered, 0).await;
    let ran = tools(&server.peer.url("/mcp"), &other).await;
    assert_ne!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(
        *server.refusals.lock().unwrap(),
        ["signature does not verify with the registered key"]
    );
    assert!(ran.stderr.contains("invalid_client"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("refused the signed assertion (ES256)"),
        "{}",
        ran.stderr
    );
    assert_nothing_secret(&ran, &other, &server.peer);
}

/// The AS's clock runs an hour ahead: every assertion is expired when it arrives. The error
/// must say so and point at the clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_the_server_finds_expired_is_a_clear_refusal() {
    let (pem, registered) = es256();
    let server = server(registered, 3600).await;
    let ran = tools(&server.peer.url("/mcp"), &pem).await;
    assert_ne!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(*server.refusals.lock().unwrap(), ["assertion expired"]);
    assert!(ran.stderr.contains("assertion expired"), "{}", ran.stderr);
    assert!(ran.stderr.contains("clock"), "{}", ran.stderr);
    assert_nothing_secret(&ran, &pem, &server.peer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_key_is_a_usage_error_that_sends_nothing() {
    let (_, registered) = es256();
    let server = server(registered, 0).await;
    let ran = tools(
        &server.peer.url("/mcp"),
        "-----BEGIN PRIVATE KEY-----\nbm90LWEta2V5\n-----END PRIVATE KEY-----\n",
    )
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("not a usable private key"),
        "{}",
        ran.stderr
    );
    assert!(server.peer.requests().is_empty());
}
