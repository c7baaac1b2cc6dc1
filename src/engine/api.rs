//! The one API every front-end uses: `Command`s in, `Event`s out, and a read-only snapshot.

use std::sync::Arc;

use std::time::Duration;

use rmcp::model::{GetPromptResult, JsonObject, ReadResourceResult};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::authorize::{ReauthMethod, ReauthOutcome, ReauthProgress, RevokeOutcome};
use super::elicit::ElicitationRequest;
use super::ready::{Need, NotReady};
use crate::domain::events::{EventEntry, EventQuery};
use crate::domain::{Actor, ConnectionKey, Failure, ProbeResult, Snapshot, TokenMeta};
use crate::secret::Secret;
use crate::toolkit::Catalogue;
use crate::toolkit::elicit::prompt::Answer;
use crate::toolkit::transcript::Entry;
use crate::toolkit::{CallError, CallOutcome};

/// What a front-end can ask of the engine. Every command is answered through `reply` when one is
/// given, and also shows up as `Event`s for everyone watching.
#[derive(Debug)]
pub enum Command {
    /// Refresh the connection's token now, even if it is still valid.
    Refresh {
        key: ConnectionKey,
        actor: Actor,
        reply: Option<oneshot::Sender<Result<TokenMeta, Failure>>>,
    },
    /// Probe the connection now.
    Probe {
        key: ConnectionKey,
        actor: Actor,
        /// The probe's result, or why the connection could not be probed.
        reply: Option<oneshot::Sender<Result<ProbeResult, Failure>>>,
    },
    /// List the connection's tools, resources and prompts (from the cache unless `refresh`);
    /// answered by `Event::ToolsListed`.
    ListTools { key: ConnectionKey, refresh: bool },
    /// Call a tool. The arguments are checked against its schema first; progress arrives as
    /// `Event::ToolProgress`, the outcome as `Event::ToolResult`. Cancelling `cancel` stops the
    /// call and tells the server.
    CallTool {
        key: ConnectionKey,
        tool: String,
        arguments: Option<JsonObject>,
        timeout: Duration,
        actor: Actor,
        cancel: CancellationToken,
        /// The outcome, also sent as `Event::ToolResult`.
        reply: Option<oneshot::Sender<Result<CallOutcome, CallError>>>,
    },
    // What one-shot commands (and later front-ends) need beyond the console's commands; the
    // handlers live in `engine/requests.rs` and the files it names.
    /// Authorize the connection anew (a browser login or a device code). Progress arrives as
    /// `Event::Reauth`; cancelling `cancel` gives up.
    Reauth {
        key: ConnectionKey,
        method: ReauthMethod,
        actor: Actor,
        cancel: CancellationToken,
        reply: Option<oneshot::Sender<Result<ReauthOutcome, Failure>>>,
    },
    /// Revoke the grant at the authorization server and forget it.
    Revoke {
        key: ConnectionKey,
        actor: Actor,
        reply: Option<oneshot::Sender<Result<RevokeOutcome, Failure>>>,
    },
    /// The connection's tools, resources and prompts (from the cache unless `refresh`); also
    /// sent as `Event::ToolsListed`.
    ListCatalogue {
        key: ConnectionKey,
        refresh: bool,
        reply: oneshot::Sender<Result<Arc<Catalogue>, Failure>>,
    },
    /// `resources/read`; the result is also sent as `Event::ResourceRead`.
    ReadResource {
        key: ConnectionKey,
        uri: String,
        reply: Option<oneshot::Sender<Result<ReadResourceResult, Failure>>>,
    },
    /// `prompts/get`; the result is also sent as `Event::PromptGot`.
    GetPrompt {
        key: ConnectionKey,
        name: String,
        arguments: Option<JsonObject>,
        reply: Option<oneshot::Sender<Result<GetPromptResult, Failure>>>,
    },
    /// The connection's MCP protocol transcript so far, as `Event::Transcript`; with `follow`
    /// every later message also comes as `Event::Protocol` until a `follow: false`.
    Transcript { key: ConnectionKey, follow: bool },
    /// `logging/setLevel` on the connection's server (`debug` … `emergency`); the outcome
    /// comes as an `Event::Notice`.
    SetLogLevel { key: ConnectionKey, level: String },
    /// Whether the connection can be used now, and if not, why (see `engine::ready`).
    Ready {
        key: ConnectionKey,
        need: Need,
        reply: oneshot::Sender<Result<(), NotReady>>,
    },
    /// A valid access token for the operator's own scripts (`switchboard token`, `exec`), from
    /// the broker: refreshed first when it is about to expire. Logged as a `token` event.
    AccessToken {
        key: ConnectionKey,
        actor: Actor,
        reply: oneshot::Sender<Result<Secret, Failure>>,
    },
    /// Answer a server's request for input (`Event::ElicitationRequested`). The first answer
    /// to an id counts; later ones are ignored.
    AnswerElicitation { id: u64, answer: Answer },
    /// The alert front-end's outbox, incidents and delivery outcomes (`engine::alerts`).
    Alerts {
        op: super::alerts::AlertOp,
        reply: oneshot::Sender<Result<super::alerts::AlertAnswer, Failure>>,
    },
    /// Pause (no probes, no refreshes, calls refused) or resume a connection; kept in the
    /// store, so every process and a restart see it.
    SetPaused {
        key: ConnectionKey,
        paused: bool,
        actor: Actor,
        reply: Option<oneshot::Sender<Result<(), Failure>>>,
    },
    /// Read the event log (the store's, so every process reads the same).
    ReadEvents {
        query: EventQuery,
        reply: oneshot::Sender<Result<Vec<EventEntry>, Failure>>,
    },
    /// Delete the event log's rows written before `before` (retention; logged itself).
    PruneEvents {
        before: crate::domain::UnixMs,
        actor: Actor,
        reply: oneshot::Sender<Result<u64, Failure>>,
    },
    /// Stop the scheduler and every task; the engine's `run` returns.
    Shutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// What happened. Front-ends show these as flash messages; the snapshot carries the state.
#[derive(Debug, Clone)]
pub enum Event {
    RefreshStarted {
        key: ConnectionKey,
    },
    Refreshed {
        key: ConnectionKey,
        result: Result<TokenMeta, Failure>,
    },
    ProbeStarted {
        key: ConnectionKey,
    },
    Probed {
        key: ConnectionKey,
        result: ProbeResult,
    },
    /// The grant is gone; a human must run `switchboard auth`.
    NeedsReauth {
        key: ConnectionKey,
    },
    Notice {
        level: Level,
        text: String,
    },
    ToolsListed {
        key: ConnectionKey,
        result: Result<Arc<Catalogue>, Failure>,
    },
    ToolProgress {
        key: ConnectionKey,
        tool: String,
        progress: f64,
        total: Option<f64>,
        message: Option<String>,
    },
    ToolResult {
        key: ConnectionKey,
        tool: String,
        result: Result<CallOutcome, CallError>,
    },
    /// A step of a `Command::Reauth`.
    Reauth {
        key: ConnectionKey,
        progress: ReauthProgress,
    },
    /// A server asks for input in the middle of a call (MCP elicitation). Any front-end may
    /// answer with `Command::AnswerElicitation { id, .. }`; one that will not should decline
    /// rather than leave it open until the wait runs out (`mcp::elicit::FRONT_END_WAIT`).
    ElicitationRequested {
        id: u64,
        /// The connection whose call asks.
        key: Option<ConnectionKey>,
        request: ElicitationRequest,
    },
    /// The request is answered (by some front-end), timed out, or its call ended: a
    /// front-end showing it stops.
    ElicitationClosed {
        id: u64,
    },
    ResourceRead {
        key: ConnectionKey,
        uri: String,
        result: Result<Arc<ReadResourceResult>, Failure>,
    },
    PromptGot {
        key: ConnectionKey,
        name: String,
        result: Result<Arc<GetPromptResult>, Failure>,
    },
    /// Answers `Command::Transcript`: the messages kept so far, oldest first.
    Transcript {
        key: ConnectionKey,
        entries: Arc<Vec<Entry>>,
    },
    /// One more message of a followed connection's MCP session.
    Protocol {
        key: ConnectionKey,
        entry: Entry,
    },
}

/// A cheap, cloneable handle on a running engine.
#[derive(Clone)]
pub struct EngineHandle {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) snapshot: watch::Receiver<Arc<Snapshot>>,
    pub(crate) events: broadcast::Sender<Event>,
}

