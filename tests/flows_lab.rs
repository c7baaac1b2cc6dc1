//! The device authorization grant (RFC 8628) and revocation (RFC 7009) against the real loopback
//! lab: its device endpoint approves on its own after a delay or is denied through its
//! `/device?action=deny` page, and its revocation endpoint kills the whole grant.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard::auth::device::{self, DeviceProgress, DevicePrompt};
use switchboard::auth::revoke::{self, Revoked};
use switchboard::auth::{AuthSpec, OAuthEndpoints, OAuthSpec};
use switchboard::domain::{Actor, ErrorClass};
use switchboard::lab::{Lab, LabOptions, PUBLIC_CLIENT, SERVICE_CLIENT, SERVICE_SECRET};

use support::*;

async fn device_lab(auto_approve_after: Duration) -> Lab {
    Lab::start(LabOptions {
        access_token_ttl: Duration::from_secs(30),
        rest_failure_rate: 0.0,
        device_auto_approve_after: auto_approve_after,
        ..LabOptions::default()
    })
    .await
    .expect("lab starts")
}

fn oauth(spec: &AuthSpec) -> &OAuthSpec {
    spec.oauth().expect("an OAuth spec")
}

/// Runs the grant, keeping every prompt it showed.
async fn run_device(
    http: &reqwest::Client,
    spec: &OAuthSpec,
    on_prompt: impl Fn(&DevicePrompt) + Send + Sync,
) -> (
    Result<switchboard::store::NewToken, switchboard::domain::Failure>,
    Vec<DevicePrompt>,
    u32,
) {
    let prompts = Arc::new(Mutex::new(Vec::new()));
    let waits = Arc::new(Mutex::new(0u32));
    let (p, w) = (prompts.clone(), waits.clone());
    let result = device::device_authorization(http, spec, &move |ev| match ev {
        DeviceProgress::Prompt(prompt) => {
            on_prompt(prompt);
            p.lock().unwrap().push(prompt.clone());
        }
        DeviceProgress::Waiting { .. } => *w.lock().unwrap() += 1,
    })
    .await;
    let prompts = prompts.lock().unwrap().clone();
    let waits = *waits.lock().unwrap();
    (result, prompts, waits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_device_code_installs_a_working_token() {
    let lab = device_lab(Duration::from_secs(2)).await;
    let (_tmp, data) = data_dir();
    let store = open_store(&data);
    let http = http();
    let key = key("lab");
    let spec = code_spec(&lab, PUBLIC_CLIENT);
    let b = broker(&store, &http, &key, &spec).await;

    let (result, prompts, waits) = run_device(&http, oauth(&spec), |_| {}).await;
    let token = result.expect("the lab approves after 2 s");
    assert_eq!(prompts.len(), 1, "one prompt");
    let prompt = &prompts[0];
    assert_eq!(prompt.verification_uri, format!("{}/device", lab.issuer));
    assert_eq!(
        prompt.verification_uri_complete.as_deref(),
        Some(format!("{}/device?user_code={}", lab.issuer, prompt.user_code).as_str())
    );
    assert!(waits >= 1, "progress was reported while waiting");
    assert!(
        token.refresh.is_some(),
        "offline_access yields a refresh token"
    );

    let meta = b.install(&key, token, Actor::Cli).await.expect("install");
    assert!(meta.has_refresh_token);
    let (status, body) = me(&http, &lab, &support::token(&b, &key).await).await;
    assert_eq!(status, 200, "{body}");
    // Approval comes 2 s in and the lab's interval is 1 s: the loop polled through at least one
    // authorization_pending before the token came.
    let polls = grant_count(&lab.stats(), "urn:ietf:params:oauth:grant-type:device_code");
    assert!(polls >= 2, "{polls} polls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_down_stretches_every_later_poll() {
    // The first poll is told to slow down; from then on the lab counts any poll that comes
    // sooner than the grown interval (1 s + 5 s) as too fast, and answers slow_down again.
    let lab = Lab::start(LabOptions {
        device_auto_approve_after: Duration::from_secs(1),
        device_slow_down_polls: 1,
        ..LabOptions::default()
    })
    .await
    .expect("lab starts");
    let spec = code_spec(&lab, PUBLIC_CLIENT);
    let (result, _, _) = run_device(&http(), oauth(&spec), |_| {}).await;
    result.expect("approved after the slow_down");
    let stats = lab.stats();
    assert_eq!(
        stats.device_slow_down, 1,
        "only the forced slow_down: {stats:?}"
    );
    assert_eq!(
        grant_count(&stats, "urn:ietf:params:oauth:grant-type:device_code"),
        2,
        "one poll told to slow down, the next one approved: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_device_code_is_a_clean_error() {
    // Never approves on its own: only the deny below decides.
    let lab = device_lab(Duration::from_secs(600)).await;
    let http = http();
    let spec = code_spec(&lab, PUBLIC_CLIENT);
    let denier = http.clone();
    let (result, prompts, _) = run_device(&http, oauth(&spec), move |prompt| {
        let url = format!(
            "{}&action=deny",
            prompt
                .verification_uri_complete
                .clone()
                .expect("a complete URI")
        );
        let denier = denier.clone();
        tokio::spawn(async move {
            let resp = denier.get(&url).send().await.expect("deny page");
            assert_eq!(resp.status().as_u16(), 200);
        });
    })
    .await;
    assert_eq!(prompts.len(), 1);
    let f = result.expect_err("a denied code yields no token");
    assert_eq!(f.class, ErrorClass::Auth);
    assert!(f.message.contains("the user declined"), "{f}");
    assert!(
        !f.message.contains("lab_dc_"),
        "no device code in errors: {f}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_a_device_endpoint_is_a_config_error() {
    let lab = device_lab(Duration::from_secs(1)).await;
    let mut spec = oauth(&code_spec(&lab, PUBLIC_CLIENT)).clone();
    spec.endpoints = Some(OAuthEndpoints {
        authorize: Some(format!("{}/authorize", lab.issuer)),
        token: format!("{}/token", lab.issuer),
        revoke: None,
        device: None,
        client_secret_post: false,
    });
    let (result, prompts, _) = run_device(&http(), &spec, |_| {}).await;
    let f = result.expect_err("no device endpoint");
    assert_eq!(f.class, ErrorClass::Config);
    assert!(f.message.contains("set device_url"), "{f}");
    assert!(prompts.is_empty());
}

/// The lab's refresh grant with a given refresh token: (status, OAuth error).
async fn refresh_with(http: &reqwest::Client, lab: &Lab, rt: &str) -> (u16, String) {
    let resp = http
        .post(format!("{}/token", lab.issuer))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", PUBLIC_CLIENT),
        ])
        .send()
        .await
        .expect("POST /token");
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_kills_the_grant_and_forgets_the_token() {
    let Authorized {
        lab,
        tmp: _tmp,
        data: _,
        store,
        http,
        key,
        spec,
        broker: _,
        installed,
    } = authorized_connection(30, "lab", PUBLIC_CLIENT).await;
    let old_rt = installed.refresh.expect("a refresh token");

    let outcome = revoke::revoke_connection(
        &store,
        &switchboard::store::Grants::Local(store.clone()),
        &http,
        oauth(&spec),
        &key,
        Actor::Cli,
    )
    .await
    .expect("revoke");
    assert_eq!(
        outcome,
        Revoked::AtServer {
            endpoint: format!("{}/revoke", lab.issuer),
            access_too: true
        }
    );
    assert!(store.load_token(&key).await.expect("load").is_none());
    let conns = store.connections().await.expect("connections");
    assert!(
        !conns[0].needs_reauth,
        "revoked, not needs-re-auth: {conns:?}"
    );

    // The AS no longer honours the old refresh token, and counts the failure.
    let failed_before = lab.stats().refresh_failed;
    let (status, error) = refresh_with(&http, &lab, old_rt.expose()).await;
    assert_eq!((status, error.as_str()), (400, "invalid_grant"));
    assert_eq!(lab.stats().refresh_failed, failed_before + 1);

    let events = store
        .events(Some(&key), Some("revoke"), 10)
        .await
        .expect("events");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].actor, events[0].outcome.as_str()),
        (Actor::Cli, "ok")
    );

    // Nothing left: a second revoke is a no-op.
    let again = revoke::revoke_connection(
        &store,
        &switchboard::store::Grants::Local(store.clone()),
        &http,
        oauth(&spec),
        &key,
        Actor::Cli,
    )
    .await;
    assert_eq!(again.expect("second revoke"), Revoked::NothingStored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_processes_notice_the_revocation() {
    let lab = lab(30).await;
    let (_tmp, data) = data_dir();
    let http = http();
    let key = key("lab");
    let spec = code_spec(&lab, PUBLIC_CLIENT);
    // A console (leader) and a follower, each with its own store handle on one directory.
    let leader = broker(&open_store(&data), &http, &key, &spec).await;
    let follower = broker(&open_store(&data), &http, &key, &spec).await;
    authorized(&leader, &http, &key, &spec).await;
    assert!(follower.sync_from_store(&key).await.expect("sync"));
    assert!(follower.meta(&key).is_some());

    // `switchboard revoke` in a third process.
    let cli_store = open_store(&data);
    revoke::revoke_connection(
        &cli_store,
        &switchboard::store::Grants::Local(cli_store.clone()),
        &http,
        oauth(&spec),
        &key,
        Actor::Cli,
    )
    .await
    .expect("revoke");

    assert!(
        follower.sync_from_store(&key).await.expect("sync"),
        "the token went away"
    );
    assert!(follower.meta(&key).is_none());
    // The leader finds out at its next refresh, without asking the AS and without calling the
    // grant lost: the connection is simply not authorized any more.
    let before = lab.stats().token_requests;
    let f = leader
        .refresh_now(&key, Actor::Cli)
        .await
        .expect_err("nothing to refresh");
    assert!(f.message.contains("not authorized yet"), "{f}");
    assert!(!leader.needs_reauth(&key));
    assert!(leader.meta(&key).is_none());
    assert_eq!(lab.stats().token_requests, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_revocation_endpoint_the_token_is_forgotten_locally() {
    let lab = lab(30).await;
    let (_tmp, data) = data_dir();
    let store = open_store(&data);
    let http = http();
    let key = key("lab");
    let mut oauth_spec = oauth(&code_spec(&lab, PUBLIC_CLIENT)).clone();
    oauth_spec.issuer = None;
    oauth_spec.endpoints = Some(OAuthEndpoints {
        authorize: Some(format!("{}/authorize", lab.issuer)),
        token: format!("{}/token", lab.issuer),
        revoke: None,
        device: None,
        client_secret_post: false,
    });
    let spec = AuthSpec::OAuth(oauth_spec);
    let b = broker(&store, &http, &key, &spec).await;
    let installed = authorized(&b, &http, &key, &spec).await;

    let outcome = revoke::revoke_connection(
        &store,
        &switchboard::store::Grants::Local(store.clone()),
        &http,
        oauth(&spec),
        &key,
        Actor::Cli,
    )
    .await
    .expect("revoke");
    assert_eq!(outcome, Revoked::LocalOnly);
    assert!(store.load_token(&key).await.expect("load").is_none());
    // Not revoked at the AS: the grant still works there, as the command's output warns.
    let rt = installed.refresh.expect("a refresh token");
    let (status, _) = refresh_with(&http, &lab, rt.expose()).await;
    assert_eq!(status, 200);
}

/// `token_auth_method` from the config reaches the wire: the lab counts how clients
/// authenticated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_token_auth_method_is_what_the_server_sees() {
    let lab = lab(30).await;
    let (tmp, data) = data_dir();
    let config_path = tmp.path().join("config.toml");
    let connector = |id: &str, method: &str| {
        format!(
            "[[connectors]]\nid = \"{id}\"\nkind = \"rest\"\n[connectors.rest]\nbase_url = \"{rest}\"\n\
             [connectors.auth]\ntype = \"client-credentials\"\ntoken_url = \"{iss}/token\"\n\
             client_id = \"{SERVICE_CLIENT}\"\nclient_secret = \"{SERVICE_SECRET}\"\n\
             scopes = [\"api:read\"]\n{method}\n",
            rest = lab.rest_base,
            iss = lab.issuer,
        )
    };
    let text =
        connector("post", "token_auth_method = \"client_secret_post\"") + &connector("basic", "");
    std::fs::write(&config_path, text).expect("write config");
    let config = switchboard::config::load(&config_path).expect("valid config");
    let store = open_store(&data);
    let http = http();
    let b = switchboard::auth::Broker::new(store, http);
    for spec in switchboard::engine::fleet::from_config(&config) {
        let key = key(&spec.id);
        b.register(key.clone(), spec.auth.clone(), false)
            .await
            .expect("register");
        let before = lab.stats().by_client_auth;
        b.refresh_now(&key, Actor::Cli)
            .await
            .expect("client credentials");
        let after = lab.stats().by_client_auth;
        let method = if spec.id == "post" {
            "client_secret_post"
        } else {
            "client_secret_basic"
        };
        let count =
            |m: &std::collections::BTreeMap<String, u64>| m.get(method).copied().unwrap_or(0);
        assert_eq!(count(&after), count(&before) + 1, "{}: {after:?}", spec.id);
    }
}

/// The demo's lab asks a person (a consent page with Approve and Deny); the scripted browser
/// (`Opener::Internal`, what the demo authorizes its fleet with) approves it through the same
/// form POST, and the loopback flow completes.
#[tokio::test]
async fn the_scripted_browser_approves_a_consent_page_through_its_form() {
    let lab = Lab::start(LabOptions {
        rest_failure_rate: 0.0,
        consent: true,
        ..LabOptions::default()
    })
    .await
    .expect("lab starts");
    let spec = code_spec(&lab, PUBLIC_CLIENT);
    let http = switchboard::net::client_builder().build().expect("client");
    let browser = switchboard::net::browser_client().expect("browser");
    let flow = switchboard::auth::flows::authorization_code(
        &http,
        oauth(&spec),
        switchboard::auth::flows::Opener::Internal(browser),
        &|_| {},
    );
    // Unapproved, the flow would wait for the browser for 15 minutes.
    let outcome = tokio::time::timeout(Duration::from_secs(20), flow)
        .await
        .expect("the consent page was approved")
        .expect("authorized through the consent page");
    assert!(outcome.token.access.expose().starts_with("lab_at_"));
    assert_eq!(lab.stats().by_grant["authorization_code"], 1);
}
