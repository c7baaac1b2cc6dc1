//! `switchboard demo`: the lab on loopback, a config written for it, every OAuth connection
//! authorized through the real flow, one grant revoked on a timer, and the console on top.
//! Everything lives in a fresh temporary directory (or `--data-dir`), never the user's.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Exit, Outcome, open_workspace_at, start_engine};
use crate::cli::{DemoArgs, EXIT_FAILED, EXIT_OK, Global};
use crate::domain::Actor;
use crate::engine::{EngineOptions, Level, Workspace};
use crate::lab::{
    DOOMED_CLIENT, FLAKY_CLIENT, Lab, LabOptions, PUBLIC_CLIENT, SERVICE_CLIENT, SERVICE_SECRET,
};

/// The connector whose grant the demo revokes, so the console shows *needs re-auth*.
pub const DOOMED: &str = "lab-doomed";
/// The connector whose provider fails refreshes for a while, so the console shows *at risk*
/// (a forecast, before the token dies) and then the recovery.
pub const FLAKY: &str = "lab-flaky";

pub fn demo_config(lab: &Lab, exe: &Path) -> String {
    let issuer = &lab.issuer;
    let mcp = &lab.mcp_url;
    let sse = &lab.sse_url;
    let rest = &lab.rest_base;
    let exe = exe
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!(
        r#"# Written by `switchboard demo` for its loopback lab. Safe to read; regenerated every run.
[console]
theme = "default"

[[connectors]]
id = "lab-mcp"
name = "Lab MCP (HTTP)"
kind = "mcp"
[connectors.mcp]
transport = "streamable-http"
url = "{mcp}"
[connectors.auth]
type = "oauth2"
issuer = "{issuer}"
client_id = "{PUBLIC_CLIENT}"
scopes = ["mcp:tools", "offline_access"]
[connectors.schedule]
probe = "5s"
refresh_lead = "20s"

[[connectors]]
id = "lab-sse"
name = "Lab MCP (legacy SSE)"
kind = "mcp"
[connectors.mcp]
transport = "sse"
url = "{sse}"
[connectors.auth]
type = "oauth2"
issuer = "{issuer}"
client_id = "{PUBLIC_CLIENT}"
scopes = ["mcp:tools", "offline_access"]
[connectors.schedule]
probe = "5s"
refresh_lead = "20s"

[[connectors]]
id = "lab-stdio"
name = "Lab MCP (stdio)"
kind = "mcp"
[connectors.mcp]
transport = "stdio"
command = "{exe}"
args = ["lab", "mcp-stdio"]
[connectors.schedule]
probe = "10s"

[[connectors]]
id = "lab-rest"
name = "Lab REST API"
kind = "rest"
[connectors.rest]
base_url = "{rest}"
health_path = "/me"
[connectors.auth]
type = "oauth2"
issuer = "{issuer}"
client_id = "{PUBLIC_CLIENT}"
scopes = ["api:read", "offline_access"]
[connectors.schedule]
probe = "3s"
refresh_lead = "20s"

[[connectors]]
id = "lab-service"
name = "Lab service account"
kind = "rest"
[connectors.rest]
base_url = "{rest}"
health_path = "/me"
[connectors.auth]
type = "client-credentials"
issuer = "{issuer}"
client_id = "{SERVICE_CLIENT}"
client_secret = "{SERVICE_SECRET}"
scopes = ["api:read"]
[connectors.schedule]
probe = "5s"
refresh_lead = "20s"

[[connectors]]
id = "{DOOMED}"
name = "Lab (grant revoked)"
kind = "rest"
[connectors.rest]
base_url = "{rest}"
health_path = "/me"
[connectors.auth]
type = "oauth2"
issuer = "{issuer}"
client_id = "{DOOMED_CLIENT}"
scopes = ["api:read", "offline_access"]
[connectors.schedule]
probe = "5s"
refresh_lead = "20s"

[[connectors]]
id = "{FLAKY}"
name = "Lab (flaky refreshes)"
kind = "rest"
[connectors.rest]
base_url = "{rest}"
health_path = "/me"
[connectors.auth]
type = "oauth2"
issuer = "{issuer}"
client_id = "{FLAKY_CLIENT}"
scopes = ["api:read", "offline_access"]
[connectors.schedule]
probe = "5s"
refresh_lead = "20s"

[[connectors]]
id = "lab-fallback"
name = "Lab MCP with REST fallback"
kind = "mcp"
[connectors.mcp]
transport = "streamable-http"
url = "{issuer}/retired-mcp"
[connectors.rest]
base_url = "{rest}"
health_path = "/health"
[connectors.schedule]
probe = "10s"

[[connectors]]
id = "jira"
name = "Jira (needs your client id)"
kind = "mcp"
[connectors.mcp]
transport = "streamable-http"
url = "https://mcp.atlassian.com/v1/mcp"
[connectors.auth]
type = "oauth2"
provider = "atlassian"
client_id = "${{SWITCHBOARD_DEMO_JIRA_CLIENT_ID}}"
"#
    )
}

