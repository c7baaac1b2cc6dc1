//! A real OpenID provider (`oidc-provider` from npm, tests/peers/oidc/server.mjs) as a child
//! process, its scripted browser (browser.mjs), and a runner for the real `switchboard` binary.
//! Used by tests/oidc_provider.rs through `#[path]`.

// Shared by several test binaries; each uses a subset.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use switchboard::auth::flows::{self, Opener};
use switchboard::auth::{AuthSpec, OAuthSpec};
use switchboard::store::NewToken;

pub use super::cli::{KillOnDrop, Run, Session, files_under, parse_json, scrubbed};

pub const PUBLIC_CLIENT: &str = "switchboard-cli";
pub const SERVICE_CLIENT: &str = "switchboard-service";
pub const SERVICE_SECRET: &str = "switchboard-service-secret";
pub fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/oidc")
}

/// Fails (never skips) when Node.js or the npm packages are missing.
pub fn require_node() {
    let node = scrubbed("node").arg("--version").output();
    let ok = node.as_ref().is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "these tests need Node.js 20 or later (`node` was not found or failed: {node:?}); run tests/run, which installs it"
    );
    let installed = peer_dir().join("node_modules/oidc-provider/package.json");
    assert!(
        installed.exists(),
        "{} is missing: run tests/run (or `npm ci --prefix tests/peers/oidc`) first",
        installed.display()
    );
}

/// `node server.mjs` on a free loopback port; killed when dropped.
pub struct OidcProvider {
    // Field order: the child is killed before its stdout pipe closes.
    _child: KillOnDrop,
    _stdout: BufReader<ChildStdout>,
    _dir: tempfile::TempDir,
    pub issuer: String,
    http: reqwest::Client,
}

impl OidcProvider {
    /// Starts the provider with access tokens living `access_ttl_secs`.
    pub fn start(access_ttl_secs: u64) -> OidcProvider {
        require_node();
        let dir = tempfile::tempdir().expect("tempdir");
        let stderr_path = dir.path().join("provider.stderr");
        let child = scrubbed("node")
            .arg(peer_dir().join("server.mjs"))
            .arg("0")
            .env("OIDC_AT_TTL", access_ttl_secs.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(&stderr_path).expect("stderr file"),
            ))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node tests/peers/oidc/server.mjs: {e}"));
        let mut child = KillOnDrop(child);
        let stdout = child.0.stdout.take().expect("piped stdout");
        // Read the ready line on a thread so that a provider that never starts fails the test.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let n = reader.read_line(&mut line).unwrap_or(0);
            let _ = tx.send((n, line, reader));
        });
        let (n, line, stdout) = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!(
                    "the OpenID provider did not start within 30 s; its stderr:\n{}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                )
            });
        assert!(
            n > 0,
            "the OpenID provider exited before it was ready; its stderr:\n{}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        let info = parse_json(&line);
        let issuer = info["issuer"]
            .as_str()
            .unwrap_or_else(|| panic!("no issuer in the ready line: {line}"))
            .to_string();
        OidcProvider {
            _child: child,
            _stdout: stdout,
            _dir: dir,
            issuer,
            http: http(),
        }
    }

    /// `GET /__stats`: counters, every token request's outcome, every token value issued.
    pub async fn stats(&self) -> Stats {
        let v: Value = self
            .http
            .get(format!("{}/__stats", self.issuer))
            .send()
            .await
            .expect("GET /__stats")
            .json()
            .await
            .expect("stats JSON");
        Stats(v)
    }

    /// `/token` answers 503 until `resume` (an outage that keeps the provider's state).
    pub async fn pause(&self, paused: bool) {
        let path = if paused { "__pause" } else { "__resume" };
        let status = self
            .http
            .post(format!("{}/{path}", self.issuer))
            .send()
            .await
            .expect("pause/resume")
            .status();
        assert!(status.is_success(), "{path}: {status}");
    }

    /// RFC 7009 revocation of a refresh token at the provider's revocation endpoint, as the
    /// public client: oidc-provider revokes the whole grant with it.
    pub async fn revoke_refresh_token(&self, refresh_token: &str) {
        let resp = self
            .http
            .post(format!("{}/token/revocation", self.issuer))
            .form(&[
                ("token", refresh_token),
                ("token_type_hint", "refresh_token"),
                ("client_id", PUBLIC_CLIENT),
            ])
            .send()
            .await
            .expect("POST /token/revocation");
        assert!(
            resp.status().is_success(),
            "revocation answered {}",
            resp.status()
        );
    }

    /// `GET /me` (userinfo) with the token: its status.
    pub async fn userinfo_status(&self, access_token: &str) -> u16 {
        self.http
            .get(format!("{}/me", self.issuer))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("GET /me")
            .status()
            .as_u16()
    }
}

