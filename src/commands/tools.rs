//! `switchboard tools` and `switchboard call`: a configured MCP connection (through the engine's
//! pool and token broker, recorded in the event log) or an ad hoc `--url`/`--stdio` target
//! (nothing stored, no data directory needed).

use rmcp::model::JsonObject;
use tokio_util::sync::CancellationToken;

use super::call_io::{ProgressPrinter, cancel_on_ctrl_c, parse_arguments, validate};
use super::oneshot::{engine_for, exit_for, known_key};
use super::{Exit, Outcome};
use std::io::IsTerminal;
use std::sync::Arc;

use crate::auth::AuthSpec;
use crate::auth::adhoc_auth::{AdHocAuth, ClientOptions};
use crate::auth::flows::Opener;
use crate::cli::{
    CallArgs, EXIT_FAILED, EXIT_HUMAN, EXIT_OK, EXIT_USAGE, Global, TargetArgs, ToolsArgs,
    TransportArg,
};
use crate::domain::{Actor, ConnectionKey, Failure};
use crate::engine::Running;
use crate::mcp::adhoc::{self, AdHoc};
use crate::mcp::call::{CallError, CallOutcome, call_tool};
use crate::mcp::render::{render_catalogue, render_result};
use crate::mcp::{Catalogue, Target};

/// How long an ad hoc server may take to start and initialize.
const ADHOC_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A configured connection, resolved and checked for a usable grant.
struct Configured {
    running: Running,
    key: ConnectionKey,
    target: Target,
}

enum Resolved {
    Configured(Box<Configured>),
    AdHoc(AdHoc),
}

/// An ad hoc target has no broker to fix a refusal: either authorization ran and says why it
/// failed, or the operator must bring credentials.
fn adhoc_exit(adhoc: &AdHoc, f: Failure) -> Exit {
    let f = adhoc.explain(f);
    if f.class != crate::domain::ErrorClass::Auth {
        return Exit::failed(&f);
    }
    if adhoc.auth.as_ref().is_some_and(|a| a.failure().is_some()) {
        return Exit::new(EXIT_HUMAN, f.to_string());
    }
    let hint = if adhoc.brings_credentials() {
        "the server refused the credentials given; check --bearer / --header"
    } else {
        "the server wants credentials: pass --bearer TOKEN (or $SWITCHBOARD_BEARER) or --header 'NAME: VALUE', or run this in a terminal (or with $BROWSER set, or --no-browser) to log in through MCP authorization"
    };
    Exit::new(EXIT_HUMAN, format!("{f}; {hint}"))
}

fn usage(message: impl Into<String>) -> Exit {
    Exit::new(EXIT_USAGE, message)
}

fn adhoc_target(t: &TargetArgs) -> Result<Option<AdHoc>, Exit> {
    let target = match (&t.url, &t.stdio, t.transport) {
        (None, None, None) => return Ok(None),
        (None, None, Some(_)) => {
            return Err(usage(
                "--transport applies to an ad hoc --url or --stdio target",
            ));
        }
        (Some(url), None, None | Some(TransportArg::StreamableHttp)) => {
            Target::StreamableHttp { url: url.clone() }
        }
        (Some(url), None, Some(TransportArg::Sse)) => Target::Sse { url: url.clone() },
        (Some(_), None, Some(TransportArg::Stdio)) => {
            return Err(usage(
                "--transport stdio takes --stdio \"COMMAND ARGS\", not --url",
            ));
        }
        (None, Some(line), None | Some(TransportArg::Stdio)) => {
            let mut words = adhoc::split_command(line).map_err(usage)?;
            let command = words.remove(0);
            Target::Stdio {
                command,
                args: words,
                env: Vec::new(),
            }
        }
        (None, Some(_), Some(_)) => {
            return Err(usage(
                "--stdio runs a local command; drop --transport or use --url",
            ));
        }
        (Some(_), Some(_), _) => return Err(usage("give either --url or --stdio, not both")),
    };
    if matches!(target, Target::Stdio { .. }) && (!t.headers.is_empty() || t.bearer.is_some()) {
        return Err(usage(
            "--header and --bearer apply to an HTTP --url target, not --stdio",
        ));
    }
    if let Target::StreamableHttp { url } | Target::Sse { url } = &target
        && url::Url::parse(url).is_err()
    {
        return Err(usage(format!("--url `{url}` is not a valid URL")));
    }
    let mut adhoc = AdHoc {
        target,
        headers: t
            .headers
            .iter()
            .map(|h| (h.0.clone(), h.1.clone()))
            .collect(),
        bearer: t.bearer.clone(),
        auth: None,
    };
    let wants_auth = t.client_id.is_some() || t.client_metadata_url.is_some();
    if let Target::StreamableHttp { url } | Target::Sse { url } = &adhoc.target {
        if !adhoc.brings_credentials() {
            adhoc.auth = adhoc_auth(t, url)?.map(Arc::new);
        } else if wants_auth {
            return Err(usage(
                "--client-id/--client-metadata-url authorize a server that answers 401; with --bearer or an Authorization header there is nothing to authorize",
            ));
        }
    } else if wants_auth {
        return Err(usage(
            "--client-id/--client-metadata-url apply to an HTTP --url target",
        ));
    }
    Ok(Some(adhoc))
}

