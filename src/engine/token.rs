//! `Command::AccessToken`: a valid access token for the operator's own scripts (`switchboard
//! token`, `switchboard exec`). It comes from the broker like every other token, refreshed
//! first when it is close to expiry, and each handout is written to the event log.

use super::core::Engine;
use crate::auth::Credential;
use crate::domain::{Actor, ConnectionKey, ErrorClass, Failure};
use crate::secret::Secret;
use crate::store::EventRecord;

impl Engine {
    pub(super) async fn access_token(
        &self,
        key: &ConnectionKey,
        actor: Actor,
    ) -> Result<Secret, Failure> {
        self.ready(key, super::ready::Need::Grant)?;
        let result = match self.broker.access_token(key, actor).await {
            Ok(Credential::Bearer(token)) => Ok(token),
            Ok(Credential::None) => Err(Failure::new(
                ErrorClass::Config,
                format!("{key} uses no token (its auth type is none): there is nothing to print"),
            )),
            Err(f) => Err(f),
        };
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        let mut record = EventRecord::new(Some(key), "token", actor, outcome)
            .detail("access token handed to the operator");
        if let Err(f) = &result {
            record = record.failure(f);
        }
        if let Err(e) = self.store.append_event(record).await {
            tracing::warn!("could not record an event: {e}");
        }
        // A refresh on the way may have found the grant gone: the snapshot says so first.
        self.with_row(key, |_| ());
        self.publish_now();
        result
    }
}
