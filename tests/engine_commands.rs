//! The commands one-shot front-ends wait on (`Reauth`, `Revoke`, `Ready`, `ListCatalogue`,
//! `CallTool` with a reply, `ReadResource`, `GetPrompt`), sent through an `EngineHandle` the
//! way `switchboard auth`, `revoke`, `tools` and `call` send them: against the lab (its
//! authorization server, device grant and MCP server) and, for resources and prompts, which
//! the lab does not serve, against server-everything.

mod support;

use std::time::Duration;

use serde_json::json;
use switchboard::domain::{Actor, ConnectionKey, Health};
use switchboard::engine::{
    self, Command, EngineOptions, Event, Need, NotReady, Opener, ReauthMethod, ReauthOutcome,
    ReauthProgress, RevokeOutcome, Revoked, Running, ToolCall,
};
use switchboard::lab::{Lab, LabOptions, PUBLIC_CLIENT};
use switchboard::toolkit::CallError;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

fn fleet_config(lab: &Lab) -> String {
    format!(
        r#"
[[connectors]]
id = "rest"
kind = "rest"
[connectors.rest]
base_url = "{rest}"
health_path = "/me"
[connectors.auth]
type = "oauth2"
issuer = "{issuer}"
client_id = "{PUBLIC_CLIENT}"
scopes = ["api:read", "offline_access"]

[[connectors]]
id = "stdio"
kind = "mcp"
[connectors.mcp]
transport = "stdio"
command = "{bin}"
args = ["lab", "mcp-stdio"]
"#,
        rest = lab.rest_base,
        issuer = lab.issuer,
        bin = BIN.replace('\\', "\\\\").replace('"', "\\\""),
    )
}

async fn start(config_text: &str, data: &std::path::Path) -> Running {
    let config = switchboard::config::parse_str(config_text, None, &|_| None).expect("config");
    engine::start(
        support::open_store(data),
        engine::fleet::from_config(&config),
        EngineOptions::default(),
    )
    .await
    .expect("engine starts")
}

/// Every `Event::Reauth` step for `key` queued so far.
fn reauth_steps(
    events: &mut broadcast::Receiver<Event>,
    key: &ConnectionKey,
) -> Vec<ReauthProgress> {
    let mut steps = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let Event::Reauth { key: k, progress } = e
            && &k == key
        {
            steps.push(progress);
        }
    }
    steps
}

