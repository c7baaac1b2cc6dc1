//! What a server sends is bounded: discovery metadata, a client registration answer and the
//! legacy SSE stream, each from a `support::hostile` peer on loopback that never stops
//! sending (or sends the wrong thing). Each call must fail with an error that names the cap
//! or the fault, in bounded time and memory; the timeouts here only guard against a hang.

#[path = "support/cli.rs"]
mod cli;
mod support;

use std::time::Duration;

use serde_json::json;
use support::hostile::{Hostile, Reply};
use switchboard::auth::mcp_auth::{self, Discovery};
use switchboard::auth::{OAuthSpec, mcp_client, spec};
use switchboard::domain::ErrorClass;

const GUARD: Duration = Duration::from_secs(120);

fn endless(content_type: &str, chunk: &[u8]) -> Reply {
    Reply::Endless {
        status: 200,
        headers: vec![("content-type".into(), content_type.into())],
        chunk: chunk.repeat(64 * 1024 / chunk.len().max(1)),
    }
}

fn json_forever() -> Reply {
    endless("application/json", br#"{"issuer":"x","a":["#)
}

#[tokio::test]
async fn endless_authorization_server_metadata_is_cut_at_the_cap() {
    let peer = Hostile::start(|_| json_forever()).await;
    let http = support::http();
    let f = tokio::time::timeout(GUARD, spec::discover_metadata(&http, &peer.url("")))
        .await
        .expect("discovery ended")
        .expect_err("an endless document is no metadata");
    assert_eq!(f.class, ErrorClass::Protocol, "{f}");
    assert!(f.message.contains("is larger than 256 KiB"), "{f}");
    assert!(f.message.contains("/.well-known/"), "{f}");
}

#[tokio::test]
async fn endless_protected_resource_metadata_is_cut_at_the_cap() {
    let peer = Hostile::start(|_| json_forever()).await;
    let http = support::http();
    let server = peer.url("/mcp");
    let f = tokio::time::timeout(GUARD, mcp_auth::discover_from(&http, &server, None))
        .await
        .expect("discovery ended")
        .expect_err("an endless document is no metadata");
    assert!(f.message.contains("is larger than 256 KiB"), "{f}");
    assert!(f.message.contains("oauth-protected-resource"), "{f}");
}

#[tokio::test]
async fn an_endless_registration_answer_is_cut_at_the_cap() {
    let peer = Hostile::start(|_| json_forever()).await;
    let http = support::http();
    let metadata = serde_json::from_value(json!({
        "issuer": peer.url(""),
        "authorization_endpoint": peer.url("/authorize"),
        "token_endpoint": peer.url("/token"),
        "registration_endpoint": peer.url("/register"),
        "code_challenge_methods_supported": ["S256"],
    }))
    .expect("metadata");
    let found = Discovery {
        server: peer.url("/mcp"),
        resource: Some(peer.url("/mcp")),
        issuer: peer.url(""),
        metadata,
        scopes: vec![],
    };
    let spec = OAuthSpec {
        endpoints: None,
        issuer: None,
        client_id: String::new(),
        client_secret: None,
        scopes: vec![],
        pkce: true,
        extra_params: vec![],
        redirect_port: None,
        token_auth: None,
        scope_separator: " ".into(),
        resource: None,
        mcp: None,
    };
    let f = tokio::time::timeout(GUARD, mcp_client::choose(&http, &spec, None, &found))
        .await
        .expect("registration ended")
        .expect_err("an endless answer registers nothing");
    assert!(f.message.contains("is larger than 256 KiB"), "{f}");
    assert!(f.message.contains("/register"), "{f}");
    assert_eq!(peer.requests_to("/register").len(), 1);
}

/// `switchboard tools --url URL --transport sse` with nothing configured.
async fn sse_tools(url: &str) -> cli::Ran {
    cli::unconfigured(&["tools", "--url", url, "--transport", "sse"], GUARD).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_sse_event_that_never_ends_on_cr_only_lines_is_cut() {
    // CR alone ends a line in SSE, but no blank line ever ends the event.
    let peer = Hostile::start(|_| endless("text/event-stream", b"data: xxxxxxxxxxxxxxxx\r")).await;
    let run = sse_tools(&peer.url("/sse")).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("oversized SSE event: an SSE event grew past 16 MiB without ending"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_sse_url_answering_html_is_refused_by_content_type() {
    let peer = Hostile::start(|_| {
        Reply::text(
            200,
            "text/html",
            "<html><body>data: not sse</body></html>\n\n",
        )
    })
    .await;
    let run = sse_tools(&peer.url("/sse")).await;
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("answered `text/html`, not an SSE stream"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("streamable-http"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_sse_stream_that_ends_before_its_endpoint_event_says_so() {
    let peer = Hostile::start(|_| {
        Reply::text(
            200,
            "text/event-stream",
            ": hello\n\nevent: ping\ndata: 1\n\n",
        )
    })
    .await;
    let run = sse_tools(&peer.url("/sse")).await;
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("closed the SSE stream before sending its `endpoint` event"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_retry_after_on_the_legacy_sse_stream_is_capped() {
    let peer = Hostile::start(|_| {
        Reply::text(429, "text/plain", "slow down")
            .with_header("retry-after", "18446744073709551615")
    })
    .await;
    let run = sse_tools(&peer.url("/sse")).await;
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("HTTP 429: rate limited, retry after 3600s"),
        "{}",
        run.stderr
    );
}
