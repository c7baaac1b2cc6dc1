//! Change notification: what one process commits, the others hear at once (`LISTEN`), instead
//! of polling.

use super::{PgStore, describe, pg};
use crate::domain::ConnectionKey;
use crate::store::StoreError;

/// The `LISTEN` channel every change is announced on.
pub(super) const CHANNEL: &str = "switchboard";

/// A change another process committed, as `PgStore::listen` hears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Token {
        key: ConnectionKey,
        generation: i64,
    },
    /// A connection's token revoked and forgotten.
    Revoked {
        key: ConnectionKey,
    },
    /// A connection marked as needing re-auth.
    Reauth {
        key: ConnectionKey,
    },
    /// Observations a data directory (`origin`) published (`PgStore::publish`), up to id
    /// `upto`.
    Feed {
        kind: super::FeedKind,
        upto: i64,
        origin: String,
    },
}

#[derive(serde::Deserialize)]
struct Notice {
    kind: String,
    connector: String,
    account: String,
    generation: i64,
    /// The publishing data directory, for the feed's notices.
    #[serde(default)]
    origin: String,
}

impl PgStore {
    /// Changes as they commit, from any process on this database (`LISTEN`), instead of
    /// polling. On a connection of its own, outside the pool; the channel closes when that
    /// connection is lost, and the caller listens again (and reads what it may have missed).
    pub async fn listen(&self) -> Result<tokio::sync::mpsc::Receiver<Change>, StoreError> {
        let (client, mut connection) =
            self.config.connect(self.tls.clone()).await.map_err(|e| {
                StoreError::Postgres(format!("cannot listen on {}: {}", self.place, describe(&e)))
            })?;
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let place = self.place.clone();
        // The connection yields notifications only to whoever polls it, from before `LISTEN`.
        let poller = tokio::spawn(async move {
            use futures::StreamExt;
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            loop {
                let message = tokio::select! {
                    _ = tx.closed() => return,
                    m = messages.next() => m,
                };
                match message {
                    Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                        let Some(change) = parse_notice(n.payload()) else {
                            tracing::debug!("an unreadable change notice on {place}");
                            continue;
                        };
                        if tx.send(change).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!("listening on {place} stopped: {}", describe(&e));
                        return;
                    }
                    None => return,
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(pg)?;
        // The client keeps the connection open: it lives until the listener goes away.
        tokio::spawn(async move {
            let _client = client;
            let _ = poller.await;
        });
        Ok(rx)
    }
}

fn parse_notice(payload: &str) -> Option<Change> {
    let n: Notice = serde_json::from_str(payload).ok()?;
    let key = ConnectionKey::new(n.connector, n.account);
    match n.kind.as_str() {
        "token" => Some(Change::Token {
            key,
            generation: n.generation,
        }),
        "reauth" => Some(Change::Reauth { key }),
        "revoked" => Some(Change::Revoked { key }),
        "probe" => Some(Change::Feed {
            kind: super::FeedKind::Probe,
            upto: n.generation,
            origin: n.origin,
        }),
        "event" => Some(Change::Feed {
            kind: super::FeedKind::Event,
            upto: n.generation,
            origin: n.origin,
        }),
        _ => None,
    }
}
