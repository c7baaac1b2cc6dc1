//! Helpers shared by the lab's loopback tests.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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

pub(super) fn pkce() -> (String, String) {
    let verifier = format!("verifier-{}", "x".repeat(50));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub(super) const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// Runs `/authorize` and returns the query parameters of the redirect.
pub(super) async fn authorize(lab: &Lab, query: &[(&str, &str)]) -> Vec<(String, String)> {
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

pub(super) fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub(super) async fn get_code(lab: &Lab, client_id: &str, challenge: &str) -> String {
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
pub(super) async fn login(lab: &Lab, client_id: &str) -> Value {
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

pub(super) async fn refresh(lab: &Lab, client_id: &str, rt: &str) -> (StatusCode, Value) {
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

pub(super) fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_default()
}
