//! With `consent` on (the demo), `/authorize` and `/device` are pages a person approves: a form
//! with Approve and Deny whose POST decides. The scripted browser approves by the same POST.

use std::time::Duration;

use reqwest::StatusCode;

use super::tests_support::*;
use super::*;

async fn consent_lab() -> Lab {
    lab_with(LabOptions {
        rest_failure_rate: 0.0,
        device_auto_approve_after: Duration::from_secs(600),
        consent: true,
        ..LabOptions::default()
    })
    .await
}

fn request(challenge: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("client_id", PUBLIC_CLIENT.into()),
        ("redirect_uri", REDIRECT.into()),
        ("state", "st-7".into()),
        ("code_challenge", challenge.into()),
        ("code_challenge_method", "S256".into()),
        ("scope", "mcp:tools api:read".into()),
    ]
}

#[tokio::test]
async fn authorize_shows_a_consent_page_and_its_form_post_decides() {
    let lab = consent_lab().await;
    let (_, challenge) = pkce();
    let query = request(&challenge);
    let page = http()
        .get(format!("{}/authorize", lab.issuer))
        .query(&query)
        .send()
        .await
        .expect("authorize");
    assert_eq!(page.status(), StatusCode::OK, "a page, not a redirect");
    let html = page.text().await.expect("html");
    assert!(
        html.contains("<form method=\"post\" action=\"/authorize\">"),
        "{html}"
    );
    // The fields a browser submits with the Approve button.
    let mut fields: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    fields.push(("decision".into(), "approve".into()));
    assert!(html.contains(">Deny</button>"), "{html}");
    assert!(lab.stats().by_grant.is_empty());

    // The form's fields, posted as a person's click posts them, give a code.
    let resp = http()
        .post(format!("{}/authorize", lab.issuer))
        .form(&fields)
        .send()
        .await
        .expect("approve");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("ascii");
    let url = url::Url::parse(location).expect("url");
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert!(
        param(&pairs, "code").is_some_and(|c| c.starts_with("lab_ac_")),
        "{location}"
    );
    assert_eq!(param(&pairs, "state"), Some("st-7"));

    // Deny sends the client access_denied and no code.
    let mut denied = fields.clone();
    denied.retain(|(k, _)| k != "decision");
    denied.push(("decision".into(), "deny".into()));
    let resp = http()
        .post(format!("{}/authorize", lab.issuer))
        .form(&denied)
        .send()
        .await
        .expect("deny");
    let location = resp.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("ascii");
    assert!(location.contains("error=access_denied"), "{location}");
    assert!(!location.contains("code="), "{location}");
}

#[tokio::test]
async fn a_post_without_a_decision_or_with_a_foreign_redirect_is_refused() {
    let lab = consent_lab().await;
    let (_, challenge) = pkce();
    let resp = http()
        .post(format!("{}/authorize", lab.issuer))
        .form(&request(&challenge))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let mut evil = request(&challenge);
    evil.retain(|(k, _)| *k != "redirect_uri");
    evil.push(("redirect_uri", "https://evil.example/cb".into()));
    evil.push(("decision", "approve".into()));
    let resp = http()
        .post(format!("{}/authorize", lab.issuer))
        .form(&evil)
        .send()
        .await
        .expect("post");
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "no redirect to a non-loopback URI"
    );
}

#[tokio::test]
async fn the_device_page_waits_for_a_click() {
    let lab = consent_lab().await;
    let resp = http()
        .post(format!("{}/device_authorization", lab.issuer))
        .form(&[("client_id", PUBLIC_CLIENT), ("scope", "api:read")])
        .send()
        .await
        .expect("device authorization");
    let body: serde_json::Value = resp.json().await.expect("json");
    let code = body["user_code"].as_str().expect("user code").to_owned();
    let device_code = body["device_code"]
        .as_str()
        .expect("device code")
        .to_owned();
    let complete = body["verification_uri_complete"]
        .as_str()
        .expect("complete");

    // Visiting the page shows the code and buttons; it approves nothing by itself.
    let html = http()
        .get(complete)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains(&format!("value=\"{code}\"")), "{html}");
    assert!(html.contains("value=\"approve\""), "{html}");
    let poll = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device_code.as_str()),
        ("client_id", PUBLIC_CLIENT),
    ];
    let (status, body) = token(&lab, &poll).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "authorization_pending");

    let resp = http()
        .post(format!("{}/device", lab.issuer))
        .form(&[("user_code", code.as_str()), ("action", "approve")])
        .send()
        .await
        .expect("approve");
    assert_eq!(resp.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = token(&lab, &poll).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["access_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("lab_at_"))
    );
}
