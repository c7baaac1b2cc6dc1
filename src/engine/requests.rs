//! The commands a one-shot front-end waits on (`Reauth`, `Revoke`, `ListCatalogue`,
//! `ReadResource`, `GetPrompt`, `Ready`, and `CallTool` with a reply): how the engine runs
//! them, and the `EngineHandle` methods that send one and wait for its reply.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{GetPromptResult, JsonObject, ReadResourceResult};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::api::{Command, EngineHandle, Event, Level, stopped};
use super::authorize::{ReauthMethod, ReauthOutcome, RevokeOutcome};
use super::core::Engine;
use super::ready::{Need, NotReady};
use crate::domain::events::{EventEntry, EventQuery};
use crate::domain::{Actor, ConnectionKey, Failure};
use crate::toolkit::Catalogue;
use crate::toolkit::{CallError, CallOutcome};

/// Runs one of this file's commands in its own task; the command loop stays free.
pub(super) fn handle(engine: Arc<Engine>, command: Command) {
    tokio::spawn(async move {
        match command {
            Command::Reauth {
                key,
                method,
                actor,
                cancel,
                reply,
            } => {
                let result = engine.reauth(&key, method, actor, &cancel).await;
                send(reply, result);
            }
            Command::Revoke { key, actor, reply } => {
                let result = engine.revoke(&key, actor).await;
                send(reply, result);
            }
            Command::ListCatalogue {
                key,
                refresh,
                reply,
            } => {
                let _ = reply.send(engine.list_tools(&key, refresh).await);
            }
            Command::ReadResource { key, uri, reply } => {
                send(reply, engine.read_resource(&key, &uri).await);
            }
            Command::GetPrompt {
                key,
                name,
                arguments,
                reply,
            } => {
                send(reply, engine.get_prompt(&key, &name, arguments).await);
            }
            Command::SetLogLevel { key, level } => engine.set_log_level_noticed(&key, &level).await,
            Command::Transcript { key, follow } => {
                let entries = engine.mcp.transcripts().follow(&key, follow);
                engine.emit(Event::Transcript {
                    key,
                    entries: Arc::new(entries),
                });
            }
            Command::PruneEvents {
                before,
                actor,
                reply,
            } => {
                let _ = reply.send(engine.prune_events(before, actor).await);
            }
            Command::AccessToken { key, actor, reply } => {
                let _ = reply.send(engine.access_token(&key, actor).await);
            }
            Command::SetPaused {
                key,
                paused,
                actor,
                reply,
            } => {
                let result = engine.set_paused(&key, paused, actor).await;
                send(reply, result);
            }
            Command::ReadEvents { query, reply } => {
                let result = engine.store.query_events(query).await.map_err(|e| {
                    Failure::new(
                        crate::domain::ErrorClass::Config,
                        format!("could not read the event log: {e}"),
                    )
                });
                let _ = reply.send(result);
            }
            Command::Ready { key, need, reply } => {
                let _ = reply.send(engine.readiness(&key, need));
            }
            Command::CallTool {
                key,
                tool,
                arguments,
                timeout,
                actor,
                cancel,
                reply,
            } => {
                let result = engine
                    .call_tool(&key, &tool, arguments, timeout, actor, &cancel)
                    .await;
                // A call can find the grant gone: the snapshot says so before the reply does.
                engine.with_row(&key, |_| ());
                engine.publish_now();
                send(reply, result);
            }
            other => tracing::warn!("engine: {other:?} reached the wrong handler"),
        }
    });
}

fn send<T>(reply: Option<oneshot::Sender<T>>, value: T) {
    if let Some(reply) = reply {
        let _ = reply.send(value);
    }
}

/// One tool call as a front-end asks for it.
#[derive(Debug, Clone)]
pub struct ToolCall {
    pub key: ConnectionKey,
    pub tool: String,
    pub arguments: Option<JsonObject>,
    pub timeout: Duration,
    pub actor: Actor,
}

impl EngineHandle {
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Failure> {
        let (tx, rx) = oneshot::channel();
        if !self.send_wait(command(tx)).await {
            return Err(stopped());
        }
        rx.await.map_err(|_| stopped())
    }

