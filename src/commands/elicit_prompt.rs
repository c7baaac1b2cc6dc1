//! The terminal a one-shot command's operator answers elicitations at: prompts on stderr,
//! answers from stdin, Ctrl-C cancels. Sessions only see it as an `mcp::elicit::Operator`;
//! the form and its checks are `toolkit::elicit`.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::engine::{ElicitPolicy, Elicitor, Operator, OperatorAsk};
use crate::toolkit::elicit::prompt::{Answer, ask_form, ask_url};

/// The elicitor of a one-shot command whose operator reads stderr.
pub fn elicitor(policy: ElicitPolicy) -> Elicitor {
    Elicitor::for_command(policy, Arc::new(Terminal))
}

/// stderr and stdin of this process.
pub struct Terminal;

impl Operator for Terminal {
    fn notice(&self, line: &str) {
        eprintln!("{line}");
    }

    fn ask(&self, ask: OperatorAsk) -> BoxFuture<'static, Answer> {
        Box::pin(async move {
            let answer = on_terminal(move |input, out| match ask {
                OperatorAsk::Form {
                    server,
                    message,
                    form,
                } => ask_form(&server, &message, &form, input, out),
                OperatorAsk::Url {
                    server,
                    message,
                    url,
                } => ask_url(&server, &message, &url, input, out),
            })
            .await;
            if !matches!(answer, Answer::Accept(_)) {
                eprintln!(
                    "{} the request for input; the server was told",
                    answer.verb()
                );
            }
            answer
        })
    }
}

/// Runs a prompt on its own thread (stdin blocks) while the session keeps serving; Ctrl-C
/// cancels it. A plain thread rather than `spawn_blocking`: a read that Ctrl-C abandoned
/// must not hold up the runtime's shutdown.
async fn on_terminal<F>(prompt: F) -> Answer
where
    F: FnOnce(&mut std::io::StdinLock<'static>, &mut std::io::Stderr) -> std::io::Result<Answer>
        + Send
        + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("elicitation-prompt".into())
        .spawn(move || {
            let mut input = std::io::stdin().lock();
            let mut out = std::io::stderr();
            if out.is_terminal() {
                // A progress line may be drawn in place on this row.
                let _ = write!(out, "\r\x1b[K");
            }
            let _ = tx.send(prompt(&mut input, &mut out));
        });
    if let Err(e) = spawned {
        eprintln!("elicitation: cannot start the prompt ({e}); declining");
        return Answer::Decline;
    }
    tokio::select! {
        answer = rx => match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                eprintln!("\nelicitation: the terminal failed ({e}); cancelling");
                Answer::Cancel
            }
            Err(_) => Answer::Cancel,
        },
        _ = tokio::signal::ctrl_c() => {
            eprintln!();
            Answer::Cancel
        }
    }
}
