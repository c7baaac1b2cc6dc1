//! Answering a server's `elicitation/create`, its request for input in the middle of a call.
//! Who answers depends on who is there: a one-shot command with an operator at the terminal
//! asks them; `--elicit defaults` (scripts, the conformance harness) accepts the schema's
//! defaults; an engine with front-ends (the console) hands form requests to the engine, which
//! asks them through an `Event` and takes the answer as a `Command`; everything else declines
//! (the daemon: nobody sits at a prompt there). Only a policy that can answer advertises the
//! capability, so a conforming server does not ask the others.
//!
//! This module decides; it does no terminal I/O. The operator of a one-shot command is an
//! [`Operator`] the front-end supplies (the CLI's is `commands::elicit_prompt`).

mod front_ends;
#[cfg(test)]
mod tests_policy;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use rmcp::model::{
    ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationCapability, ElicitationSchema,
    FormElicitationCapability, UrlElicitationCapability,
};
use serde_json::Value;

use crate::text::printable;
use crate::toolkit::elicit::form::{Form, Unfilled, fill_defaults};
use crate::toolkit::elicit::prompt::Answer;
use front_ends::Route;
pub use front_ends::{FRONT_END_WAIT, FrontEndAsk, FrontEndAsks};

/// What a session asks the operator, as the front-end that asks them receives it.
#[derive(Debug)]
pub enum OperatorAsk {
    Form {
        server: String,
        message: String,
        form: Form,
    },
    Url {
        server: String,
        message: String,
        url: String,
    },
}

/// The person running a one-shot command, as sessions see them: told why a request was
/// declined, and asked (under `ElicitPolicy::Ask`) for answers. The front-end implements it,
/// so sessions never touch a terminal; `ask` runs while the session keeps serving.
pub trait Operator: Send + Sync {
    /// One line for the operator (already made printable).
    fn notice(&self, line: &str);
    /// Asks the operator and waits for their answer.
    fn ask(&self, ask: OperatorAsk) -> BoxFuture<'static, Answer>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElicitPolicy {
    /// Prompt on the terminal (stderr for prompts, stdin for answers).
    Ask,
    /// Accept with every field's schema default (SEP-1034).
    Defaults,
    /// Hand form requests to the engine's front-ends (URL requests are declined: a console
    /// cannot be trusted to show a link the operator should open elsewhere any better than a
    /// log line).
    FrontEnd,
    Decline,
}

/// How long prompts have been open, so a call's deadline can leave out the time a person
/// spent typing: `--timeout` bounds the server, not the operator.
#[derive(Clone, Default)]
pub struct PromptClock(Arc<Mutex<ClockState>>);

#[derive(Default)]
struct ClockState {
    open: usize,
    since: Option<Instant>,
    spent: Duration,
}

pub struct ClockGuard(PromptClock);

impl PromptClock {
    fn state(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn start(&self) -> ClockGuard {
        let mut s = self.state();
        if s.open == 0 {
            s.since = Some(Instant::now());
        }
        s.open += 1;
        ClockGuard(self.clone())
    }

    /// Time spent with a prompt open, including one open now.
    pub fn spent(&self) -> Duration {
        let s = self.state();
        s.spent + s.since.map(|t| t.elapsed()).unwrap_or_default()
    }

    pub fn is_open(&self) -> bool {
        self.state().open > 0
    }
}

impl Drop for ClockGuard {
    fn drop(&mut self) {
        let mut s = self.0.state();
        s.open = s.open.saturating_sub(1);
        if s.open == 0
            && let Some(since) = s.since.take()
        {
            s.spent += since.elapsed();
        }
    }
}

/// A session's answer to elicitation. Cheap to clone; clones share the prompt clock.
#[derive(Clone)]
pub struct Elicitor {
    policy: ElicitPolicy,
    /// The operator running one command, who should hear why a request was declined. Engine
    /// sessions have none (the console may be drawing on the terminal): they log.
    operator: Option<Arc<dyn Operator>>,
    clock: PromptClock,
    /// One prompt at a time: two requests at once would interleave on the terminal.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Where `FrontEnd` sends its requests, and with what. Behind an `Arc`: elicitors are
    /// cloned into every session and one-shot command, and this is rarely set.
    route: Arc<Route>,
}

impl std::fmt::Debug for Elicitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Elicitor({:?})", self.policy)
    }
}

impl Default for Elicitor {
    /// The engine's: declines, quietly.
    fn default() -> Self {
        Self::with(ElicitPolicy::Decline, None)
    }
}

fn result(action: ElicitationAction) -> ElicitResult {
    ElicitResult::new(action)
}

impl Elicitor {
    fn with(policy: ElicitPolicy, operator: Option<Arc<dyn Operator>>) -> Self {
        Self {
            policy,
            operator,
            clock: PromptClock::default(),
            turn: Arc::default(),
            route: Arc::default(),
        }
    }

    /// For a one-shot command, whose `operator` hears notices and answers `Ask` prompts.
    pub fn for_command(policy: ElicitPolicy, operator: Arc<dyn Operator>) -> Self {
        Self::with(policy, Some(operator))
    }

    pub fn policy(&self) -> ElicitPolicy {
        self.policy
    }

