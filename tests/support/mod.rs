//! Shared scaffolding for the broker integration tests: a lab per test, a private store per test,
//! and the few HTTP and timing helpers the tests repeat.

// Shared by several test binaries; each uses a subset, so unused items are expected.
#![allow(dead_code)]

pub mod everything;
pub mod hostile;
pub mod postgres;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use switchboard::auth::broker::{EXPIRY_SKEW_MS, effective_margin};
use switchboard::auth::flows::{self, Opener};
use switchboard::auth::{AuthSpec, Broker, Credential, OAuthEndpoints, OAuthSpec};
use switchboard::domain::{Actor, ConnectionKey, UnixMs, now_ms};
use switchboard::lab::{Lab, LabOptions, LabStats, SERVICE_CLIENT, SERVICE_SECRET};
use switchboard::store::{KeySource, NewToken, Store, Vault};

pub const ACTOR: Actor = Actor::Cli;
/// Every store in a test uses this key, so two stores on one directory are two "processes".
const KEY: [u8; 32] = [0x5a; 32];

pub fn http() -> reqwest::Client {
    // No proxy: everything here is loopback, and a stray HTTP_PROXY must not reroute it.
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client")
}

/// A lab with short tokens and a REST endpoint that never flakes (the tests count requests).
pub async fn lab(ttl_secs: u64) -> Lab {
    Lab::start(LabOptions {
        access_token_ttl: Duration::from_secs(ttl_secs),
        rest_failure_rate: 0.0,
        ..LabOptions::default()
    })
    .await
    .expect("lab starts")
}

pub fn open_store(data_dir: &Path) -> Store {
    Store::open_with_vault(data_dir, Vault::from_key(&KEY, KeySource::Env)).expect("store opens")
}

/// A temp dir holding a not-yet-existing `data` directory, so the store has to create it.
pub fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    (tmp, data)
}

pub fn key(connector: &str) -> ConnectionKey {
    ConnectionKey::new(connector, "default")
}

/// A public client "c" asking for "read" at an explicit token endpoint, nothing to discover;
/// tests change what they need with struct update syntax.
pub fn explicit_oauth(token_url: impl Into<String>) -> OAuthSpec {
    OAuthSpec {
        endpoints: Some(OAuthEndpoints {
            authorize: None,
            token: token_url.into(),
            revoke: None,
            device: None,
            client_secret_post: false,
        }),
        issuer: None,
        client_id: "c".into(),
        client_secret: None,
        scopes: vec!["read".into()],
        pkce: true,
        extra_params: vec![],
        redirect_port: None,
        token_auth: None,
        scope_separator: " ".into(),
        resource: None,
        mcp: None,
    }
}

/// A grant as `switchboard auth` would install it: issued now, living `lives_ms`.
pub fn grant(access: &str, refresh: Option<&str>, lives_ms: i64) -> NewToken {
    NewToken {
        access: access.into(),
        refresh: refresh.map(Into::into),
        expires_at: Some(now_ms() + lives_ms),
        issued_at: now_ms(),
        scopes: vec!["read".into()],
    }
}

/// Authorization code + PKCE against the lab, endpoints discovered from the issuer.
pub fn code_spec(lab: &Lab, client_id: &str) -> AuthSpec {
    AuthSpec::OAuth(OAuthSpec {
        endpoints: None,
        issuer: Some(lab.issuer.clone()),
        client_id: client_id.to_string(),
        client_secret: None,
        scopes: vec!["api:read".into(), "offline_access".into()],
        pkce: true,
        extra_params: vec![],
        redirect_port: None,
        token_auth: None,
        scope_separator: " ".into(),
        resource: None,
        mcp: None,
    })
}

pub fn service_spec(lab: &Lab) -> AuthSpec {
    AuthSpec::ClientCredentials(OAuthSpec {
        endpoints: Some(OAuthEndpoints {
            authorize: None,
            token: format!("{}/token", lab.issuer),
            revoke: None,
            device: None,
            client_secret_post: false,
        }),
        issuer: None,
        client_id: SERVICE_CLIENT.into(),
        client_secret: Some(SERVICE_SECRET.into()),
        scopes: vec!["api:read".into()],
        pkce: false,
        extra_params: vec![],
        redirect_port: None,
        token_auth: None,
        scope_separator: " ".into(),
        resource: None,
        mcp: None,
    })
}

/// Runs the real loopback flow; the internal opener follows the lab's 302 to our listener.
pub async fn authorize(http: &reqwest::Client, spec: &AuthSpec) -> NewToken {
    let spec = spec.oauth().expect("an OAuth spec");
    let outcome = flows::authorization_code(http, spec, Opener::Internal(http.clone()), &|_| {})
        .await
        .expect("authorization code flow against the lab");
    assert!(outcome.redirect_uri.starts_with("http://127.0.0.1:"));
    outcome.token
}