/// The provider's `/__stats` document.
#[derive(Debug, Clone)]
pub struct Stats(pub Value);

impl Stats {
    fn count(&self, path: &[&str]) -> u64 {
        let mut v = &self.0;
        for p in path {
            v = &v[*p];
        }
        v.as_u64().unwrap_or(0)
    }

    /// Every POST to /token, including those answered 503 while paused.
    pub fn token_requests(&self) -> u64 {
        self.count(&["token_requests"])
    }
    pub fn ok(&self, grant_type: &str) -> u64 {
        self.count(&["success", grant_type])
    }
    pub fn failed(&self, grant_type: &str) -> u64 {
        self.count(&["error", grant_type])
    }
    pub fn failed_total(&self) -> u64 {
        self.0["error"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0)
    }
    pub fn reuse_detected(&self) -> u64 {
        self.count(&["reuse_detected"])
    }
    pub fn grants_revoked(&self) -> u64 {
        self.count(&["grants_revoked"])
    }
    pub fn paused_rejections(&self) -> u64 {
        self.count(&["paused_rejections"])
    }
    /// Every access, refresh and client-credentials token value the provider issued.
    pub fn issued_tokens(&self) -> Vec<String> {
        ["access", "refresh", "client_credentials"]
            .iter()
            .flat_map(|k| self.0["issued"][k].as_array().cloned().unwrap_or_default())
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }
    pub fn last_refresh_token(&self) -> String {
        self.0["issued"]["refresh"]
            .as_array()
            .and_then(|a| a.last())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no refresh token issued: {}", self.0))
            .to_string()
    }
    /// The failed token requests, for messages.
    pub fn failures(&self) -> Vec<Value> {
        self.0["outcomes"]
            .as_array()
            .map(|a| a.iter().filter(|o| o["ok"] == false).cloned().collect())
            .unwrap_or_default()
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        // Node closes idle keep-alive connections after 5 s; a pooled one can die mid-request.
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(15))
        .build()
        .expect("reqwest client")
}

/// The scripted browser: `node browser.mjs URL` (what `$BROWSER` runs).
pub fn browser_command() -> String {
    let script = peer_dir().join("browser.mjs");
    let script = script.to_str().expect("a UTF-8 path");
    assert!(
        !script.contains(char::is_whitespace),
        "$BROWSER is split on whitespace; the checkout path must not contain any: {script}"
    );
    format!("node {script}")
}