fn fresh_demo_dir() -> Result<PathBuf, Exit> {
    let base = std::env::temp_dir();
    for _ in 0..8 {
        let dir = base.join(format!("switchboard-demo-{:08x}", rand::random::<u32>()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Exit::new(
                    EXIT_FAILED,
                    format!("cannot create a demo directory in {}: {e}", base.display()),
                ));
            }
        }
    }
    Err(Exit::new(
        EXIT_FAILED,
        "cannot find a free demo directory name",
    ))
}

pub async fn demo(global: &Global, args: DemoArgs) -> Outcome {
    let (data_dir, temporary) = match &global.data_dir {
        Some(d) => (d.clone(), false),
        None => (fresh_demo_dir()?, true),
    };
    // A temporary directory keeps its key in a file inside it: a keyring entry would outlive
    // the directory.
    let opening = crate::engine::Opening {
        key_in_dir: temporary,
        // The demo's fleet is its own: never the operator's shared database.
        local_only: true,
        ..Default::default()
    };
    let result = match open_workspace_at(&data_dir, opening) {
        Ok(workspace) => run_demo(&workspace, &args).await,
        Err(e) => Err(e),
    };
    if temporary && !args.keep {
        let _ = std::fs::remove_dir_all(&data_dir);
    } else {
        eprintln!("demo data kept in {}", data_dir.display());
    }
    result
}

async fn run_demo(workspace: &Workspace, args: &DemoArgs) -> Outcome {
    let data_dir = workspace.data_dir();
    // A person approves in a real browser: consent and device pages with buttons, and no
    // device code approving itself.
    let lab = Lab::start(LabOptions {
        access_token_ttl: args.token_ttl,
        consent: true,
        device_auto_approve_after: Duration::from_secs(3600),
        ..LabOptions::default()
    })
    .await
    .map_err(|e| Exit::new(EXIT_FAILED, format!("the demo lab did not start: {e}")))?;
    let lab = std::sync::Arc::new(lab);
    let exe = std::env::current_exe()
        .map_err(|e| Exit::new(EXIT_FAILED, format!("cannot find this program's path: {e}")))?;
    let config_path = data_dir.join("config.toml");
    write_private(&config_path, &demo_config(&lab, &exe))?;
    let config = crate::config::load(&config_path).map_err(|e| {
        Exit::new(
            EXIT_FAILED,
            format!("the demo config is invalid (a bug): {e}"),
        )
    })?;

    authorize_fleet(&config, workspace).await?;
    // The console's engine hands a server's questions to its tool panel; headless, nobody
    // could answer them, so that engine declines. The theme is checked before anything runs.
    let (running, console) = if args.headless {
        let options = super::console::scheduled();
        (start_engine(&config, workspace, options).await?, None)
    } else {
        let options = super::console::console_options(&config, data_dir)?;
        // Printed before the console takes the screen, and again in its help: where this
        // demo's config and data live, so a command pasted into another shell acts on it.
        for line in &options.about {
            eprintln!("{line}");
        }
        let running = super::console::start_console_engine(&config, workspace).await?;
        (running, Some(options))
    };

    let revoke_after = args.revoke_after;
    let lab_for_revoke = lab.clone();
    let handle = running.handle.clone();
    let revoker = tokio::spawn(async move {
        tokio::time::sleep(revoke_after).await;
        let n = lab_for_revoke.revoke_client_grants(DOOMED_CLIENT);
        handle.notice(
            Level::Warn,
            format!("demo: the lab revoked {DOOMED}'s grant ({n}); it will need re-auth"),
        );
    });

    let (flaky_after, flaky_for) = (args.flaky_after, args.flaky_for);
    let lab_for_flaky = lab.clone();
    let handle = running.handle.clone();
    let flaky = tokio::spawn(async move {
        tokio::time::sleep(flaky_after).await;
        lab_for_flaky.fail_refreshes_of(FLAKY_CLIENT, true);
        handle.notice(
            Level::Warn,
            format!(
                "demo: the lab fails {FLAKY}'s refreshes for {}s; watch it turn at risk before its token expires",
                flaky_for.as_secs()
            ),
        );
        tokio::time::sleep(flaky_for).await;
        lab_for_flaky.fail_refreshes_of(FLAKY_CLIENT, false);
        handle.notice(
            Level::Info,
            format!("demo: the lab answers {FLAKY}'s refreshes again; the next retry recovers it"),
        );
    });

    let outcome = if let Some(options) = console {
        super::console::run_console(running, options).await
    } else {
        println!(
            "switchboard demo: lab at {}, data in {}, config {}",
            lab.issuer,
            data_dir.display(),
            config_path.display()
        );
        let _ = std::io::stdout().flush();
        super::console::wait_for_stop(&running).await;
        running.shutdown().await;
        Ok(EXIT_OK)
    };
    revoker.abort();
    let _ = revoker.await;
    flaky.abort();
    let _ = flaky.await;
    if let Ok(lab) = std::sync::Arc::try_unwrap(lab) {
        lab.shutdown().await;
    }
    outcome
}