/// A broker over its own store with `key` registered.
pub async fn broker(
    store: &Store,
    http: &reqwest::Client,
    key: &ConnectionKey,
    spec: &AuthSpec,
) -> Arc<Broker> {
    let b = Broker::new(store.clone(), http.clone());
    b.register(key.clone(), spec.clone(), false)
        .await
        .expect("register");
    b
}

/// Authorizes and installs: the state right after `switchboard auth`.
pub async fn authorized(
    b: &Broker,
    http: &reqwest::Client,
    key: &ConnectionKey,
    spec: &AuthSpec,
) -> NewToken {
    let token = authorize(http, spec).await;
    b.install(key, token.clone(), ACTOR).await.expect("install");
    token
}

pub fn bearer(c: Credential) -> String {
    match c {
        Credential::Bearer(s) => s.expose().to_string(),
        Credential::None => panic!("expected a bearer token, got none"),
    }
}

pub async fn token(b: &Broker, key: &ConnectionKey) -> String {
    bearer(b.access_token(key, ACTOR).await.expect("access_token"))
}

/// `GET {rest_base}/me` with the token; returns the status and the JSON body.
pub async fn me(http: &reqwest::Client, lab: &Lab, token: &str) -> (u16, serde_json::Value) {
    let resp = http
        .get(format!("{}/me", lab.rest_base))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET /api/me");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

pub fn grant_count(s: &LabStats, grant: &str) -> u64 {
    s.by_grant.get(grant).copied().unwrap_or(0)
}

/// When the broker's hot path stops handing out the cached token (its own margin rule).
pub fn refresh_due_at(b: &Broker, key: &ConnectionKey) -> (UnixMs, UnixMs) {
    let (meta, _) = b.meta(key).expect("a cached token");
    let exp = meta.expires_at.expect("the lab's tokens expire");
    assert!(meta.issued_at.is_some(), "the broker records issued_at");
    (exp - effective_margin(&meta, EXPIRY_SKEW_MS), exp)
}

/// Sleeps until the cached token is inside its refresh window but still valid for a while.
pub async fn wait_until_refresh_due(b: &Broker, key: &ConnectionKey) {
    let (due, exp) = refresh_due_at(b, key);
    sleep_until(due + 200).await;
    assert!(
        exp - now_ms() > 500,
        "the token must still be valid after waiting for its refresh window"
    );
}

pub async fn sleep_until(at: UnixMs) {
    let ms = at - now_ms();
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms as u64)).await;
    }
}

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// The usual starting point: a lab, a private store, a broker and one authorized connection.
pub struct Authorized {
    pub lab: Lab,
    /// Held so the data directory lives as long as the test.
    pub tmp: tempfile::TempDir,
    pub data: PathBuf,
    pub store: Store,
    pub http: reqwest::Client,
    pub key: ConnectionKey,
    pub spec: AuthSpec,
    pub broker: Arc<Broker>,
    pub installed: NewToken,
}

pub async fn authorized_connection(ttl_secs: u64, connector: &str, client_id: &str) -> Authorized {
    let lab = lab(ttl_secs).await;
    let (tmp, data) = data_dir();
    let store = open_store(&data);
    let http = http();
    let key = key(connector);
    let spec = code_spec(&lab, client_id);
    let broker = broker(&store, &http, &key, &spec).await;
    let installed = authorized(&broker, &http, &key, &spec).await;
    Authorized {
        lab,
        tmp,
        data,
        store,
        http,
        key,
        spec,
        broker,
        installed,
    }
}

/// A REST connector probed (hourly, so only when a test or the first round asks) at `url`,
/// authenticated by `auth`: the fleet most engine tests need.
pub fn rest_spec(id: &str, url: &str, auth: AuthSpec) -> switchboard::engine::ConnectorSpec {
    use switchboard::probe::{ProbePlan, ProbeRoute, RestTarget};
    switchboard::engine::ConnectorSpec {
        id: id.into(),
        name: id.into(),
        auth,
        plan: ProbePlan {
            route: ProbeRoute::Rest(RestTarget {
                url: url.into(),
                expect_status: vec![],
            }),
            timeout: Duration::from_secs(10),
        },
        probe: switchboard::config::ProbeSchedule::Every(Duration::from_secs(3600)),
        health: Default::default(),
        refresh_lead: Duration::from_secs(300),
        missing_env: vec![],
        problem: None,
        protocol_version: None,
        roots: Vec::new(),
    }
}
