//! `switchboard tools` and `switchboard call`: a configured MCP connection (through the engine's
//! pool and token broker, recorded in the event log) or an ad hoc `--url`/`--stdio` target
//! (nothing stored, no data directory needed).

use rmcp::model::JsonObject;
use tokio_util::sync::CancellationToken;

use super::adhoc_target::{adhoc_exit, adhoc_target, can_log_in, elicit_policy, usage};
use super::call_io::{ProgressPrinter, cancel_on_ctrl_c, parse_arguments, validate};
use super::oneshot::{engine_eliciting, exit_for, known_key};
use super::{Exit, Outcome, elicit_prompt};

use crate::auth::AuthSpec;
use crate::cli::{CallArgs, EXIT_FAILED, EXIT_HUMAN, EXIT_OK, Global, TargetArgs, ToolsArgs};
use crate::domain::{Actor, ConnectionKey, Failure, Reason};
use crate::engine::Running;
use crate::mcp::Target;
use crate::mcp::adhoc::{self, AdHoc};
use crate::mcp::call::call_tool;
use crate::text::printable;
use crate::toolkit::Catalogue;
use crate::toolkit::render::{render_catalogue, render_result};
use crate::toolkit::{CallError, CallOutcome};

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
    if t.protocol_version.is_some() {
        return Err(usage(
            "--protocol-version applies to an ad hoc --url or --stdio; pin a configured connector with protocol_version under [connectors.mcp]",
        ));
    }
    let Some(connector) = connector else {
        return Err(usage(
            "name a configured MCP connector, or give --url URL or --stdio \"COMMAND\"",
        ));
    };
    // This command's own engine, so its sessions can answer the server's questions here.
    let running = engine_eliciting(global, elicit_prompt::elicitor(elicit_policy(t))).await?;
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
    let Some(target) = spec.plan.route.mcp().cloned() else {
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
        // Names and descriptions are the server's words: shown, never obeyed by the terminal.
        print!("{}", printable(&render_catalogue(c), true));
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
            let c = listed.map_err(|f| adhoc_exit(&adhoc, f))?;
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
                .map_err(|f| adhoc_exit(&adhoc, f));
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
    matches!(result, Err(e) if e.code == EXIT_HUMAN
        && matches!(e.reason, Some(Reason::InsufficientScope { .. })))
}

/// A failure on a configured connection; one a human must fix names the command that does.
fn configured_exit(running: &Running, key: &ConnectionKey, f: &Failure) -> Exit {
    let code = exit_for(running, key, f);
    let auth = crate::domain::auth_command(key);
    let message = match &f.reason {
        // Their producers name the `auth` to run already.
        _ if code != EXIT_HUMAN => format!("{key}: {f}"),
        Some(Reason::NeedsReauth | Reason::NotAuthorized) => format!("{key}: {f}"),
        Some(Reason::InsufficientScope { scopes }) if !scopes.is_empty() => format!(
            "{key} needs more scope: run `{auth}` to grant {}",
            scopes.join(" ")
        ),
        _ => format!("{key} needs re-auth: run `{auth}` ({f})"),
    };
    Exit {
        reason: f.reason.clone(),
        ..Exit::new(code, message)
    }
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
                    printable(
                        &render_result(tool, &outcome.result, outcome.latency_ms),
                        true
                    )
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
