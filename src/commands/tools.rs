//! `switchboard tools` and `switchboard call`: a configured MCP connection (through the
//! engine's pool and token broker, recorded in the event log) or an ad hoc `--url`/`--stdio`
//! target (an engine of its own: nothing stored, no data directory needed). Both answer the
//! same `Command`s, so what follows the target's choice is one path.

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::adhoc_target::{adhoc_target, can_log_in, elicit_policy, usage};
use super::call_io::{ProgressPrinter, cancel_on_ctrl_c, parse_arguments, validate};
use super::oneshot::{exit_for, known_key};
use super::{Exit, Outcome, elicit_prompt, oneshot_engine};

use crate::cli::{
    CallArgs, EXIT_FAILED, EXIT_HUMAN, EXIT_OK, EXIT_USAGE, Global, TargetArgs, ToolsArgs,
};
use crate::domain::{Actor, ConnectionKey, Failure, Reason, auth_command};
use crate::engine::adhoc::{AdHocEngine, adhoc_key};
use crate::engine::{EngineHandle, Event, Need, Opener, Running, ToolCall};
use crate::text::printable;
use crate::toolkit::Catalogue;
use crate::toolkit::render::{render_catalogue, render_result};
use crate::toolkit::{CallError, CallOutcome};

/// The engine a command talks to, and the connection on it.
struct Resolved {
    handle: EngineHandle,
    key: ConnectionKey,
    kind: Kind,
}

enum Kind {
    Configured(Running),
    AdHoc(AdHocEngine),
}

impl Resolved {
    /// Where an unknown tool was looked for, in messages.
    fn place(&self) -> String {
        match self.kind {
            Kind::Configured(_) => self.key.to_string(),
            Kind::AdHoc(_) => "the server".to_string(),
        }
    }

