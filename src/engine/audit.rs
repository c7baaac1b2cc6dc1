//! `Command::PruneEvents`: the event log's retention, the one way rows leave it (the store's
//! trigger refuses every other DELETE). The prune itself is logged, so the trail says who cut
//! it and where.

use super::core::Engine;
use crate::domain::{Actor, ErrorClass, Failure, UnixMs};
use crate::store::EventRecord;

impl Engine {
    pub(super) async fn prune_events(&self, before: UnixMs, actor: Actor) -> Result<u64, Failure> {
        let n = self.store.prune_events(before).await.map_err(|e| {
            Failure::new(
                ErrorClass::Config,
                format!("could not prune the event log: {e}"),
            )
        })?;
        let record = EventRecord::new(None, "events_pruned", actor, "ok").detail(format!(
            "{n} events written before {before} (Unix ms) deleted"
        ));
        if let Err(e) = self.store.append_event(record).await {
            tracing::warn!("could not record the prune: {e}");
        }
        Ok(n)
    }
}
