//! Secrets stay with the origin they were meant for: a token endpoint or an MCP server that
//! redirects elsewhere gets the request refused before anything is re-sent, and endpoints over
//! plain http off loopback (from discovery) are refused before a secret is sent to them.
//!
//! Every peer here is a `support::hostile` server on loopback; two peers on two ports are two
//! origins, exactly as two hosts would be.

#[path = "support/cli.rs"]
mod cli;
mod support;

use serde_json::json;
use support::hostile::{Hostile, Reply};
use support::{ACTOR, key};
use switchboard::auth::{AuthSpec, OAuthSpec};

const REFRESH: &str = "refresh-s3cret-9f2c";
const CLIENT_SECRET: &str = "client-s3cret-41aa";
const HEADER_VALUE: &str = "header-s3cret-77e0";

fn origin(peer: &Hostile) -> String {
    format!("http://{}", peer.addr)
}

/// A peer that would take anything: if switchboard ever reaches it, the test sees it.
async fn elsewhere() -> Hostile {
    Hostile::start(|_| {
        Reply::json(
            200,
            json!({"access_token": "stolen", "token_type": "Bearer", "expires_in": 3600}),
        )
    })
    .await
}

fn oauth_spec(token: String, endpoints_post: bool) -> AuthSpec {
    let mut spec = OAuthSpec {
        client_id: "cid".into(),
        client_secret: Some(CLIENT_SECRET.into()),
        scopes: vec![],
        ..support::explicit_oauth(token)
    };
    if let Some(e) = spec.endpoints.as_mut() {
        e.client_secret_post = endpoints_post;
    }
    AuthSpec::OAuth(spec)
}

/// A 307 from the token endpoint asks the client to re-send the same POST (refresh token and,
/// with client_secret_post, the client secret in the body) to the `Location`. reqwest's default
/// policy did, to any host; the shared policy refuses and says why.
#[tokio::test]
async fn a_token_endpoint_redirect_to_another_origin_never_reaches_it() {
    let thief = elsewhere().await;
    let target = thief.url("/token");
    let as_ = Hostile::start(move |_| Reply::redirect(307, &target)).await;
    let (_tmp, dir) = support::data_dir();
    let store = support::open_store(&dir);
    // The client every front-end uses (`switchboard refresh`, the daemon, the console).
    let http = switchboard::engine::http_client().expect("http client");
    let k = key("redirected");
    let spec = oauth_spec(as_.url("/token"), true);
    let b = support::broker(&store, &http, &k, &spec).await;
    b.install(
        &k,
        support::grant("old-access", Some(REFRESH), 3_600_000),
        ACTOR,
    )
    .await
    .expect("install");

    let err = b
        .refresh_now(&k, ACTOR)
        .await
        .expect_err("a refresh answered by a cross-origin redirect must fail");

    let sent = as_.requests_to("/token");
    assert!(
        sent.iter()
            .any(|r| r.form("refresh_token").as_deref() == Some(REFRESH)),
        "the configured endpoint gets the refresh: {sent:?}"
    );
    assert!(
        thief.requests().is_empty(),
        "the other origin received: {:?}",
        thief.requests()
    );
    let shown = err.to_string();
    for part in [origin(&as_), origin(&thief)] {
        assert!(shown.contains(&part), "error lacks {part}: {shown}");
    }
    assert!(shown.contains("another origin"), "{shown}");
    for secret in [REFRESH, CLIENT_SECRET] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

/// The token client is the last gate whatever the endpoints came from (here a spec built in
/// code; in life a stored MCP registration from before this check): a token request to plain
/// http off loopback is refused before anything is sent.
#[tokio::test]
async fn a_token_request_to_plain_http_off_loopback_is_never_sent() {
    let (_tmp, dir) = support::data_dir();
    let store = support::open_store(&dir);
    let http = switchboard::engine::http_client().expect("http client");
    let k = key("cleartext");
    let spec = oauth_spec("http://as.example.com/token".into(), true);
    let b = support::broker(&store, &http, &k, &spec).await;
    b.install(
        &k,
        support::grant("old-access", Some(REFRESH), 3_600_000),
        ACTOR,
    )
    .await
    .expect("install");
    let err = b
        .refresh_now(&k, ACTOR)
        .await
        .expect_err("an http token endpoint off loopback");
    let shown = err.to_string();
    assert!(
        shown.contains("http://as.example.com/token") && shown.contains("use https"),
        "{shown}"
    );
}

/// A same-origin redirect is followed: the secret goes back to the server that already had it.
#[tokio::test]
async fn a_same_origin_redirect_is_followed() {
    let as_ = Hostile::start(|req| match req.path() {
        "/token" => Reply::redirect(307, "/token/"),
        _ => Reply::json(
            200,
            json!({"access_token": "new", "token_type": "Bearer", "expires_in": 3600}),
        ),
    })
    .await;
    let http = switchboard::engine::http_client().expect("http client");
    let resp = http
        .post(as_.url("/token"))
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .expect("same-origin redirect followed");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(as_.requests_to("/token/").len(), 1);
}

/// RFC 8414 metadata naming a plain-http token endpoint on another host: nothing is sent there.
#[tokio::test]
async fn discovered_http_endpoints_off_loopback_are_refused() {
    let as_ = Hostile::start(|req| match req.path() {
        "/.well-known/oauth-authorization-server" => Reply::json(
            200,
            json!({
                "token_endpoint": "http://example.com/token",
                "authorization_endpoint": "https://example.com/authorize",
                "code_challenge_methods_supported": ["S256"],
            }),
        ),
        _ => Reply::json(404, json!({})),
    })
    .await;
    let http = switchboard::engine::http_client().expect("http client");
    let err = switchboard::auth::spec::discover(&http, &as_.url(""))
        .await
        .expect_err("http token endpoint off loopback");
    let shown = err.to_string();
    assert!(
        shown.contains("token_endpoint") && shown.contains("http://example.com/token"),
        "{shown}"
    );
    assert!(shown.contains("use https"), "{shown}");
}

/// MCP authorization discovery: protected-resource metadata naming an http authorization
/// server off loopback is refused before its metadata is fetched over the network.
#[tokio::test]
async fn an_http_authorization_server_named_by_an_mcp_server_is_refused() {
    // The metadata's `resource` must be this server (checked first), so it names itself.
    let mcp = Hostile::start(|req| match req.path() {
        "/mcp" => Reply::json(401, json!({})),
        _ => Reply::json(
            200,
            json!({
                "resource": format!("http://{}/mcp", req.header("host").unwrap_or_default()),
                "authorization_servers": ["http://as.example.com"],
            }),
        ),
    })
    .await;
    let server = mcp.url("/mcp");
    let http = switchboard::engine::http_client().expect("http client");
    let err = switchboard::auth::mcp_auth::discover(&http, &server)
        .await
        .expect_err("an http issuer off loopback");
    let shown = err.to_string();
    assert!(shown.contains("http://as.example.com"), "{shown}");
    assert!(shown.contains("use https"), "{shown}");
}

/// `--header` values are default headers of the ad hoc client; reqwest forwards those to any
/// host a redirect names (it strips only Authorization and cookies).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_redirect_to_another_origin_never_gets_the_header() {
    let thief = elsewhere().await;
    let target = thief.url("/mcp");
    let mcp = Hostile::start(move |_| Reply::redirect(307, &target)).await;
    let url = mcp.url("/mcp");
    let header = format!("X-Api-Key: {HEADER_VALUE}");
    let mut session = cli::Session::new("");
    let run =
        tokio::task::block_in_place(|| session.run(&["tools", "--url", &url, "--header", &header]));

    assert_ne!(run.code, 0, "{run}");
    assert!(!run.stderr.contains("panicked"), "{run}");
    let first = mcp.requests();
    assert!(
        first
            .iter()
            .any(|r| r.header("x-api-key") == Some(HEADER_VALUE)),
        "the named server gets the header: {first:?}"
    );
    assert!(
        thief.requests().is_empty(),
        "the other origin received: {:?}",
        thief.requests()
    );
    assert!(
        run.stderr.contains(&origin(&thief)) && run.stderr.contains("another origin"),
        "{run}"
    );
    assert!(
        !run.stdout.contains(HEADER_VALUE) && !run.stderr.contains(HEADER_VALUE),
        "{run}"
    );
}