impl EngineHandle {
    /// Build a handle over raw channels. The engine uses this; so do front-end tests that play the
    /// engine's part.
    pub fn from_parts(
        commands: mpsc::Sender<Command>,
        snapshot: watch::Receiver<Arc<Snapshot>>,
        events: broadcast::Sender<Event>,
    ) -> Self {
        Self {
            commands,
            snapshot,
            events,
        }
    }

    /// Whether the engine has stopped taking commands.
    pub fn is_stopped(&self) -> bool {
        self.commands.is_closed()
    }

    /// Queue a command without waiting. Returns false when the engine has stopped.
    pub fn send(&self, command: Command) -> bool {
        self.commands.try_send(command).is_ok()
    }

    pub async fn send_wait(&self, command: Command) -> bool {
        self.commands.send(command).await.is_ok()
    }

    /// False once the engine's command loop has stopped (shut down, or crashed): what a
    /// readiness check asks.
    pub fn is_running(&self) -> bool {
        !self.commands.is_closed()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// Changes whenever the fleet changes; `changed().await` to wait for the next one.
    pub fn watch(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshot.clone()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Refresh now and wait for the outcome.
    pub async fn refresh(&self, key: ConnectionKey, actor: Actor) -> Result<TokenMeta, Failure> {
        let (tx, rx) = oneshot::channel();
        let sent = self
            .send_wait(Command::Refresh {
                key,
                actor,
                reply: Some(tx),
            })
            .await;
        if !sent {
            return Err(stopped());
        }
        rx.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Probe now and wait for the outcome.
    pub async fn probe(&self, key: ConnectionKey, actor: Actor) -> Result<ProbeResult, Failure> {
        let (tx, rx) = oneshot::channel();
        let sent = self
            .send_wait(Command::Probe {
                key,
                actor,
                reply: Some(tx),
            })
            .await;
        if !sent {
            return Err(stopped());
        }
        rx.await.unwrap_or_else(|_| Err(stopped()))
    }
}

pub(super) fn stopped() -> Failure {
    Failure::new(
        crate::domain::ErrorClass::Config,
        "the engine stopped before answering",
    )
}
