//! `Command::Alerts`: the alert front-end's durable state (outbox, open incidents, last
//! delivery per channel) kept in the store for it, so the front-end never names the store.

use tokio::sync::oneshot;

use super::api::{Command, EngineHandle, stopped};
use crate::domain::alert::{ChannelState, Delivery, Incident, OutboxItem, Settle};
use crate::domain::{ConnectionKey, ErrorClass, Failure, UnixMs};
use crate::store::Store;

/// What the alert front-end asks of the store.
#[derive(Debug)]
pub enum AlertOp {
    /// Queue messages (channel, dedup key, payload JSON) once each, open or update incidents
    /// and close others, atomically. Answered with `Queued(n)`: how many were new.
    Apply {
        messages: Vec<(String, String, String)>,
        open: Vec<Incident>,
        closed: Vec<(String, ConnectionKey)>,
        now: UnixMs,
    },
    /// The open incidents (`Incidents`).
    Incidents,
    /// Pending messages due by `now` (`Due`).
    Due { now: UnixMs, limit: usize },
    /// After an attempt: settle message `id` (none for `alerts test`) and record the delivery.
    Settle {
        id: Option<i64>,
        settle: Settle,
        delivery: Delivery,
    },
    /// Per channel: queued messages and the last delivery (`Channels`).
    Channels,
    /// The state (pending | sent | dropped) of one message (`State`).
    State { channel: String, dedup_key: String },
}

#[derive(Debug)]
pub enum AlertAnswer {
    Queued(usize),
    Incidents(Vec<Incident>),
    Due(Vec<OutboxItem>),
    Done,
    Channels(Vec<ChannelState>),
    State(Option<String>),
}

pub(super) async fn run(
    store: Store,
    op: AlertOp,
    reply: oneshot::Sender<Result<AlertAnswer, Failure>>,
) {
    let result = match op {
        AlertOp::Apply {
            messages,
            open,
            closed,
            now,
        } => store
            .alerts_apply(messages, open, closed, now)
            .await
            .map(AlertAnswer::Queued),
        AlertOp::Incidents => store.alert_incidents().await.map(AlertAnswer::Incidents),
        AlertOp::Due { now, limit } => store.alerts_due(now, limit).await.map(AlertAnswer::Due),
        AlertOp::Settle {
            id,
            settle,
            delivery,
        } => store
            .alert_settle(id, settle, delivery)
            .await
            .map(|()| AlertAnswer::Done),
        AlertOp::Channels => store.alert_channels().await.map(AlertAnswer::Channels),
        AlertOp::State { channel, dedup_key } => store
            .alert_state(&channel, &dedup_key)
            .await
            .map(AlertAnswer::State),
    };
    let _ = reply.send(
        result.map_err(|e| Failure::new(ErrorClass::Config, format!("the alert outbox: {e}"))),
    );
}

impl EngineHandle {
    /// Sends an `AlertOp` and waits for its answer.
    pub async fn alerts(&self, op: AlertOp) -> Result<AlertAnswer, Failure> {
        let (tx, rx) = oneshot::channel();
        if !self.send_wait(Command::Alerts { op, reply: tx }).await {
            return Err(stopped());
        }
        rx.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Each alert channel's queue and last delivery outcome: what `alerts list`, `status` and
    /// the console show.
    pub async fn alert_channels(&self) -> Result<Vec<ChannelState>, Failure> {
        match self.alerts(AlertOp::Channels).await? {
            AlertAnswer::Channels(c) => Ok(c),
            other => Err(unexpected(&other)),
        }
    }
}

pub fn unexpected(answer: &AlertAnswer) -> Failure {
    Failure::new(
        ErrorClass::Config,
        format!("the engine answered an alert request with {answer:?}; this is a bug"),
    )
}
