//! The loopback redirect listener of the authorization code flow (RFC 8252) against the lab: a
//! callback with a wrong `state` is refused and changes nothing, the right one completes the
//! flow, and the listener is single use, so replaying the callback reaches nobody.

mod support;

use std::time::Duration;

use support::{code_spec, http, lab};
use switchboard::auth::AuthSpec;
use switchboard::auth::flows::{self, Opener};
use switchboard::lab::PUBLIC_CLIENT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_state_is_refused_right_state_completes_and_replay_finds_no_listener() {
    let lab = lab(60).await;
    let http = http();
    let AuthSpec::OAuth(spec) = code_spec(&lab, PUBLIC_CLIENT) else {
        unreachable!()
    };
    let (url_tx, url_rx) = std::sync::mpsc::channel::<String>();
    let flow = {
        let (http, spec) = (http.clone(), spec.clone());
        tokio::spawn(async move {
            let on_url = move |u: &str| {
                let _ = url_tx.send(u.to_string());
            };
            flows::authorization_code(&http, &spec, Opener::PrintOnly, &on_url).await
        })
    };
    let authorize_url =
        tokio::task::spawn_blocking(move || url_rx.recv_timeout(Duration::from_secs(10)))
            .await
            .unwrap()
            .expect("the flow shows the authorization URL");

    // Play the browser by hand: the lab approves and redirects to our loopback callback.
    let no_redirect = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirect.get(&authorize_url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    let callback = resp.headers()["location"].to_str().unwrap().to_string();
    let parsed = url::Url::parse(&callback).unwrap();
    let state = parsed
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();

    // A forged callback (right code, wrong state) is refused, and the flow keeps waiting.
    let forged = callback.replace(&format!("state={state}"), "state=forged");
    let refused = http.get(&forged).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    assert!(refused.text().await.unwrap().contains("state mismatch"));
    assert_eq!(
        lab.stats().by_grant.get("authorization_code"),
        None,
        "nothing was exchanged"
    );
    assert!(!flow.is_finished());

    // The real callback completes it: one code exchange.
    let ok = http.get(&callback).send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let outcome = tokio::time::timeout(Duration::from_secs(10), flow)
        .await
        .unwrap()
        .unwrap()
        .expect("authorized");
    assert!(outcome.token.refresh.is_some());
    assert_eq!(lab.stats().by_grant["authorization_code"], 1);

    // Single use: the listener is gone, so a replayed callback reaches nothing.
    let replay = http
        .get(&callback)
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(
        replay.is_err(),
        "the redirect listener must close after one authorization"
    );
    assert_eq!(lab.stats().by_grant["authorization_code"], 1);
}
