//! The protocol tap: a transport wrapper that records every JSON-RPC message a session sends
//! and receives into its connection's transcript (`toolkit::transcript`), for the console's
//! protocol tab. It sees messages as rmcp hands them over, after the transport has parsed and
//! capped them and before it serialises them, so HTTP headers (the bearer) never reach it; the
//! transcript still redacts anything secret-looking in the bodies.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use rmcp::RoleClient;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde::Serialize;

use crate::domain::{ConnectionKey, now_ms};
use crate::toolkit::transcript::{Direction, Entry, Ring};

type OnEntry = Arc<dyn Fn(&ConnectionKey, &Entry) + Send + Sync>;

/// Every connection's transcript, and who to tell about each new message.
#[derive(Default)]
pub struct Transcripts {
    rings: Mutex<HashMap<ConnectionKey, Ring>>,
    /// Connections someone is watching: only their messages are passed on as they come, so a
    /// fleet's pings do not flood the event channel.
    followed: Mutex<HashSet<ConnectionKey>>,
    on_entry: Option<OnEntry>,
}

impl Transcripts {
    /// `on_entry` hears each message as it is recorded (the engine turns it into an event).
    pub fn new(on_entry: Option<OnEntry>) -> Transcripts {
        Transcripts {
            on_entry,
            ..Transcripts::default()
        }
    }

    /// Starts or stops passing `key`'s messages on; returns those kept so far.
    pub fn follow(&self, key: &ConnectionKey, follow: bool) -> Vec<Entry> {
        if let Ok(mut followed) = self.followed.lock() {
            if follow {
                followed.insert(key.clone());
            } else {
                followed.remove(key);
            }
        }
        self.entries(key)
    }

    pub fn entries(&self, key: &ConnectionKey) -> Vec<Entry> {
        self.rings
            .lock()
            .ok()
            .and_then(|r| r.get(key).map(Ring::entries))
            .unwrap_or_default()
    }

    fn record(&self, key: &ConnectionKey, direction: Direction, message: &impl Serialize) {
        let Ok(value) = serde_json::to_value(message) else {
            return;
        };
        let entry = match self.rings.lock() {
            Ok(mut rings) => {
                rings
                    .entry(key.clone())
                    .or_default()
                    .push(now_ms(), direction, &value)
            }
            Err(_) => return,
        };
        let followed = self.followed.lock().is_ok_and(|f| f.contains(key));
        if followed && let Some(f) = &self.on_entry {
            f(key, &entry);
        }
    }
}

/// A transport whose messages go into `key`'s transcript on their way.
pub struct Tapped<T> {
    inner: T,
    key: ConnectionKey,
    transcripts: Arc<Transcripts>,
}

impl<T> Tapped<T> {
    pub fn new(inner: T, key: ConnectionKey, transcripts: Arc<Transcripts>) -> Self {
        Tapped {
            inner,
            key,
            transcripts,
        }
    }
}

impl<T: Transport<RoleClient>> Transport<RoleClient> for Tapped<T> {
    type Error = T::Error;

    fn name() -> std::borrow::Cow<'static, str> {
        T::name()
    }

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.transcripts.record(&self.key, Direction::Sent, &item);
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        let message = self.inner.receive().await?;
        self.transcripts
            .record(&self.key, Direction::Received, &message);
        Some(message)
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}
