//! The authorization code flow, refresh rotation and revocation, over real loopback HTTP.

use reqwest::StatusCode;
use serde_json::Value;

use super::tests_support::*;
use super::*;

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
async fn lab_access_tokens_expire() {
    let lab = lab_with(LabOptions {
        access_token_ttl: std::time::Duration::from_millis(400),
        rest_failure_rate: 0.0,
        ..LabOptions::default()
    })
    .await;
    let body = login(&lab, PUBLIC_CLIENT).await;
    assert_eq!(body["expires_in"], 1);
    let at = s(&body, "access_token");
    assert_eq!(me(&lab, at).await.status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(me(&lab, at).await.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = refresh(&lab, PUBLIC_CLIENT, s(&body, "refresh_token")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the refresh token outlives the access token"
    );
}
