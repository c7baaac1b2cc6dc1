//! Elicitation answered by whichever front-end is watching the engine (the console's tool panel
//! today; a webhook later): a session hands each form request to the engine over this channel,
//! and the engine publishes it as `Event::ElicitationRequested` and waits for a
//! `Command::AnswerElicitation`. The channel is the engine's; no front-end sees it.

use std::sync::Arc;
use std::time::Duration;

use super::{ElicitPolicy, Elicitor};
use crate::domain::ConnectionKey;
use crate::toolkit::elicit::form::Form;
use crate::toolkit::elicit::prompt::Answer;

/// How long a request waits for a front-end's answer before it is declined. Long enough for an
/// operator to read and fill a form; a request left open longer is one nobody is looking at.
pub const FRONT_END_WAIT: Duration = Duration::from_secs(10 * 60);

/// A form request on its way to the engine, and where its answer goes. Dropping `reply` (the
/// engine stopped, or nobody could be asked) declines.
#[derive(Debug)]
pub struct FrontEndAsk {
    /// The connection whose session asks; `None` for a session outside the engine's fleet.
    pub key: Option<ConnectionKey>,
    pub server: String,
    pub message: String,
    pub form: Form,
    /// How long the engine waits for a front-end before it declines.
    pub wait: Duration,
    pub reply: tokio::sync::oneshot::Sender<Answer>,
}

pub type FrontEndAsks = tokio::sync::mpsc::UnboundedReceiver<FrontEndAsk>;

#[derive(Clone)]
pub(super) struct Route {
    /// The engine's channel, once it has connected a `FrontEnd` policy.
    pub(super) front_ends: Option<tokio::sync::mpsc::UnboundedSender<FrontEndAsk>>,
    /// The connection whose session this elicitor answers for (the engine's sessions).
    pub(super) key: Option<ConnectionKey>,
    /// How long `FrontEnd` waits for an answer before declining.
    pub(super) wait: Duration,
}

impl Default for Route {
    fn default() -> Self {
        Route {
            front_ends: None,
            key: None,
            wait: FRONT_END_WAIT,
        }
    }
}

impl Elicitor {
    /// For an engine with front-ends that answer (the console's): `engine::start` connects it
    /// (`connect_front_ends`), and its front-ends answer through the engine.
    pub fn for_front_ends() -> Self {
        Self::with(ElicitPolicy::FrontEnd, None)
    }

    /// Waits `wait` for a front-end's answer instead of `FRONT_END_WAIT`.
    pub fn waiting(self, wait: Duration) -> Self {
        let route = Route {
            wait,
            ..(*self.route).clone()
        };
        Self {
            route: Arc::new(route),
            ..self
        }
    }

    /// For a `FrontEnd` policy, the channel its requests arrive on; the elicitor returned sends
    /// on it. Other policies answer by themselves: `None`.
    pub fn connect_front_ends(self) -> (Self, Option<FrontEndAsks>) {
        if self.policy != ElicitPolicy::FrontEnd {
            return (self, None);
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let route = Route {
            front_ends: Some(tx),
            ..(*self.route).clone()
        };
        let elicitor = Self {
            route: Arc::new(route),
            ..self
        };
        (elicitor, Some(rx))
    }

    /// This elicitor, answering for one connection's session: front-ends are told whose
    /// request it is.
    pub fn for_connection(&self, key: &ConnectionKey) -> Self {
        let route = Route {
            key: Some(key.clone()),
            ..(*self.route).clone()
        };
        Self {
            route: Arc::new(route),
            ..self.clone()
        }
    }

    /// Waits for a front-end's answer, through the engine; the call's deadline stops while the
    /// request is open.
    pub(super) async fn on_front_end(&self, server: &str, message: String, form: Form) -> Answer {
        let Some(front_ends) = &self.route.front_ends else {
            return Answer::Decline;
        };
        let _turn = self.turn.lock().await;
        let _clock = self.clock.start();
        let (reply, answer) = tokio::sync::oneshot::channel();
        let ask = FrontEndAsk {
            key: self.route.key.clone(),
            server: server.to_string(),
            message,
            form,
            wait: self.route.wait,
            reply,
        };
        if front_ends.send(ask).is_err() {
            return Answer::Decline;
        }
        answer.await.unwrap_or(Answer::Decline)
    }
}