fn view_health(running: &Running, key: &ConnectionKey) -> Option<Health> {
    running
        .handle
        .snapshot()
        .connections
        .iter()
        .find(|c| &c.key == key)
        .map(|c| c.health)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reauth_by_browser_and_device_code_then_revoke() {
    let lab = Lab::start(LabOptions {
        device_auto_approve_after: Duration::from_secs(1),
        rest_failure_rate: 0.0,
        ..LabOptions::default()
    })
    .await
    .expect("lab starts");
    let (_tmp, data) = support::data_dir();
    let running = start(&fleet_config(&lab), &data).await;
    let handle = running.handle.clone();
    let rest = ConnectionKey::new("rest", "default");

    // Never authorized: the one readiness check says so, with the one hint.
    let why = handle.ready(rest.clone(), Need::Grant).await.unwrap_err();
    assert_eq!(why, NotReady::NotAuthorized);
    assert_eq!(
        why.message(&rest),
        "rest is not authorized yet: run `switchboard auth rest`"
    );
    assert_eq!(
        handle.ready(rest.clone(), Need::Tools).await,
        Err(NotReady::NoTools)
    );
    // Probe and refresh refuse in the same words (they used to say it three ways).
    let probe = handle.probe(rest.clone(), Actor::Cli).await.unwrap_err();
    assert_eq!(probe.message, why.message(&rest));
    let tools = handle
        .list_catalogue(rest.clone(), false)
        .await
        .unwrap_err();
    assert_eq!(tools.message, NotReady::NoTools.message(&rest));

    // A browser login, the lab approving at once; the URL to open arrives as an event.
    let mut events = handle.subscribe();
    let browser = switchboard::net::browser_client().expect("browser client");
    let method = ReauthMethod::Browser {
        opener: Opener::Internal(browser),
    };
    let outcome = handle
        .reauth(rest.clone(), method, Actor::Cli, CancellationToken::new())
        .await
        .expect("authorized");
    let ReauthOutcome::Authorized(meta) = outcome else {
        panic!("expected a grant, got {outcome:?}");
    };
    assert!(meta.has_refresh_token, "{meta:?}");
    let steps = reauth_steps(&mut events, &rest);
    match steps.as_slice() {
        [ReauthProgress::OpenBrowser { url }, ReauthProgress::Done(_)] => {
            assert!(
                url.starts_with(&format!("{}/authorize?", lab.issuer)),
                "{url}"
            );
            assert!(url.contains("code_challenge="), "{url}");
        }
        other => panic!("unexpected steps: {other:?}"),
    }
    assert_eq!(handle.ready(rest.clone(), Need::Grant).await, Ok(()));
    assert_ne!(view_health(&running, &rest), Some(Health::Unauthorized));

    // A device code for an account the engine had not seen: the prompt (URL, user code and
    // the QR code's payload) arrives as an event, the lab approves after a second.
    let ops = ConnectionKey::new("rest", "ops");
    let outcome = handle
        .reauth(
            ops.clone(),
            ReauthMethod::DeviceCode,
            Actor::Cli,
            CancellationToken::new(),
        )
        .await
        .expect("device code approved");
    assert!(
        matches!(outcome, ReauthOutcome::Authorized(_)),
        "{outcome:?}"
    );
    let steps = reauth_steps(&mut events, &ops);
    let Some(ReauthProgress::DeviceCode {
        verification_uri,
        user_code,
        verification_uri_complete,
        ..
    }) = steps.first()
    else {
        panic!("no device prompt first: {steps:?}");
    };
    assert_eq!(verification_uri, &format!("{}/device", lab.issuer));
    assert!(!user_code.is_empty());
    assert_eq!(
        verification_uri_complete.as_deref(),
        Some(format!("{}/device?user_code={user_code}", lab.issuer).as_str())
    );
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, ReauthProgress::Waiting { .. })),
        "{steps:?}"
    );
    assert!(
        matches!(steps.last(), Some(ReauthProgress::Done(_))),
        "{steps:?}"
    );

    // Revoked at the lab's revocation endpoint and forgotten: not authorized any more.
    let revoked = handle
        .revoke(rest.clone(), Actor::Cli)
        .await
        .expect("revoke");
    assert!(
        matches!(
            revoked,
            RevokeOutcome::Revoked(Revoked::AtServer { ref endpoint, .. })
                if endpoint == &format!("{}/revoke", lab.issuer)
        ),
        "{revoked:?}"
    );
    assert_eq!(
        handle.ready(rest.clone(), Need::Grant).await,
        Err(NotReady::NotAuthorized)
    );
    assert_eq!(view_health(&running, &rest), Some(Health::Unauthorized));
    let again = handle
        .revoke(rest.clone(), Actor::Cli)
        .await
        .expect("revoke");
    assert_eq!(again, RevokeOutcome::Revoked(Revoked::NothingStored));
    // Neither the config nor the store knows this one; a connector without OAuth holds none.
    let unknown = ConnectionKey::new("gone", "default");
    assert_eq!(
        handle.revoke(unknown, Actor::Cli).await.expect("revoke"),
        RevokeOutcome::Unknown
    );
    let stdio = ConnectionKey::new("stdio", "default");
    assert_eq!(
        handle.revoke(stdio, Actor::Cli).await.expect("revoke"),
        RevokeOutcome::NoGrant { auth: "none" }
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reauth_nobody_finishes_is_cancelled() {
    let lab = support::lab(60).await;
    let (_tmp, data) = support::data_dir();
    let running = start(&fleet_config(&lab), &data).await;
    let handle = running.handle.clone();
    let rest = ConnectionKey::new("rest", "default");
    let mut events = handle.subscribe();
    let cancel = CancellationToken::new();
    // Print only: no browser ever comes back, so only the cancel ends it.
    let waiting = tokio::spawn({
        let (handle, rest, cancel) = (handle.clone(), rest.clone(), cancel.clone());
        async move {
            let method = ReauthMethod::Browser {
                opener: Opener::PrintOnly,
            };
            handle.reauth(rest, method, Actor::Cli, cancel).await
        }
    });
    let url = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(Event::Reauth {
                progress: ReauthProgress::OpenBrowser { url },
                ..
            }) = events.recv().await
            {
                return url;
            }
        }
    })
    .await
    .expect("the URL to open arrives");
    assert!(url.contains("/authorize?"), "{url}");
    cancel.cancel();
    let result = waiting.await.expect("task");
    assert!(result.is_err(), "{result:?}");
    let steps = reauth_steps(&mut events, &rest);
    assert!(
        matches!(steps.as_slice(), [ReauthProgress::Cancelled]),
        "{steps:?}"
    );
    assert_eq!(view_health(&running, &rest), Some(Health::Unauthorized));
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_and_tool_calls_with_replies_progress_and_cancel() {
    let lab = support::lab(60).await;
    let (_tmp, data) = support::data_dir();
    let running = start(&fleet_config(&lab), &data).await;
    let handle = running.handle.clone();
    let key = ConnectionKey::new("stdio", "default");

    let catalogue = handle
        .list_catalogue(key.clone(), false)
        .await
        .expect("listed");
    let mut names: Vec<&str> = catalogue.tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    assert_eq!(names, ["add", "count_slowly", "echo", "whoami"]);

    let call = |tool: &str, args: serde_json::Value| ToolCall {
        key: key.clone(),
        tool: tool.to_string(),
        arguments: args.as_object().cloned(),
        timeout: Duration::from_secs(20),
        actor: Actor::Cli,
    };
    let mut events = handle.subscribe();
    let outcome = handle
        .call_tool(
            call("count_slowly", json!({"to": 3, "delay_ms": 20})),
            CancellationToken::new(),
        )
        .await
        .expect("count_slowly answers");
    assert!(format!("{:?}", outcome.result.content).contains("counted to 3"));
    let mut progress = 0;
    while let Ok(e) = events.try_recv() {
        if let Event::ToolProgress { tool, .. } = e {
            assert_eq!(tool, "count_slowly");
            progress += 1;
        }
    }
    assert!(progress >= 1, "no progress events");

    // The schema check is the engine's: nothing is sent, and the reply says where.
    let invalid = handle
        .call_tool(call("add", json!({"a": "x"})), CancellationToken::new())
        .await;
    assert!(
        matches!(&invalid, Err(CallError::InvalidArguments(v)) if v.len() == 2),
        "{invalid:?}"
    );

    // Cancelled after the first progress: the reply says so.
    let cancel = CancellationToken::new();
    let slow = tokio::spawn({
        let (handle, cancel) = (handle.clone(), cancel.clone());
        let c = call("count_slowly", json!({"to": 50, "delay_ms": 500}));
        async move { handle.call_tool(c, cancel).await }
    });
    tokio::time::timeout(Duration::from_secs(20), async {
        while !matches!(events.recv().await, Ok(Event::ToolProgress { .. })) {}
    })
    .await
    .expect("progress arrives");
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(10), slow)
        .await
        .expect("the cancelled call ends at once")
        .expect("task");
    assert!(matches!(result, Err(CallError::Cancelled)), "{result:?}");

    // Tools of a REST connector: refused by the readiness check, before any session.
    let rest = ConnectionKey::new("rest", "default");
    let refused = handle
        .list_catalogue(rest.clone(), false)
        .await
        .unwrap_err();
    assert_eq!(
        refused.message,
        "rest is a REST connector; tools and call need an MCP connector"
    );
    // The console's fire-and-forget form still answers through events.
    assert!(handle.send(Command::ListTools {
        key: key.clone(),
        refresh: true,
    }));
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_and_prompts_through_commands() {
    let (_tmp, data) = support::data_dir();
    let running = start(&support::everything::stdio_config(), &data).await;
    let handle = running.handle.clone();
    let key = ConnectionKey::new("everything", "default");

    let catalogue = handle
        .list_catalogue(key.clone(), false)
        .await
        .expect("listed");
    let resource = catalogue
        .resources
        .iter()
        .find(|r| r.uri.ends_with("instructions.md") || r.uri.ends_with(".md"))
        .expect("server-everything lists its documents");
    let read = handle
        .read_resource(key.clone(), resource.uri.clone())
        .await
        .expect("resource read");
    assert_eq!(read.contents.len(), 1, "{read:?}");
    assert!(
        format!("{:?}", read.contents[0]).contains(resource.uri.as_str()),
        "{read:?}"
    );

    let prompt = handle
        .get_prompt(key.clone(), "simple-prompt".into(), None)
        .await
        .expect("prompt");
    assert!(
        format!("{:?}", prompt.messages).contains("This is a simple prompt without arguments."),
        "{prompt:?}"
    );
    let args = json!({"city": "Lyon"}).as_object().cloned();
    let prompt = handle
        .get_prompt(key.clone(), "args-prompt".into(), args)
        .await
        .expect("prompt with arguments");
    assert!(
        format!("{:?}", prompt.messages).contains("What's weather in Lyon?"),
        "{prompt:?}"
    );
    let missing = handle
        .get_prompt(key.clone(), "no-such-prompt".into(), None)
        .await;
    assert!(missing.is_err(), "{missing:?}");
    running.shutdown().await;
}
