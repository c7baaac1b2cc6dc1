//! How many token requests the lab is answering at once: a client that spreads its refreshes
//! never sends more than its per-endpoint limit, and the lab's stats show the most it saw.

use std::sync::Arc;

use super::tokens::LabState;

/// Counts token requests being answered at once, for the most seen at any time: a client that
/// spreads its refreshes never sends more than its per-endpoint limit.
pub(super) struct InFlight(Arc<LabState>);

impl InFlight {
    pub(super) fn enter(state: &Arc<LabState>) -> InFlight {
        let mut store = state.lock();
        store.token_in_flight += 1;
        let now = store.token_in_flight;
        let max = &mut store.stats.max_concurrent_token_requests;
        *max = (*max).max(now);
        InFlight(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut store = self.0.lock();
        store.token_in_flight = store.token_in_flight.saturating_sub(1);
    }
}
