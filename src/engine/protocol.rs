//! The protocol transcript through the one door: the MCP pool's tap records every session's
//! messages, and the messages of a followed connection go out as `Event::Protocol`
//! (`Command::Transcript { follow: true }` starts that and returns what was kept so far).

use std::sync::Arc;

use tokio::sync::broadcast;

use super::api::Event;
use crate::mcp::Transcripts;

/// Transcripts whose followed connections' messages become events.
pub(super) fn transcripts(events: broadcast::Sender<Event>) -> Arc<Transcripts> {
    Arc::new(Transcripts::new(Some(Arc::new(move |key, entry| {
        let _ = events.send(Event::Protocol {
            key: key.clone(),
            entry: entry.clone(),
        });
    }))))
}