/// MCP authorization for an ad hoc target, if a login can happen here: a browser to open
/// (`$BROWSER`, or a terminal whose user can use the printed URL), or `--no-browser`. A script
/// with neither gets the 401 at once, not a 15-minute wait for a login nobody can see.
fn adhoc_auth(t: &TargetArgs, url: &str) -> Result<Option<AdHocAuth>, Exit> {
    if let Some(m) = &t.client_metadata_url
        && url::Url::parse(m).is_err()
    {
        return Err(usage(format!(
            "--client-metadata-url `{m}` is not a valid URL"
        )));
    }
    if t.client_secret.is_some() && t.client_id.is_none() {
        return Err(usage(
            "a client secret ($SWITCHBOARD_CLIENT_SECRET) needs --client-id",
        ));
    }
    let http = crate::engine::http_client().map_err(|f| Exit::failed(&f))?;
    let opener = match (&t.opener, t.no_browser) {
        (Some(o), _) => o.clone(),
        (None, true) => Opener::PrintOnly,
        (None, false) if can_log_in() => Opener::System,
        (None, false) => return Ok(None),
    };
    let options = ClientOptions {
        client_id: t.client_id.clone(),
        client_secret: t.client_secret.clone(),
        client_metadata_url: t.client_metadata_url.clone(),
    };
    Ok(Some(AdHocAuth::new(http, url, options, opener)))
}

async fn resolve(
    global: &Global,
    t: &TargetArgs,
    connector: Option<&str>,
) -> Result<Resolved, Exit> {
    if let Some(adhoc) = adhoc_target(t)? {
        return Ok(Resolved::AdHoc(adhoc));
    }
    if !t.headers.is_empty() || t.bearer.is_some() {
        return Err(usage(
            "--header and --bearer apply to an ad hoc --url; a configured connector takes its credentials from the token broker",
        ));
    }
    let Some(connector) = connector else {
        return Err(usage(
            "name a configured MCP connector, or give --url URL or --stdio \"COMMAND\"",
        ));
    };
    let running = engine_for(global).await?;
    let key = known_key(&running, connector, &t.account)?;
    let Some(spec) = running.engine.spec(&key) else {
        return Err(usage(format!("no connector `{connector}`")));
    };
    if let Some(p) = &spec.problem {
        return Err(usage(format!(
            "connector {connector} is misconfigured: {p}"
        )));
    }
    if !spec.missing_env.is_empty() {
        return Err(usage(format!(
            "connector {connector} is not configured: set {}",
            spec.missing_env.join(", ")
        )));
    }
    let Some(target) = spec.plan.mcp.clone() else {
        return Err(usage(format!(
            "connector {connector} is a REST connector; tools and call need an MCP connector"
        )));
    };
    // No request can succeed without a grant: say what fixes it instead of trying.
    let broker = &running.engine.broker;
    let account = if key.account == crate::domain::DEFAULT_ACCOUNT {
        String::new()
    } else {
        format!(" --account {}", key.account)
    };
    if broker.needs_reauth(&key) {
        return Err(Exit::new(
            EXIT_HUMAN,
            format!("{key} needs re-auth: run `switchboard auth {connector}{account}`"),
        ));
    }
    if matches!(spec.auth, AuthSpec::OAuth(_)) && broker.meta(&key).is_none() {
        return Err(Exit::new(
            EXIT_HUMAN,
            format!("{key} is not authorized yet; run `switchboard auth {connector}{account}`"),
        ));
    }
    Ok(Resolved::Configured(Box::new(Configured {
        running,
        key,
        target,
    })))
}

