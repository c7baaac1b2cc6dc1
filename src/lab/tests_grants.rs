//! Client credentials, the device flow, the REST API and failure modes, over loopback HTTP.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::Value;

use super::tests_support::*;
use super::*;

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

#[tokio::test]
async fn lab_injected_refresh_failures_leave_the_grant_intact() {
    let lab = quiet_lab().await;
    let grant = login(&lab, PUBLIC_CLIENT).await;
    let rt = s(&grant, "refresh_token").to_owned();
    assert_eq!(lab.set_refresh_failure_rate(1.0), 0);
    for _ in 0..3 {
        let (status, body) = refresh(&lab, PUBLIC_CLIENT, &rt).await;
        assert_eq!(
            (status, s(&body, "error")),
            (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
        );
    }
    // The refused attempts never touched the refresh token: it still rotates.
    assert_eq!(lab.set_refresh_failure_rate(0.0), 3);
    let (status, body) = refresh(&lab, PUBLIC_CLIENT, &rt).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_ne!(s(&body, "refresh_token"), rt);
    // Out-of-range rates are clamped, over HTTP as in process.
    let r: Value = http()
        .post(format!("{}/admin/refresh-failures?rate=7", lab.issuer))
        .send()
        .await
        .expect("admin")
        .json()
        .await
        .expect("json");
    assert_eq!(r["rate"], 1.0);
}

#[tokio::test]
async fn lab_counts_requests_made_with_expired_tokens() {
    let lab = lab_with(LabOptions {
        access_token_ttl: Duration::from_millis(300),
        rest_failure_rate: 0.0,
        ..LabOptions::default()
    })
    .await;
    let grant = login(&lab, PUBLIC_CLIENT).await;
    let at = s(&grant, "access_token").to_owned();
    assert_eq!(me(&lab, &at).await.status(), StatusCode::OK);
    assert_eq!(
        me(&lab, "lab_at_made_up").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        lab.stats().expired_token_uses,
        0,
        "a made-up token is not an expired one"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(me(&lab, &at).await.status(), StatusCode::UNAUTHORIZED);
    // Issuing purges the expired token; a late use is still recognised.
    login(&lab, PUBLIC_CLIENT).await;
    assert_eq!(me(&lab, &at).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(lab.stats().expired_token_uses, 2);
}
