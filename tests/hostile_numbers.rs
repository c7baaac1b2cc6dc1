//! Numbers a server sends meet our clocks only clamped: here the device flow's `interval` and
//! `expires_in` (a legacy SSE `Retry-After` is in hostile_bodies.rs, an SSE `retry:` in
//! hostile_mcp.rs). Each peer is a `support::hostile` script on loopback; each test failed (a
//! panic, or a refused login) before the clamps.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use support::hostile::{Hostile, Reply};
use switchboard::auth::OAuthSpec;
use switchboard::auth::device::{self, DeviceProgress};
use switchboard::domain::ErrorClass;

/// Only a hang guard: every test here ends in a few seconds when the code is right.
const GUARD: Duration = Duration::from_secs(60);

fn device_spec(peer: &Hostile) -> OAuthSpec {
    let mut spec = OAuthSpec {
        client_id: "device-client".into(),
        scopes: vec!["api:read".into()],
        pkce: false,
        ..support::explicit_oauth(peer.url("/token"))
    };
    if let Some(e) = spec.endpoints.as_mut() {
        e.device = Some(peer.url("/device"));
    }
    spec
}

/// A device endpoint answering `start`, and a token endpoint answering `poll` to every poll.
async fn device_server(start: serde_json::Value, poll: Reply) -> Hostile {
    Hostile::start(move |req| match req.path() {
        "/device" => Reply::json(200, start.clone()),
        "/token" => poll.clone(),
        _ => Reply::text(404, "text/plain", "no"),
    })
    .await
}

fn start(expires_in: serde_json::Value, interval: serde_json::Value) -> serde_json::Value {
    json!({
        "device_code": "dc", "user_code": "WDJB-MJHT",
        "verification_uri": "https://example.test/device",
        "expires_in": expires_in, "interval": interval,
    })
}

fn token() -> Reply {
    Reply::json(
        200,
        json!({"access_token": "at", "token_type": "Bearer", "expires_in": 3600}),
    )
}

/// Runs the flow, returning its result and the `expires_in` the prompt showed.
async fn run(
    peer: &Hostile,
) -> (
    Result<switchboard::store::NewToken, switchboard::domain::Failure>,
    Option<Duration>,
) {
    let shown = Arc::new(Mutex::new(None));
    let seen = shown.clone();
    let on = move |p: DeviceProgress<'_>| {
        if let DeviceProgress::Prompt(p) = p {
            *seen.lock().unwrap() = Some(p.expires_in);
        }
    };
    let http = support::http();
    let result = tokio::time::timeout(
        GUARD,
        device::device_authorization(&http, &device_spec(peer), &on),
    )
    .await
    .expect("the device flow ended");
    let expires = *shown.lock().unwrap();
    (result, expires)
}

#[tokio::test]
async fn a_u64_max_interval_is_clamped_and_the_code_still_expires_on_time() {
    let pending = Reply::json(400, json!({"error": "authorization_pending"}));
    let peer = device_server(start(json!(2), json!(u64::MAX)), pending).await;
    let (result, _) = run(&peer).await;
    let f = result.expect_err("the code expires while pending");
    assert_eq!(f.class, ErrorClass::Auth, "{f}");
    assert!(f.message.contains("the code expired"), "{f}");
}

#[tokio::test]
async fn a_huge_expires_in_is_clamped_to_half_an_hour() {
    let peer = device_server(start(json!(u64::MAX), json!(1)), token()).await;
    let (result, expires) = run(&peer).await;
    let token = result.expect("the login completes");
    assert_eq!(token.access.expose(), "at");
    assert_eq!(expires, Some(Duration::from_secs(30 * 60)));
    assert_eq!(peer.requests_to("/token").len(), 1);
}

#[tokio::test]
async fn a_negative_expires_in_does_not_fail_the_login() {
    let peer = device_server(start(json!(-5), json!(1)), token()).await;
    let (result, expires) = run(&peer).await;
    result.expect("a negative expires_in is treated as unknown, not fatal");
    let expires = expires.expect("the prompt was shown");
    assert!(expires > Duration::ZERO && expires <= Duration::from_secs(30 * 60));
}