/// Authorizes every OAuth connection that was never authorized, through the real
/// authorization code + PKCE flow (`Command::Reauth`), before the demo's engine starts; the lab
/// approves at once, so an internal HTTP client plays the browser.
/// The demo's few connections, a handful at a time; the lab approves at once, so a minute is
/// far more than any needs.
const DEMO_AUTHORIZE_AT_ONCE: usize = 4;
const DEMO_AUTHORIZE_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

async fn authorize_fleet(
    config: &crate::config::Config,
    workspace: &Workspace,
) -> Result<(), Exit> {
    let running = start_engine(config, workspace, EngineOptions::default()).await?;
    let result = super::lab_seed::authorize_waiting(
        &running.handle,
        Actor::Demo,
        DEMO_AUTHORIZE_AT_ONCE,
        DEMO_AUTHORIZE_WITHIN,
    )
    .await
    .and_then(|(_, failures)| match failures.first() {
        None => Ok(()),
        Some(first) => Err(Exit::new(EXIT_FAILED, format!("demo: authorizing {first}"))),
    });
    running.shutdown().await;
    result
}

fn write_private(path: &Path, text: &str) -> Result<(), Exit> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Exit::new(EXIT_FAILED, format!("cannot write {}: {e}", path.display())))?;
    f.write_all(text.as_bytes())
        .map_err(|e| Exit::new(EXIT_FAILED, format!("cannot write {}: {e}", path.display())))
}

/// `switchboard lab serve`: the lab alone, for poking at it or for external tests.
pub async fn lab_serve(token_ttl: Duration, rest_failure_rate: f64) -> Outcome {
    super::init_stderr_logging();
    let lab = Lab::start(LabOptions {
        access_token_ttl: token_ttl,
        // NaN or out of range would make the flaky endpoint meaningless; clamp like the hooks.
        rest_failure_rate: if rest_failure_rate.is_nan() {
            0.0
        } else {
            rest_failure_rate.clamp(0.0, 1.0)
        },
        ..LabOptions::default()
    })
    .await
    .map_err(|e| Exit::new(EXIT_FAILED, format!("the lab did not start: {e}")))?;
    let info = serde_json::json!({"issuer": lab.issuer, "mcp_url": lab.mcp_url, "sse_url": lab.sse_url, "rest_base": lab.rest_base});
    println!("{info}");
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    lab.shutdown().await;
    Ok(EXIT_OK)
}