fn print_catalogue(c: &Catalogue, json: bool) -> Result<(), Exit> {
    if json {
        let text = serde_json::to_string_pretty(&serde_json::json!({
            "tools": c.tools, "resources": c.resources, "prompts": c.prompts,
        }))
        .map_err(|e| Exit::new(EXIT_FAILED, e.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", render_catalogue(c));
    }
    Ok(())
}

pub async fn tools(global: &Global, args: ToolsArgs) -> Outcome {
    match resolve(global, &args.target, args.connector.as_deref()).await? {
        Resolved::AdHoc(adhoc) => {
            if args.connector.is_some() {
                return Err(usage("give a connector or --url/--stdio, not both"));
            }
            let session = adhoc::connect(&adhoc, ADHOC_CONNECT_TIMEOUT)
                .await
                .map_err(|f| adhoc_exit(&adhoc, f))?;
            let listed = Catalogue::fetch(session.peer()).await;
            let _ = session.cancel().await;
            let c = listed.map_err(|e| adhoc_exit(&adhoc, crate::mcp::classify_service(&e)))?;
            print_catalogue(&c, args.target.json)?;
            Ok(EXIT_OK)
        }
        Resolved::Configured(c) => {
            let Configured {
                running,
                key,
                target,
            } = *c;
            // An explicit listing always asks the server, and so refreshes the cache.
            let listed = running.engine.mcp.catalogue(&key, &target, true).await;
            let listed = listed.map_err(|f| configured_exit(&running, &key, &f));
            running.shutdown().await;
            print_catalogue(&*listed?, args.target.json)?;
            Ok(EXIT_OK)
        }
    }
}

pub async fn call(global: &Global, args: CallArgs) -> Outcome {
    let adhoc = adhoc_target(&args.target)?.is_some();
    let (connector, tool, raw) = match (adhoc, args.positionals.as_slice()) {
        (true, [tool]) => (None, tool.clone(), None),
        (true, [tool, raw]) => (None, tool.clone(), Some(raw.clone())),
        (false, [connector, tool]) => (Some(connector.clone()), tool.clone(), None),
        (false, [connector, tool, raw]) => {
            (Some(connector.clone()), tool.clone(), Some(raw.clone()))
        }
        (true, _) => {
            return Err(usage(
                "with --url or --stdio: switchboard call [OPTIONS] TOOL ['{\"arg\": 1}']",
            ));
        }
        (false, _) => {
            return Err(usage(
                "usage: switchboard call CONNECTOR TOOL ['{\"arg\": 1}'] (or TOOL with --url/--stdio)",
            ));
        }
    };
    let arguments = parse_arguments(raw.as_deref())?;
    let cancel = cancel_on_ctrl_c();
    let mut printer = ProgressPrinter::new(args.progress);
    let result = match resolve(global, &args.target, connector.as_deref()).await? {
        Resolved::AdHoc(adhoc) => {
            let session = adhoc::connect(&adhoc, ADHOC_CONNECT_TIMEOUT)
                .await
                .map_err(|f| adhoc_exit(&adhoc, f))?;
            let listed = Catalogue::fetch(session.peer())
                .await
                .map_err(|e| adhoc_exit(&adhoc, crate::mcp::classify_service(&e)));
            let checked = listed.and_then(|c| validate(&c, &tool, &arguments, "the server"));
            let result = match checked {
                Ok(()) => Ok(
                    call_tool(&session, &tool, arguments, args.timeout, &cancel, |p| {
                        printer.show(&tool, p)
                    })
                    .await,
                ),
                Err(e) => Err(e),
            };
            let _ = session.cancel().await;
            result?.map_err(|e| (EXIT_FAILED, e))
        }
        Resolved::Configured(c) => {
            let Configured {
                running,
                key,
                target,
            } = *c;
            let mut result = call_configured(
                &running,
                &key,
                &target,
                &tool,
                arguments.clone(),
                &args,
                &cancel,
                &mut printer,
            )
            .await;
            // Step-up: the server wants more scope than the grant holds. Where a human can log
            // in right now, do it (the recorded scopes make `auth` ask for the union) and try
            // the call once more; elsewhere the exit names the `auth` to run.
            if needs_step_up(&result) && can_log_in() {
                eprintln!("{key}: the server needs more scope; authorizing again (step-up)");
                let authorized =
                    super::authorize::auth(global, &key.connector, &key.account, false, false)
                        .await;
                if authorized.is_ok() {
                    let _ = running.engine.broker.sync_from_store(&key).await;
                    result = call_configured(
                        &running,
                        &key,
                        &target,
                        &tool,
                        arguments,
                        &args,
                        &cancel,
                        &mut printer,
                    )
                    .await;
                } else if let Err(e) = authorized {
                    result = Err(e);
                }
            }
            running.shutdown().await;
            result?
        }
    };
    printer.finish();
    finish(&tool, result, args.target.json)
}

#[allow(clippy::too_many_arguments)] // the pieces of one call, kept apart for the ad hoc path
async fn call_configured(
    running: &Running,
    key: &ConnectionKey,
    target: &Target,
    tool: &str,
    arguments: Option<JsonObject>,
    args: &CallArgs,
    cancel: &CancellationToken,
    printer: &mut ProgressPrinter,
) -> Result<Result<CallOutcome, (i32, CallError)>, Exit> {
    let mcp = &running.engine.mcp;
    let failed = |f: Failure| configured_exit(running, key, &f);
    let mut catalogue = mcp.catalogue(key, target, false).await.map_err(failed)?;
    // A cached list may predate a new tool: look once more before calling it unknown.
    if catalogue.tool(tool).is_none() {
        catalogue = mcp.catalogue(key, target, true).await.map_err(failed)?;
    }
    validate(&catalogue, tool, &arguments, &key.to_string())?;
    let outcome = mcp
        .call_tool(
            key,
            target,
            tool,
            arguments,
            args.timeout,
            Actor::Cli,
            cancel,
            |p| printer.show(tool, p),
        )
        .await;
    match outcome {
        Err(CallError::Failed(f)) if exit_for(running, key, &f) == EXIT_HUMAN => {
            Err(configured_exit(running, key, &f))
        }
        other => Ok(other.map_err(|e| (EXIT_FAILED, e))),
    }
}

fn needs_step_up(result: &Result<Result<CallOutcome, (i32, CallError)>, Exit>) -> bool {
    matches!(result, Err(e) if e.code == EXIT_HUMAN && e.message.contains("insufficient scope"))
}

/// Whether a browser login can happen from here: a browser to open, or a person at a terminal
/// to use the printed URL.
fn can_log_in() -> bool {
    std::env::var("BROWSER").is_ok_and(|b| !b.trim().is_empty()) || std::io::stderr().is_terminal()
}

/// A failure on a configured connection; one a human must fix names the command that does.
fn configured_exit(running: &Running, key: &ConnectionKey, f: &Failure) -> Exit {
    let code = exit_for(running, key, f);
    if code != EXIT_HUMAN || f.message.contains("switchboard auth") {
        return Exit::new(code, format!("{key}: {f}"));
    }
    let account = if key.account == crate::domain::DEFAULT_ACCOUNT {
        String::new()
    } else {
        format!(" --account {}", key.account)
    };
    Exit::new(
        code,
        format!(
            "{key} needs re-auth: run `switchboard auth {}{account}` ({f})",
            key.connector
        ),
    )
}

fn finish(tool: &str, result: Result<CallOutcome, (i32, CallError)>, json: bool) -> Outcome {
    match result {
        Ok(outcome) => {
            if json {
                let text = serde_json::to_string_pretty(&outcome.result)
                    .map_err(|e| Exit::new(EXIT_FAILED, e.to_string()))?;
                println!("{text}");
            } else {
                print!(
                    "{}",
                    render_result(tool, &outcome.result, outcome.latency_ms)
                );
            }
            if outcome.is_tool_error() {
                Err(Exit::new(
                    EXIT_FAILED,
                    format!("{tool} returned an error (isError)"),
                ))
            } else {
                Ok(EXIT_OK)
            }
        }
        Err((code, CallError::Cancelled)) => Err(Exit::new(
            code,
            format!("{tool}: cancelled; the server was told to stop"),
        )),
        Err((code, e)) => Err(Exit::new(code, format!("{tool}: {e}"))),
    }
}