/// An ad hoc target (`tools --url` with MCP authorization) whose authorization server
/// publishes plain-http endpoints on another host: its metadata is refused as a whole, before
/// a login is offered, so no code, client secret or token can be sent there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ad_hoc_target_whose_metadata_names_http_endpoints_is_refused() {
    let peer = Hostile::start(|req| {
        let origin = format!("http://{}", req.header("host").unwrap_or_default());
        match req.path() {
            "/mcp" => Reply::json(401, json!({})).with_header(
                "www-authenticate",
                &format!(
                    "Bearer resource_metadata=\"{origin}/.well-known/oauth-protected-resource/mcp\""
                ),
            ),
            "/.well-known/oauth-protected-resource/mcp" => Reply::json(
                200,
                json!({"resource": format!("{origin}/mcp"), "authorization_servers": [origin]}),
            ),
            "/.well-known/oauth-authorization-server" => Reply::json(
                200,
                json!({
                    "issuer": origin,
                    "authorization_endpoint": "http://as.example.com/authorize",
                    "token_endpoint": "http://as.example.com/token",
                    "registration_endpoint": "http://as.example.com/register",
                    "code_challenge_methods_supported": ["S256"],
                }),
            ),
            _ => Reply::json(404, json!({})),
        }
    })
    .await;
    let url = peer.url("/mcp");
    let mut session = cli::Session::new("");
    let run = tokio::task::block_in_place(|| {
        session.run(&["tools", "--url", &url, "--no-browser", "--client-id", "cid"])
    });

    assert_ne!(run.code, 0, "{run}");
    assert!(!run.stderr.contains("panicked"), "{run}");
    assert!(
        run.stderr
            .contains("its token_endpoint http://as.example.com/token uses plain http")
            && run.stderr.contains("use https"),
        "{run}"
    );
    assert!(
        !run.stderr.contains("complete the login"),
        "no login was offered: {run}"
    );
}