    /// Authorize anew and wait; progress arrives meanwhile as `Event::Reauth` (subscribe first).
    pub async fn reauth(
        &self,
        key: ConnectionKey,
        method: ReauthMethod,
        actor: Actor,
        cancel: CancellationToken,
    ) -> Result<ReauthOutcome, Failure> {
        self.ask(|reply| Command::Reauth {
            key,
            method,
            actor,
            cancel,
            reply: Some(reply),
        })
        .await?
    }

    pub async fn revoke(&self, key: ConnectionKey, actor: Actor) -> Result<RevokeOutcome, Failure> {
        self.ask(|reply| Command::Revoke {
            key,
            actor,
            reply: Some(reply),
        })
        .await?
    }

    pub async fn list_catalogue(
        &self,
        key: ConnectionKey,
        refresh: bool,
    ) -> Result<Arc<Catalogue>, Failure> {
        self.ask(|reply| Command::ListCatalogue {
            key,
            refresh,
            reply,
        })
        .await?
    }

    pub async fn read_resource(
        &self,
        key: ConnectionKey,
        uri: String,
    ) -> Result<ReadResourceResult, Failure> {
        self.ask(|reply| Command::ReadResource {
            key,
            uri,
            reply: Some(reply),
        })
        .await?
    }

    pub async fn get_prompt(
        &self,
        key: ConnectionKey,
        name: String,
        arguments: Option<JsonObject>,
    ) -> Result<GetPromptResult, Failure> {
        self.ask(|reply| Command::GetPrompt {
            key,
            name,
            arguments,
            reply: Some(reply),
        })
        .await?
    }

    /// Deletes the event log's rows written before `before`; how many went.
    pub async fn prune_events(
        &self,
        before: crate::domain::UnixMs,
        actor: Actor,
    ) -> Result<u64, Failure> {
        self.ask(|reply| Command::PruneEvents {
            before,
            actor,
            reply,
        })
        .await?
    }

    /// A valid access token through the broker (refreshed first if it is about to expire).
    pub async fn access_token(
        &self,
        key: ConnectionKey,
        actor: Actor,
    ) -> Result<crate::secret::Secret, Failure> {
        self.ask(|reply| Command::AccessToken { key, actor, reply })
            .await?
    }

    /// Pauses or resumes a connection and waits until the store holds it.
    pub async fn set_paused(
        &self,
        key: ConnectionKey,
        paused: bool,
        actor: Actor,
    ) -> Result<(), Failure> {
        self.ask(|reply| Command::SetPaused {
            key,
            paused,
            actor,
            reply: Some(reply),
        })
        .await?
    }

    /// The event log's rows that match `query`, oldest first.
    pub async fn read_events(&self, query: EventQuery) -> Result<Vec<EventEntry>, Failure> {
        self.ask(|reply| Command::ReadEvents { query, reply })
            .await?
    }

    /// Whether the connection can be used now; `Err` says why in the one wording.
    pub async fn ready(&self, key: ConnectionKey, need: Need) -> Result<(), NotReady> {
        match self.ask(|reply| Command::Ready { key, need, reply }).await {
            Ok(r) => r,
            Err(f) => Err(NotReady::Misconfigured(f.message)),
        }
    }

    /// Calls a tool and waits. The arguments are checked against the tool's schema inside the
    /// engine; progress arrives as `Event::ToolProgress`; cancelling `cancel` stops the call.
    pub async fn call_tool(
        &self,
        call: ToolCall,
        cancel: CancellationToken,
    ) -> Result<CallOutcome, CallError> {
        let asked = self
            .ask(|reply| Command::CallTool {
                key: call.key,
                tool: call.tool,
                arguments: call.arguments,
                timeout: call.timeout,
                actor: call.actor,
                cancel,
                reply: Some(reply),
            })
            .await;
        asked.unwrap_or_else(|f| Err(CallError::Failed(f)))
    }

    /// A notice for every watcher (and the log), from a front-end such as the demo's timer.
    pub fn notice(&self, level: Level, text: impl Into<String>) {
        let text = text.into();
        match level {
            Level::Info => tracing::info!("{text}"),
            _ => tracing::warn!("{text}"),
        }
        let _ = self.events.send(Event::Notice { level, text });
    }
}
