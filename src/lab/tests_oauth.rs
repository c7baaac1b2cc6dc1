//! The authorization server and REST API, exercised over real loopback HTTP.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::*;

pub(super) async fn lab_with(opts: LabOptions) -> Lab {
    Lab::start(opts).await.expect("lab starts")
}

pub(super) async fn quiet_lab() -> Lab {
    lab_with(LabOptions {
        rest_failure_rate: 0.0,
        device_auto_approve_after: Duration::from_secs(600),
        ..LabOptions::default()
    })
    .await
}

pub(super) fn http() -> reqwest::Client {
    // Redirects are followed by hand: the 302 from /authorize points at a loopback
    // listener that does not exist in these tests.
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn pkce() -> (String, String) {
    let verifier = format!("verifier-{}", "x".repeat(50));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// Runs `/authorize` and returns the query parameters of the redirect.
async fn authorize(lab: &Lab, query: &[(&str, &str)]) -> Vec<(String, String)> {
    let resp = http()
        .get(format!("{}/authorize", lab.issuer))
        .query(query)
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("ascii");
    assert!(location.starts_with(REDIRECT), "{location}");
    let url = url::Url::parse(location).expect("url");
    url.query_pairs().into_owned().collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn get_code(lab: &Lab, client_id: &str, challenge: &str) -> String {
    let pairs = authorize(
        lab,
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("state", "st-42"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("scope", "mcp:tools api:read"),
        ],
    )
    .await;
    assert_eq!(param(&pairs, "state"), Some("st-42"));
    assert_eq!(param(&pairs, "iss"), Some(lab.issuer.as_str()));
    param(&pairs, "code").expect("code").to_owned()
}

pub(super) async fn token(lab: &Lab, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let resp = http()
        .post(format!("{}/token", lab.issuer))
        .form(form)
        .send()
        .await
        .expect("token");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A full authorization-code + PKCE login; returns the token response.
async fn login(lab: &Lab, client_id: &str) -> Value {
    let (verifier, challenge) = pkce();
    let code = get_code(lab, client_id, &challenge).await;
    let (status, body) = token(
        lab,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn refresh(lab: &Lab, client_id: &str, rt: &str) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", client_id),
    ];
    token(lab, &form).await
}

pub(super) async fn me(lab: &Lab, at: &str) -> reqwest::Response {
    http()
        .get(format!("{}/me", lab.rest_base))
        .bearer_auth(at)
        .send()
        .await
        .expect("me")
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_default()
}

#[tokio::test]
async fn lab_code_flow_with_pkce_end_to_end() {
    let lab = quiet_lab().await;
    let meta: Value = http()
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            lab.issuer
        ))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("metadata")
        .json()
        .await
        .expect("json");
    assert_eq!(meta["issuer"], lab.issuer.as_str());
    assert_eq!(meta["code_challenge_methods_supported"][0], "S256");

    let body = login(&lab, PUBLIC_CLIENT).await;
    assert!(s(&body, "access_token").starts_with("lab_at_"));
    assert!(s(&body, "refresh_token").starts_with("lab_rt_"));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 60);
    assert_eq!(body["scope"], "mcp:tools api:read");
    let who: Value = me(&lab, s(&body, "access_token"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(who["client_id"], PUBLIC_CLIENT);
    assert_eq!(who["sub"], "demo-user");
    let secrets = lab.issued_secrets();
    assert!(secrets.contains(&s(&body, "refresh_token").to_owned()));
    assert_eq!(lab.stats().by_grant["authorization_code"], 1);
}

#[tokio::test]
async fn lab_pkce_is_enforced() {
    let lab = quiet_lab().await;
    let (_, challenge) = pkce();
    let code = get_code(&lab, PUBLIC_CLIENT, &challenge).await;
    let wrong = "w".repeat(60);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", PUBLIC_CLIENT),
        ("code_verifier", wrong.as_str()),
    ];
    let (status, body) = token(&lab, &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    // The failed attempt spent the code.
    let (_, body) = token(&lab, &form).await;
    assert_eq!(body["error"], "invalid_grant");

    let pairs = authorize(
        &lab,
        &[
            ("response_type", "code"),
            ("client_id", PUBLIC_CLIENT),
            ("redirect_uri", REDIRECT),
            ("state", "s1"),
        ],
    )
    .await;
    assert_eq!(param(&pairs, "error"), Some("invalid_request"));
    assert_eq!(param(&pairs, "state"), Some("s1"));
    assert_eq!(param(&pairs, "code"), None);

    // Non-loopback redirect URIs are refused without redirecting anywhere.
    let resp = http()
        .get(format!("{}/authorize", lab.issuer))
        .query(&[
            ("client_id", PUBLIC_CLIENT),
            ("redirect_uri", "https://evil.example/cb"),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn lab_refresh_rotates_five_times() {
    let lab = quiet_lab().await;
    let body = login(&lab, PUBLIC_CLIENT).await;
    let mut rt = s(&body, "refresh_token").to_owned();
    let mut at = s(&body, "access_token").to_owned();
    for _ in 0..5 {
        let (status, next) = refresh(&lab, PUBLIC_CLIENT, &rt).await;
        assert_eq!(status, StatusCode::OK, "{next}");
        assert_ne!(s(&next, "refresh_token"), rt);
        assert_ne!(s(&next, "access_token"), at);
        rt = s(&next, "refresh_token").to_owned();
        at = s(&next, "access_token").to_owned();
        assert_eq!(me(&lab, &at).await.status(), StatusCode::OK);
    }
    let stats = lab.stats();
    assert_eq!(stats.refresh_ok, 5);
    assert_eq!(stats.by_grant["refresh_token"], 5);
}

#[tokio::test]
async fn lab_refresh_reuse_revokes_the_grant() {
    let lab = quiet_lab().await;
    let body = login(&lab, PUBLIC_CLIENT).await;
    let old = s(&body, "refresh_token").to_owned();
    let (_, next) = refresh(&lab, PUBLIC_CLIENT, &old).await;
    let current = s(&next, "refresh_token").to_owned();
    let current_at = s(&next, "access_token").to_owned();

    let (status, err) = refresh(&lab, PUBLIC_CLIENT, &old).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_grant");
    let (_, err) = refresh(&lab, PUBLIC_CLIENT, &current).await;
    assert_eq!(
        err["error"], "invalid_grant",
        "the current token died with the grant"
    );
    assert_eq!(
        me(&lab, &current_at).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let stats = lab.stats();
    assert_eq!((stats.reuse_detected, stats.grants_revoked), (1, 1));
    assert_eq!((stats.refresh_ok, stats.refresh_failed), (1, 2));
}

#[tokio::test]
async fn lab_client_credentials_basic_and_post() {
    let lab = quiet_lab().await;
    let basic = STANDARD.encode(format!("{SERVICE_CLIENT}:{SERVICE_SECRET}"));
    let resp = http()
        .post(format!("{}/token", lab.issuer))
        .header("Authorization", format!("Basic {basic}"))
        .form(&[("grant_type", "client_credentials"), ("scope", "api:read")])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    assert!(body.get("refresh_token").is_none());
    assert_eq!(body["scope"], "api:read");
    let who: Value = me(&lab, s(&body, "access_token"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(who["client_id"], SERVICE_CLIENT);

    let post = [
        ("grant_type", "client_credentials"),
        ("client_id", SERVICE_CLIENT),
        ("client_secret", SERVICE_SECRET),
    ];
    let (status, body) = token(&lab, &post).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let bad = [
        ("grant_type", "client_credentials"),
        ("client_id", SERVICE_CLIENT),
        ("client_secret", "nope"),
    ];
    let (status, body) = token(&lab, &bad).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    let public = [
        ("grant_type", "client_credentials"),
        ("client_id", PUBLIC_CLIENT),
    ];
    let (status, body) = token(&lab, &public).await;
    assert_eq!(
        (status, s(&body, "error")),
        (StatusCode::BAD_REQUEST, "unauthorized_client")
    );
}

async fn start_device(lab: &Lab) -> Value {
    http()
        .post(format!("{}/device_authorization", lab.issuer))
        .form(&[("client_id", PUBLIC_CLIENT), ("scope", "mcp:tools")])
        .send()
        .await
        .expect("device")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn lab_device_flow_pending_then_approved() {
    let lab = quiet_lab().await;
    let dev = start_device(&lab).await;
    let user_code = s(&dev, "user_code");
    assert_eq!(user_code.len(), 9);
    assert_eq!(dev["verification_uri"], format!("{}/device", lab.issuer));
    let poll = [
        ("grant_type", oauth::DEVICE_GRANT),
        ("device_code", s(&dev, "device_code")),
        ("client_id", PUBLIC_CLIENT),
    ];
    let (status, body) = token(&lab, &poll).await;
    assert_eq!(
        (status, s(&body, "error")),
        (StatusCode::BAD_REQUEST, "authorization_pending")
    );

    let page = http()
        .get(s(&dev, "verification_uri_complete"))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = token(&lab, &poll).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(s(&body, "refresh_token").starts_with("lab_rt_"));
    // A device code is single use.
    let (_, body) = token(&lab, &poll).await;
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn lab_device_flow_slow_down_and_auto_approve() {
    let lab = lab_with(LabOptions {
        device_auto_approve_after: Duration::ZERO,
        ..LabOptions::default()
    })
    .await;
    let dev = start_device(&lab).await;
    let poll = [
        ("grant_type", oauth::DEVICE_GRANT),
        ("device_code", s(&dev, "device_code")),
        ("client_id", PUBLIC_CLIENT),
    ];
    let (status, _) = token(&lab, &poll).await;
    assert_eq!(status, StatusCode::OK, "auto-approved at once");

    let lab = quiet_lab().await;
    let dev = start_device(&lab).await;
    let poll = [
        ("grant_type", oauth::DEVICE_GRANT),
        ("device_code", s(&dev, "device_code")),
        ("client_id", PUBLIC_CLIENT),
    ];
    let (_, body) = token(&lab, &poll).await;
    assert_eq!(body["error"], "authorization_pending");
    let (_, body) = token(&lab, &poll).await;
    assert_eq!(body["error"], "slow_down");
}

#[tokio::test]
async fn lab_revocation_kills_refresh() {
    let lab = quiet_lab().await;
    let doomed = login(&lab, DOOMED_CLIENT).await;
    let survivor = login(&lab, PUBLIC_CLIENT).await;
    assert_eq!(lab.revoke_client_grants(DOOMED_CLIENT), 1);
    let (_, err) = refresh(&lab, DOOMED_CLIENT, s(&doomed, "refresh_token")).await;
    assert_eq!(err["error"], "invalid_grant");
    assert_eq!(
        me(&lab, s(&doomed, "access_token")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me(&lab, s(&survivor, "access_token")).await.status(),
        StatusCode::OK
    );

    // RFC 7009: revoking the refresh token takes the grant with it; unknown tokens are fine.
    for tok in [s(&survivor, "refresh_token"), "no-such-token"] {
        let resp = http()
            .post(format!("{}/revoke", lab.issuer))
            .form(&[("token", tok), ("client_id", PUBLIC_CLIENT)])
            .send()
            .await
            .expect("revoke");
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let (_, err) = refresh(&lab, PUBLIC_CLIENT, s(&survivor, "refresh_token")).await;
    assert_eq!(err["error"], "invalid_grant");
    assert_eq!(lab.stats().grants_revoked, 2);
}

#[tokio::test]
async fn lab_rest_api_auth_and_failure_modes() {
    let lab = quiet_lab().await;
    let api = &lab.rest_base;
    let resp = http().get(format!("{api}/me")).send().await.expect("me");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let challenge = resp.headers()["www-authenticate"].to_str().expect("ascii");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert_eq!(
        me(&lab, "lab_at_bogus").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let get = |path: &str| http().get(format!("{api}{path}")).send();
    assert_eq!(get("/health").await.expect("h").status(), StatusCode::OK);
    assert_eq!(get("/gone").await.expect("g").status(), StatusCode::GONE);
    let limited = get("/limited").await.expect("l");
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "2");
    assert_eq!(lab.stats().rest_requests, 5);

    let flaky = lab_with(LabOptions {
        rest_failure_rate: 1.0,
        ..LabOptions::default()
    })
    .await;
    let post = [
        ("grant_type", "client_credentials"),
        ("client_id", SERVICE_CLIENT),
        ("client_secret", SERVICE_SECRET),
    ];
    let (_, body) = token(&flaky, &post).await;
    let resp = me(&flaky, s(&body, "access_token")).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(flaky.stats().rest_failures, 1);
    flaky.shutdown().await;
}

#[tokio::test]
async fn lab_down_and_malformed_requests() {
    let lab = quiet_lab().await;
    lab.set_down(true);
    let post = [
        ("grant_type", "client_credentials"),
        ("client_id", SERVICE_CLIENT),
        ("client_secret", SERVICE_SECRET),
    ];
    let (status, _) = token(&lab, &post).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    lab.set_down(false);
    assert_eq!(token(&lab, &post).await.0, StatusCode::OK);
    assert_eq!(lab.stats().token_requests, 2);

    let raw = |body: &'static [u8], auth: Option<&'static str>| {
        let mut req = http()
            .post(format!("{}/token", lab.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(auth) = auth {
            req = req.header("Authorization", auth);
        }
        req.send()
    };
    let resp = raw(b"\xff\xfe%%%&&==", None).await.expect("raw");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("json error body");
    assert_eq!(body["error"], "invalid_request");
    let resp = raw(b"grant_type=client_credentials", Some("Basic !!!"))
        .await
        .expect("raw");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = raw(b"grant_type=password", None).await.expect("raw");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = http()
        .get(format!("{}/authorize", lab.issuer))
        .send()
        .await
        .expect("a");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    lab.shutdown().await;
}
