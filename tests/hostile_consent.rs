//! The scripted browser (`net::open_and_approve`, what the demo authorizes with) against a
//! hostile authorization page: an endless page is cut at the cap, a consent form that posts to
//! another origin is not submitted, and garbage or an error page posts nothing.

mod support;

use std::time::Duration;

use support::hostile::{Hostile, Reply};

const GUARD: Duration = Duration::from_secs(60);

fn consent_page(action: &str) -> Reply {
    let html = format!(
        "<!doctype html><form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"state\" value=\"s\">\
         <button name=\"decision\" value=\"approve\">Approve</button></form>"
    );
    Reply::text(200, "text/html; charset=utf-8", html)
}

async fn approve(url: &str) -> Result<(), switchboard::domain::Failure> {
    let browser = switchboard::net::browser_client().expect("browser client");
    tokio::time::timeout(GUARD, switchboard::net::open_and_approve(&browser, url))
        .await
        .expect("bounded time")
}

#[tokio::test]
async fn an_endless_page_is_cut_at_the_cap() {
    let peer = Hostile::start(|_| Reply::Endless {
        status: 200,
        headers: vec![("content-type".into(), "text/html".into())],
        chunk: b"<p>consent ".repeat(6000),
    })
    .await;
    let err = approve(&peer.url("/authorize"))
        .await
        .expect_err("too large");
    assert!(err.message.contains("authorization page"), "{err}");
}

#[tokio::test]
async fn a_form_posting_to_another_origin_is_not_submitted() {
    let elsewhere = Hostile::start(|_| Reply::text(200, "text/plain", "got it")).await;
    let target = elsewhere.url("/steal");
    let peer = Hostile::start(move |_| consent_page(&target)).await;
    let err = approve(&peer.url("/authorize")).await.expect_err("refused");
    assert!(err.message.contains("another origin"), "{err}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        elsewhere.requests().is_empty(),
        "nothing reached the other origin"
    );
    assert!(
        peer.requests_to("/authorize")
            .iter()
            .all(|r| r.method == "GET")
    );
}

#[tokio::test]
async fn a_same_origin_consent_form_is_posted_with_approve() {
    let peer = Hostile::start(|req| {
        if req.method == "POST" {
            Reply::text(200, "text/plain", "approved")
        } else {
            consent_page("/authorize")
        }
    })
    .await;
    approve(&peer.url("/authorize?x=1"))
        .await
        .expect("approved");
    let posts: Vec<_> = peer
        .requests_to("/authorize")
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].form("decision").as_deref(), Some("approve"));
    assert_eq!(posts[0].form("state").as_deref(), Some("s"));
}

#[tokio::test]
async fn garbage_and_error_pages_post_nothing() {
    for reply in [
        Reply::text(
            500,
            "text/html",
            "<form method=\"post\" action=\"/x\"><button name=\"d\" value=\"approve\"></button></form>",
        ),
        Reply::text(200, "application/json", "{\"form\": true}"),
        Reply::Raw(b"\x00\x01garbage\r\n\r\n".to_vec()),
    ] {
        let peer = Hostile::start(move |_| reply.clone()).await;
        let _ = approve(&peer.url("/authorize")).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            peer.requests().iter().all(|r| r.method != "POST"),
            "a POST went out"
        );
    }
}