/// Runs the scripted browser on `url` in the background (for library flows).
pub fn spawn_browser(url: &str, log: &Path) -> KillOnDrop {
    let child = scrubbed("node")
        .arg(peer_dir().join("browser.mjs"))
        .arg(url)
        .env("OIDC_BROWSER_LOG", log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the scripted browser: {e}"));
    KillOnDrop(child)
}

/// A CLI session whose browser is the scripted one (it logs to the session's browser.log).
pub fn session(config_text: &str) -> Session {
    let mut s = Session::with_browser(config_text, browser_command());
    let log = s.dir.path().join("browser.log").into_os_string();
    s.env.push(("OIDC_BROWSER_LOG".into(), log));
    s
}

/// What the kill -9 test asks of a session beyond running commands.
pub trait Kill {
    fn run_killed_after(&mut self, args: &[&str], delay: Duration) -> Option<i32>;
}

impl Kill for Session {
    /// Starts a command and SIGKILLs it after `delay` (unless it finished first). Returns its
    /// exit code, or None when it was killed.
    fn run_killed_after(&mut self, args: &[&str], delay: Duration) -> Option<i32> {
        let (mut cmd, out, err) = self.command(args);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run switchboard: {e}"));
        let mut child = KillOnDrop(child);
        std::thread::sleep(delay);
        let code = match child.0.try_wait().expect("wait") {
            Some(s) => s.code(),
            None => {
                // Child::kill is SIGKILL on Unix: no handler, no cleanup, no flush.
                child.0.kill().expect("SIGKILL");
                let _ = child.0.wait();
                None
            }
        };
        let read =
            |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
        self.transcript.push(Run {
            args: args.join(" "),
            code: code.unwrap_or(-9),
            stdout: read(&out),
            stderr: read(&err),
        });
        code
    }
}

/// The switchboard config for a provider: `oidc` (authorization code + PKCE, probed at the
/// provider's userinfo endpoint) and `service` (client credentials, probed at /api/whoami).
pub fn config_for(p: &OidcProvider) -> String {
    let issuer = &p.issuer;
    format!(
        r#"[[connectors]]
id = "oidc"
name = "oidc-provider (authorization code + PKCE)"
kind = "rest"
[connectors.rest]
base_url = "{issuer}"
health_path = "/me"
[connectors.auth]
type = "oauth2"
issuer = "{issuer}"
client_id = "{PUBLIC_CLIENT}"
scopes = ["openid", "offline_access", "profile"]
# OpenID Connect drops offline_access (and so the refresh token) without prompt=consent.
extra_params = {{ prompt = "consent" }}

[[connectors]]
id = "service"
name = "oidc-provider (client credentials)"
kind = "rest"
[connectors.rest]
base_url = "{issuer}"
health_path = "/api/whoami"
[connectors.auth]
type = "client-credentials"
issuer = "{issuer}"
client_id = "{SERVICE_CLIENT}"
client_secret = "{SERVICE_SECRET}"
scopes = ["api:read"]
"#
    )
}

// ---------------------------------------------------------------------------------------------
// library helpers shared by the tests that drive a `Broker` against the provider

pub fn code_spec(p: &OidcProvider) -> AuthSpec {
    AuthSpec::OAuth(OAuthSpec {
        endpoints: None,
        issuer: Some(p.issuer.clone()),
        client_id: PUBLIC_CLIENT.into(),
        client_secret: None,
        scopes: vec!["openid".into(), "offline_access".into(), "profile".into()],
        pkce: true,
        extra_params: vec![("prompt".into(), "consent".into())],
        redirect_port: None,
        token_auth: None,
        scope_separator: " ".into(),
        resource: None,
        mcp: None,
    })
}

/// The library's authorization code + PKCE flow, with the scripted browser opening the URL.
pub async fn authorize(spec: &AuthSpec, log: &Path) -> NewToken {
    let browser: std::sync::Arc<std::sync::Mutex<Option<KillOnDrop>>> = Default::default();
    let slot = browser.clone();
    let log = log.to_path_buf();
    let on_url = move |url: &str| {
        *slot.lock().expect("browser slot") = Some(spawn_browser(url, &log));
    };
    let http = http();
    let flow = flows::authorization_code(
        &http,
        spec.oauth().expect("an OAuth spec"),
        Opener::PrintOnly,
        &on_url,
    );
    let outcome = tokio::time::timeout(Duration::from_secs(30), flow)
        .await
        .expect("the authorization code flow finished within 30 s")
        .expect("authorization code + PKCE against oidc-provider");
    assert!(outcome.token.refresh.is_some(), "no refresh token issued");
    outcome.token
}

#[track_caller]
pub fn assert_no_failed_refresh(stats: &Stats) {
    assert_eq!(
        stats.failed_total(),
        0,
        "the provider recorded failed token requests: {:?}",
        stats.failures()
    );
    assert_eq!(
        stats.reuse_detected(),
        0,
        "a used refresh token was presented again"
    );
    assert_eq!(stats.grants_revoked(), 0, "a grant was revoked");
}
