//! Auth type "mcp" end to end: the real binary against an in-process lab (so each test can
//! pick `LabOptions` and read `LabStats` directly), with a scripted browser (curl) completing
//! the login. Nothing in the config but the MCP URL: discovery, dynamic registration, the
//! RFC 8707 resource on every request, reuse of the registered client, and the refusals.

#[path = "support/cli.rs"]
mod support;

use support::{Run, Session};
use switchboard::lab::{Lab, LabOptions, LabStats};

const TOKEN_PREFIXES: [&str; 3] = ["lab_at_", "lab_rt_", "lab_ac_"];

fn config(mcp_url: &str) -> String {
    format!(
        r#"[[connectors]]
id = "labmcp"
kind = "mcp"

[connectors.mcp]
transport = "streamable-http"
url = "{mcp_url}"

[connectors.auth]
type = "mcp"
"#
    )
}

/// What these tests ask of a session: commands run while the in-process lab keeps serving.
trait LabMcp {
    async fn step(&mut self, args: &[&str], code: i32) -> Run;
}

impl LabMcp for Session {
    /// `expect`, on a blocking section of this multi-threaded runtime so the lab keeps
    /// serving meanwhile, plus: no lab secret in any output.
    async fn step(&mut self, args: &[&str], code: i32) -> Run {
        let out = tokio::task::block_in_place(|| self.expect(args, code));
        for prefix in TOKEN_PREFIXES {
            assert!(
                !out.stdout.contains(prefix) && !out.stderr.contains(prefix),
                "switchboard {} leaks a {prefix} secret: {out}",
                args.join(" ")
            );
        }
        out
    }
}

async fn lab(opts: LabOptions) -> Lab {
    Lab::start(LabOptions {
        rest_failure_rate: 0.0,
        ..opts
    })
    .await
    .expect("lab starts")
}

fn by(map: &std::collections::BTreeMap<String, u64>, k: &str) -> u64 {
    map.get(k).copied().unwrap_or(0)
}

