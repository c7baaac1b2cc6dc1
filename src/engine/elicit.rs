//! Elicitation through the one door: a server's request for input (from a session whose
//! elicitor the engine connected) goes out to every front-end as
//! `Event::ElicitationRequested`, and the first `Command::AnswerElicitation` for its id answers
//! it. Nobody listening, or nobody answering within the elicitor's wait, declines, so a call never hangs on a
//! question no one will see.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::api::{Event, Level};
use super::core::Engine;
use crate::mcp::elicit::{FrontEndAsk, FrontEndAsks};
use crate::text::printable;
use crate::toolkit::elicit::form::Form;
use crate::toolkit::elicit::prompt::Answer;

/// What a server asks, as front-ends show it. Its text is the server's: make it printable
/// before drawing it.
#[derive(Debug, Clone)]
pub struct ElicitationRequest {
    pub server: String,
    pub message: String,
    pub form: Form,
}

/// The requests waiting for an answer, by id.
#[derive(Default)]
pub(super) struct Elicitations {
    next: AtomicU64,
    open: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
}

impl Elicitations {
    fn take(&self, id: u64) -> Option<oneshot::Sender<Answer>> {
        self.open.lock().ok()?.remove(&id)
    }
}

/// Turns each session's request into an event until `cancel`.
pub(super) async fn relay(engine: Arc<Engine>, mut asks: FrontEndAsks, cancel: CancellationToken) {
    loop {
        let ask = tokio::select! {
            _ = cancel.cancelled() => break,
            ask = asks.recv() => match ask { Some(ask) => ask, None => break },
        };
        let engine = engine.clone();
        tokio::spawn(async move { engine.ask_front_ends(ask).await });
    }
}

impl Engine {
    async fn ask_front_ends(&self, ask: FrontEndAsk) {
        let FrontEndAsk {
            key,
            server,
            message,
            form,
            wait,
            mut reply,
        } = ask;
        let elicitations = &self.elicitations;
        let id = elicitations.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        if let Ok(mut open) = elicitations.open.lock() {
            open.insert(id, tx);
        }
        let shown = printable(&server, false);
        let request = ElicitationRequest {
            server,
            message,
            form,
        };
        let heard = self
            .events_tx
            .send(Event::ElicitationRequested {
                id,
                key: key.clone(),
                request,
            })
            .is_ok();
        let answer = if !heard {
            tracing::info!("elicitation from {shown}: declined: no front-end is listening");
            Some(Answer::Decline)
        } else {
            tokio::select! {
                answer = rx => Some(answer.unwrap_or(Answer::Decline)),
                _ = tokio::time::sleep(wait) => {
                    self.notice(
                        Level::Warn,
                        format!(
                            "{shown} asked for input and nobody answered within {}; declined",
                            humantime::format_duration(wait)
                        ),
                    );
                    Some(Answer::Decline)
                }
                // The call ended (cancelled, timed out, the server gave up): nothing to answer.
                _ = reply.closed() => None,
            }
        };
        elicitations.take(id);
        self.emit(Event::ElicitationClosed { id });
        if let Some(answer) = answer {
            let _ = reply.send(answer);
        }
    }

    /// A front-end's answer. False when the request is no longer open (answered by another
    /// front-end, timed out, or its call ended).
    pub(super) fn answer_elicitation(&self, id: u64, answer: Answer) -> bool {
        match self.elicitations.take(id) {
            Some(tx) => tx.send(answer).is_ok(),
            None => {
                tracing::debug!("an answer to elicitation {id}, which is no longer open");
                false
            }
        }
    }
}
