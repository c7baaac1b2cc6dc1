//! The pool's catalogue and tool-call operations for configured connections: sessions through
//! the token broker, the catalogue cache, and one event-log row per call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::{JsonObject, ProgressNotificationParam};
use tokio_util::sync::CancellationToken;

use super::call::call_tool;
use super::{McpPool, Target};
use crate::domain::{Actor, ConnectionKey, ErrorClass, Failure};
use crate::store::{EventRecord, Store};
use crate::toolkit::Catalogue;
use crate::toolkit::{CallError, CallOutcome};

impl McpPool {
    /// A fresh cached catalogue (memory, then the store), without touching the network.
    pub async fn cached_catalogue(&self, key: &ConnectionKey) -> Option<Arc<Catalogue>> {
        self.catalogues.cached(key, self.catalogue_store()).await
    }

    /// Where catalogues are shared between processes: the store, unless this pool's sessions
    /// announce elicitation. Some servers offer tools only to clients that can answer it, so
    /// such a list would show the console (which declines) tools it cannot call, and the
    /// console's list would hide them from a `call --elicit ask`.
    fn catalogue_store(&self) -> Option<&Store> {
        self.elicit.capability().is_none().then_some(&self.store)
    }

    /// The catalogue, from the cache unless `refresh` or stale, else listed from the server.
    pub async fn catalogue(
        &self,
        key: &ConnectionKey,
        target: &Target,
        refresh: bool,
    ) -> Result<Arc<Catalogue>, Failure> {
        if !refresh && let Some(c) = self.cached_catalogue(key).await {
            return Ok(c);
        }
        let session = self.session(key, target).await?;
        match Catalogue::fetch(session.peer()).await {
            Ok(c) => Ok(self.catalogues.put(key, c, self.catalogue_store()).await),
            Err(f) => {
                self.drop_session(key).await;
                Err(f)
            }
        }
    }

    /// Calls a tool on a configured connection and records the call in the event log: the tool
    /// name, outcome and latency, never the arguments (they may carry secrets).
    #[allow(clippy::too_many_arguments)] // each is a distinct knob of one call
    pub async fn call_tool(
        &self,
        key: &ConnectionKey,
        target: &Target,
        tool: &str,
        arguments: Option<JsonObject>,
        timeout: Duration,
        actor: Actor,
        cancel: &CancellationToken,
        on_progress: impl FnMut(&ProgressNotificationParam),
    ) -> Result<CallOutcome, CallError> {
        let started = Instant::now();
        self.act_as(key, actor);
        let result = match self.session(key, target).await {
            Ok(session) => call_tool(&session, tool, arguments, timeout, cancel, on_progress).await,
            Err(f) => Err(CallError::Failed(f)),
        };
        if let Err(CallError::Failed(f)) = &result
            && matches!(f.class, ErrorClass::Connection | ErrorClass::Protocol)
        {
            self.drop_session(key).await;
        }
        self.record_call(key, tool, actor, &result, started).await;
        result
    }

    async fn record_call(
        &self,
        key: &ConnectionKey,
        tool: &str,
        actor: Actor,
        result: &Result<CallOutcome, CallError>,
        started: Instant,
    ) {
        let (outcome, latency, failure): (&str, u64, Option<Failure>) = match result {
            Ok(o) if o.is_tool_error() => ("tool_error", o.latency_ms, None),
            Ok(o) => ("ok", o.latency_ms, None),
            Err(e) => (
                "failed",
                started.elapsed().as_millis() as u64,
                Some(e.failure()),
            ),
        };
        let mut record = EventRecord::new(Some(key), "tool_call", actor, outcome)
            .latency(latency)
            .detail(tool);
        record.class = failure.map(|f| f.class);
        if let Err(e) = self.store.append_event(record).await {
            tracing::warn!("could not record a tool call on {key}: {e}");
        }
    }
}