fn resource_sent(s: &LabStats, grant: &str) -> u64 {
    by(&s.resource_by_grant, grant)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_registers_once_and_every_request_names_the_resource() {
    let lab = lab(LabOptions::default()).await;
    let mut s = Session::new(&config(&lab.mcp_url));

    let out = s.step(&["auth", "labmcp"], 0).await;
    assert!(out.stdout.contains("authorized labmcp"), "{out}");
    assert!(out.stdout.contains("with a refresh token"), "{out}");
    let stats = lab.stats();
    assert_eq!(
        stats.registrations, 1,
        "one dynamic registration: {stats:?}"
    );
    assert_eq!(stats.authorize_with_resource, 1, "{stats:?}");
    assert_eq!(resource_sent(&stats, "authorization_code"), 1, "{stats:?}");

    // A later process uses what `auth` stored: no discovery needed for the token.
    s.step(&["probe", "labmcp"], 0).await;
    let out = s.step(&["refresh", "labmcp"], 0).await;
    assert!(!out.stdout.is_empty(), "{out}");
    let stats = lab.stats();
    assert_eq!(stats.refresh_ok, 1, "{stats:?}");
    assert_eq!(stats.refresh_failed, 0, "{stats:?}");
    assert_eq!(
        resource_sent(&stats, "refresh_token"),
        by(&stats.by_grant, "refresh_token"),
        "every refresh names the resource: {stats:?}"
    );
    s.step(&["probe", "labmcp"], 0).await;

    // Re-authorizing reuses the registered client.
    s.step(&["auth", "labmcp"], 0).await;
    let stats = lab.stats();
    assert_eq!(stats.registrations, 1, "no second registration: {stats:?}");
    assert_eq!(resource_sent(&stats, "authorization_code"), 2, "{stats:?}");
    s.step(&["refresh", "labmcp"], 0).await;
    s.step(&["probe", "labmcp"], 0).await;

    // Revocation goes to the discovered AS's revocation endpoint, as the registered client.
    let out = s.step(&["revoke", "labmcp"], 0).await;
    assert!(out.stdout.contains("revoked labmcp at"), "{out}");
    assert!(out.stdout.contains(&lab.issuer), "{out}");
    assert_eq!(lab.stats().grants_revoked, 1);

    // The registered client's id is public; only the tokens are secret, and they are sealed.
    for file in support::files_under(&s.dir.path().join("data")) {
        let bytes = std::fs::read(&file).expect("read data file");
        for prefix in TOKEN_PREFIXES {
            assert!(
                !bytes.windows(prefix.len()).any(|w| w == prefix.as_bytes()),
                "{} holds a {prefix} token in clear",
                file.display()
            );
        }
    }
}

/// A server whose `tools/call` needs a scope its metadata does not advertise answers 403
/// `insufficient_scope`. An ad hoc target steps up by itself (a second login asking for the
/// union); a configured connection keeps the scopes and says which `auth` to run, which then
/// asks for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insufficient_scope_steps_up_once() {
    let lab = lab(LabOptions {
        mcp_call_scope: Some("mcp:admin".into()),
        ..LabOptions::default()
    })
    .await;
    let mut s = Session::new(&config(&lab.mcp_url));

    let out = s.step(&["call", "--url", &lab.mcp_url, "whoami"], 0).await;
    assert!(out.stdout.contains("lab_dyn_"), "{out}");
    let stats = lab.stats();
    assert_eq!(
        by(&stats.by_grant, "authorization_code"),
        2,
        "one login, one step-up: {stats:?}"
    );
    assert_eq!(
        stats.registrations, 1,
        "the step-up reuses the client: {stats:?}"
    );

    // Configured, where nobody can log in (no browser, no terminal): exit 3 naming the `auth`
    // to run, which then asks for the scope; the 403 did not cost the grant.
    s.step(&["auth", "labmcp"], 0).await;
    let browser = std::mem::take(&mut s.browser);
    let out = s.step(&["call", "labmcp", "whoami"], 3).await;
    assert!(
        out.stderr.contains("switchboard auth labmcp") && out.stderr.contains("mcp:admin"),
        "{out}"
    );
    s.step(&["probe", "labmcp"], 0).await;
    s.browser = browser;
    s.step(&["auth", "labmcp"], 0).await;
    let out = s.step(&["call", "labmcp", "whoami"], 0).await;
    assert!(out.stdout.contains("lab_dyn_"), "{out}");
    assert_eq!(by(&lab.stats().by_grant, "authorization_code"), 4);

    // Where a login can happen, `call` steps up by itself, once. A fresh grant without the
    // scope (as discovery alone asks) shows it.
    let mut fresh = Session::new(&config(&lab.mcp_url));
    fresh.step(&["auth", "labmcp"], 0).await;
    let out = fresh.step(&["call", "labmcp", "whoami"], 0).await;
    assert!(out.stderr.contains("step-up"), "{out}");
    assert!(out.stdout.contains("lab_dyn_"), "{out}");
    assert_eq!(by(&lab.stats().by_grant, "authorization_code"), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_server_without_s256_is_refused() {
    let lab = lab(LabOptions {
        pkce_s256: false,
        ..LabOptions::default()
    })
    .await;
    let mut s = Session::new(&config(&lab.mcp_url));
    let out = s.step(&["auth", "labmcp"], 1).await;
    assert!(out.stderr.contains("S256"), "{out}");
    assert!(out.stderr.contains(&lab.issuer), "names the AS: {out}");
    let stats = lab.stats();
    assert_eq!(
        stats.registrations, 0,
        "refused before registering: {stats:?}"
    );
    assert_eq!(stats.token_requests, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_resource_metadata_for_another_resource_is_refused() {
    let lab = lab(LabOptions {
        resource_override: Some("https://elsewhere.example/mcp".into()),
        ..LabOptions::default()
    })
    .await;
    let mut s = Session::new(&config(&lab.mcp_url));
    let out = s.step(&["auth", "labmcp"], 1).await;
    assert!(
        out.stderr.contains("https://elsewhere.example/mcp"),
        "{out}"
    );
    assert!(out.stderr.contains("RFC 9728"), "{out}");
    let stats = lab.stats();
    assert_eq!(stats.registrations, 0, "{stats:?}");
    assert_eq!(stats.authorize_with_resource, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_mcp_connectors_say_what_to_run() {
    let lab = lab(LabOptions::default()).await;
    let mut s = Session::new(&config(&lab.mcp_url));
    let out = s.step(&["refresh", "labmcp"], 3).await;
    assert!(out.stderr.contains("switchboard auth labmcp"), "{out}");
}

/// The lab checks `resource` itself, so the end-to-end test above proves switchboard sends the
/// right one rather than the lab ignoring it.
#[tokio::test]
async fn the_lab_refuses_a_foreign_resource() {
    let lab = lab(LabOptions::default()).await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let resp = http
        .post(format!("{}/token", lab.issuer))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", switchboard::lab::PUBLIC_CLIENT),
            ("resource", "https://elsewhere.example/mcp"),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "invalid_target");

    let resp = http
        .post(format!("{}/register", lab.issuer))
        .json(&serde_json::json!({"redirect_uris": ["http://127.0.0.1/callback"]}))
        .send()
        .await
        .expect("register");
    assert_eq!(
        resp.status().as_u16(),
        400,
        "confidential registration refused"
    );
    assert_eq!(lab.stats().registrations, 0);
}