    pub fn clock(&self) -> &PromptClock {
        &self.clock
    }

    /// What `initialize` advertises. URL mode only when someone can be shown the URL.
    pub fn capability(&self) -> Option<ElicitationCapability> {
        let form = ElicitationCapability::new().with_form(FormElicitationCapability::new());
        match self.policy {
            ElicitPolicy::Decline => None,
            ElicitPolicy::Defaults | ElicitPolicy::FrontEnd => Some(form),
            ElicitPolicy::Ask => Some(form.with_url(UrlElicitationCapability::new())),
        }
    }

    fn notice(&self, server: &str, what: &str) {
        if let Some(operator) = &self.operator {
            operator.notice(&format!(
                "elicitation from {}: {what}",
                printable(server, false)
            ));
        } else {
            tracing::info!(server, "elicitation: {what}");
        }
    }

    pub async fn answer(&self, server: &str, params: ElicitRequestParams) -> ElicitResult {
        match params {
            ElicitRequestParams::FormElicitationParams {
                message,
                requested_schema,
                ..
            } => self.answer_form(server, message, &requested_schema).await,
            ElicitRequestParams::UrlElicitationParams { message, url, .. } => {
                self.answer_url(server, message, url).await
            }
            _ => {
                self.notice(
                    server,
                    "declined: a kind of request this client does not know",
                );
                result(ElicitationAction::Decline)
            }
        }
    }

    async fn answer_form(
        &self,
        server: &str,
        message: String,
        schema: &ElicitationSchema,
    ) -> ElicitResult {
        let quoted = format!("\"{}\"", printable(&message, false));
        if self.policy == ElicitPolicy::Decline {
            self.notice(
                server,
                &format!("{quoted}: declined{}", self.decline_hint()),
            );
            return result(ElicitationAction::Decline);
        }
        let form = match Form::from_schema(schema) {
            Ok(form) => form,
            Err(why) => {
                self.notice(server, &format!("{quoted}: declined: {why}"));
                return result(ElicitationAction::Decline);
            }
        };
        match self.policy {
            ElicitPolicy::Defaults => match fill_defaults(&form) {
                Ok(content) => {
                    let names: Vec<&str> = form
                        .fields
                        .iter()
                        .map(|f| f.name.as_str())
                        .filter(|n| content.contains_key(*n))
                        .collect();
                    self.notice(
                        server,
                        &format!(
                            "{quoted}: accepted with the schema's defaults ({})",
                            if names.is_empty() {
                                "none".to_string()
                            } else {
                                names.join(", ")
                            }
                        ),
                    );
                    result(ElicitationAction::Accept).with_content(Value::Object(content))
                }
                Err(Unfilled { field, why }) => {
                    self.notice(
                        server,
                        &format!(
                            "{quoted}: declined: the required field `{field}` cannot be filled from defaults ({why}); run with --elicit ask in a terminal to answer it"
                        ),
                    );
                    result(ElicitationAction::Decline)
                }
            },
            ElicitPolicy::FrontEnd => {
                let answer = self.on_front_end(server, message, form).await;
                self.notice(server, &format!("{quoted}: {}", answer.verb()));
                answer.into_result()
            }
            _ => {
                let ask = OperatorAsk::Form {
                    server: server.to_string(),
                    message,
                    form,
                };
                self.on_operator(ask).await.into_result()
            }
        }
    }

    async fn answer_url(&self, server: &str, message: String, url: String) -> ElicitResult {
        if self.policy != ElicitPolicy::Ask {
            // Never opened for the operator: the URL is shown so they can decide to rerun.
            self.notice(
                server,
                &format!(
                    "\"{}\" asks to open {}: declined{}",
                    printable(&message, false),
                    printable(&url, false),
                    self.decline_hint()
                ),
            );
            return result(ElicitationAction::Decline);
        }
        let ask = OperatorAsk::Url {
            server: server.to_string(),
            message,
            url,
        };
        self.on_operator(ask).await.into_result()
    }

    fn decline_hint(&self) -> &'static str {
        match self.policy {
            ElicitPolicy::Decline if self.operator.is_some() => {
                " (--elicit decline, the default without a terminal; --elicit ask answers at a terminal, --elicit defaults takes the schema's defaults)"
            }
            ElicitPolicy::Defaults => " (--elicit defaults never opens URLs; --elicit ask asks)",
            _ => "",
        }
    }

    /// Asks the operator, one request at a time (two at once would interleave on a
    /// terminal); the call's deadline stops while they answer.
    async fn on_operator(&self, ask: OperatorAsk) -> Answer {
        let Some(operator) = &self.operator else {
            return Answer::Decline;
        };
        let _turn = self.turn.lock().await;
        let _clock = self.clock.start();
        operator.ask(ask).await
    }
}

impl Answer {
    fn into_result(self) -> ElicitResult {
        match self {
            Answer::Accept(content) if content.is_empty() => result(ElicitationAction::Accept),
            Answer::Accept(content) => {
                result(ElicitationAction::Accept).with_content(Value::Object(content))
            }
            Answer::Decline => result(ElicitationAction::Decline),
            Answer::Cancel => result(ElicitationAction::Cancel),
        }
    }
}
