//! `switchboard token` and `switchboard exec`: a connection's access token for the operator's
//! own scripts, through the engine's broker (refreshed first when it is about to expire).
//! `token` prints it, but not onto a terminal unless asked; `exec` hands it to a command in an
//! environment variable, never on a command line where `ps` would show it.

use std::io::IsTerminal;
use std::process::ExitStatus;

use super::oneshot::{engine_for, exit_for, known_key};
use super::{Exit, Outcome};
use crate::cli::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, ExecArgs, Global};
use crate::domain::Actor;
use crate::secret::Secret;

/// The variable `exec` sets unless `--env` names another.
pub const DEFAULT_TOKEN_ENV: &str = "SWITCHBOARD_TOKEN";

async fn token_for(global: &Global, connector: &str, account: &str) -> Result<Secret, Exit> {
    let running = engine_for(global).await?;
    let handle = &running.handle;
    let key = match known_key(handle, connector, account) {
        Ok(k) => k,
        Err(e) => {
            running.shutdown().await;
            return Err(e);
        }
    };
    let result = handle.access_token(key.clone(), Actor::Cli).await;
    let code = result.as_ref().err().map(|f| exit_for(handle, &key, f));
    running.shutdown().await;
    result.map_err(|f| Exit::new(code.unwrap_or(EXIT_FAILED), format!("{key}: {f}")))
}

pub async fn token(global: &Global, connector: &str, account: &str, reveal: bool) -> Outcome {
    // Checked first: a refusal should not cost a refresh.
    if std::io::stdout().is_terminal() && !reveal {
        return Err(Exit::new(
            EXIT_USAGE,
            "refusing to print an access token to the terminal (it would stay in the scrollback); \
             capture it instead, e.g. curl -H \"Authorization: Bearer $(switchboard token CONNECTOR)\", \
             use `switchboard exec CONNECTOR -- COMMAND`, or pass --reveal",
        ));
    }
    let token = token_for(global, connector, account).await?;
    println!("{}", token.expose());
    Ok(EXIT_OK)
}

/// A name a shell would accept for a variable.
fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub async fn exec(global: &Global, args: ExecArgs) -> Outcome {
    if !valid_env_name(&args.env) {
        return Err(Exit::new(
            EXIT_USAGE,
            format!(
                "--env {:?} is not a variable name: use letters, digits and _ (not first a digit)",
                crate::text::printable(&args.env, false)
            ),
        ));
    }
    let Some((program, rest)) = args.command.split_first() else {
        return Err(Exit::new(
            EXIT_USAGE,
            "no command to run: switchboard exec CONNECTOR -- COMMAND [ARGS...]",
        ));
    };
    let token = token_for(global, &args.connector, &args.account).await?;
    let mut child = tokio::process::Command::new(program);
    child.args(rest).env(&args.env, token.expose());
    let mut child = child.spawn().map_err(|e| {
        // The shell's codes: 127 not found, 126 found but not runnable.
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            127
        } else {
            126
        };
        Exit::new(
            code,
            format!("cannot run {}: {e}", crate::text::printable(program, false)),
        )
    })?;
    drop(token);
    let status = wait_passing_signals(&mut child).await?;
    Ok(exit_code(status))
}

/// Waits for the child. Ctrl-C reaches it through the terminal's process group, so this
/// process outlives it rather than dying first; SIGTERM (a service manager) is passed on.
async fn wait_passing_signals(child: &mut tokio::process::Child) -> Result<ExitStatus, Exit> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    loop {
        let term_fut = async {
            match term.as_mut() {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        let int_fut = async {
            match int.as_mut() {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            status = child.wait() => {
                return status.map_err(|e| Exit::new(EXIT_FAILED, format!("waiting for the command: {e}")));
            }
            _ = term_fut => {
                if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                    // SAFETY: kill(2) on our own child's pid; no memory is involved.
                    unsafe { libc::kill(pid, libc::SIGTERM) };
                }
            }
            _ = int_fut => {}
        }
    }
}

/// The child's exit code, or 128 + the signal that ended it, as a shell reports it.
fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(EXIT_FAILED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_what_a_shell_accepts() {
        for ok in ["SWITCHBOARD_TOKEN", "_x", "A1"] {
            assert!(valid_env_name(ok), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A B", "A=B", "Ä"] {
            assert!(!valid_env_name(bad), "{bad}");
        }
    }
}