    /// A failure as the command reports it. On a configured connection, one a human must fix
    /// names the command that does; an ad hoc engine has already said what to bring.
    fn failed(&self, f: &Failure) -> Exit {
        match self.kind {
            Kind::AdHoc(_) => {
                let code = if f.class == crate::domain::ErrorClass::Auth {
                    EXIT_HUMAN
                } else {
                    EXIT_FAILED
                };
                Exit::new(code, f.to_string())
            }
            Kind::Configured(_) => {
                let key = &self.key;
                let code = exit_for(&self.handle, key, f);
                let auth = auth_command(key);
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
        }
    }

    async fn shutdown(self) {
        match self.kind {
            Kind::Configured(running) => running.shutdown().await,
            Kind::AdHoc(engine) => engine.shutdown().await,
        }
    }
}

async fn resolve(
    global: &Global,
    t: &TargetArgs,
    connector: Option<&str>,
) -> Result<Resolved, Exit> {
    if let Some(spec) = adhoc_target(t)? {
        let engine = AdHocEngine::start(spec).map_err(usage)?;
        return Ok(Resolved {
            handle: engine.handle.clone(),
            key: adhoc_key(),
            kind: Kind::AdHoc(engine),
        });
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
    let elicit = elicit_prompt::elicitor(elicit_policy(t));
    let (running, _workspace) = oneshot_engine(global, elicit).await?;
    let handle = running.handle.clone();
    let key = match known_key(&handle, connector, &t.account) {
        Ok(key) => key,
        Err(e) => {
            running.shutdown().await;
            return Err(e);
        }
    };
    // No request can succeed without a grant: say what fixes it instead of trying.
    if let Err(why) = handle.ready(key.clone(), Need::Tools).await {
        running.shutdown().await;
        let code = if why.needs_human() {
            EXIT_HUMAN
        } else {
            EXIT_USAGE
        };
        return Err(Exit::new(code, why.message(&key)));
    }
    Ok(Resolved {
        handle,
        key,
        kind: Kind::Configured(running),
    })
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
    let target = resolve(global, &args.target, args.connector.as_deref()).await?;
    if matches!(target.kind, Kind::AdHoc(_)) && args.connector.is_some() {
        target.shutdown().await;
        return Err(usage("give a connector or --url/--stdio, not both"));
    }
    // An explicit listing always asks the server, and so refreshes the cache.
    let listed = target.handle.list_catalogue(target.key.clone(), true).await;
    let listed = listed.map_err(|f| target.failed(&f));
    target.shutdown().await;
    print_catalogue(&*listed?, args.target.json)?;
    Ok(EXIT_OK)
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
    let target = resolve(global, &args.target, connector.as_deref()).await?;
    let call = ToolCall {
        key: target.key.clone(),
        tool: tool.clone(),
        arguments,
        timeout: args.timeout,
        actor: Actor::Cli,
    };
    let mut result = call_once(&target, &call, &cancel, &mut printer).await;
    // Step-up: the server wants more scope than the grant holds. Where a human can log in
    // right now, do it (the recorded scopes make `auth` ask for the union) and try the call
    // once more; elsewhere the exit names the `auth` to run.
    if matches!(target.kind, Kind::Configured(_)) && needs_step_up(&result) && can_log_in() {
        eprintln!(
            "{}: the server needs more scope; authorizing again (step-up)",
            target.key
        );
        let authorized =
            super::authorize::authorize_on(&target.handle, &target.key, Opener::System, false)
                .await;
        result = match authorized {
            Ok(_) => call_once(&target, &call, &cancel, &mut printer).await,
            Err(e) => Err(e),
        };
    }
    target.shutdown().await;
    let result = result?;
    printer.finish();
    finish(&tool, result, args.target.json)
}

/// One call: the tool looked up (a cached list may predate a new tool, so look once more
/// before calling it unknown), the arguments checked here for the operator's benefit, then
/// `Command::CallTool`, showing its progress events while it runs.
async fn call_once(
    target: &Resolved,
    call: &ToolCall,
    cancel: &CancellationToken,
    printer: &mut ProgressPrinter,
) -> Result<Result<CallOutcome, (i32, CallError)>, Exit> {
    let (handle, key) = (&target.handle, &target.key);
    let failed = |f: Failure| target.failed(&f);
    let mut catalogue = handle
        .list_catalogue(key.clone(), false)
        .await
        .map_err(failed)?;
    if catalogue.tool(&call.tool).is_none() {
        catalogue = handle
            .list_catalogue(key.clone(), true)
            .await
            .map_err(failed)?;
    }
    validate(&catalogue, &call.tool, &call.arguments, &target.place())?;
    let mut events = handle.subscribe();
    let calling = handle.call_tool(call.clone(), cancel.clone());
    tokio::pin!(calling);
    let outcome = loop {
        tokio::select! {
            outcome = &mut calling => break outcome,
            event = events.recv() => match event {
                Ok(e) => show_progress(printer, call, &e),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => {}
            },
        }
    };
    while let Ok(e) = events.try_recv() {
        show_progress(printer, call, &e);
    }
    match outcome {
        Err(CallError::Failed(f))
            if matches!(target.kind, Kind::Configured(_))
                && exit_for(handle, key, &f) == EXIT_HUMAN =>
        {
            Err(target.failed(&f))
        }
        other => Ok(other.map_err(|e| (EXIT_FAILED, e))),
    }
}

fn show_progress(printer: &mut ProgressPrinter, call: &ToolCall, event: &Event) {
    if let Event::ToolProgress {
        key,
        tool,
        progress,
        total,
        message,
    } = event
        && key == &call.key
        && tool == &call.tool
    {
        printer.show(tool, *progress, *total, message.as_deref());
    }
}

fn needs_step_up(result: &Result<Result<CallOutcome, (i32, CallError)>, Exit>) -> bool {
    matches!(result, Err(e) if e.code == EXIT_HUMAN
        && matches!(e.reason, Some(Reason::InsufficientScope { .. })))
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
