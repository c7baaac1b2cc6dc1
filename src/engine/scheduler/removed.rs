//! Grants of connectors removed from the config. Their tokens stay in the store, and the grant
//! stays live at the authorization server, until someone revokes it; nobody will once the
//! connector is gone from every screen. The leader revokes them (RFC 7009, through the recipe
//! `auth::recipe` kept) after a grace period, so a connector commented out by mistake at 3 a.m.
//! can come back with its grant intact.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::auth::recipe;
use crate::auth::revoke::{Revoked, revoke_connection};
use crate::domain::{Actor, ConnectionKey, now_ms};
use crate::engine::Level;
use crate::engine::core::Engine;

/// `SWITCHBOARD_REVOKE_REMOVED_AFTER`: a duration ("24h", "0s") or "never".
pub const GRACE_ENV: &str = "SWITCHBOARD_REVOKE_REMOVED_AFTER";
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);
const EVERY: Duration = Duration::from_secs(3600);

/// The grace period; `None` keeps removed connectors' grants forever.
pub fn grace(raw: Option<&str>) -> Result<Option<Duration>, String> {
    match raw.map(str::trim) {
        None | Some("") => Ok(Some(DEFAULT_GRACE)),
        Some("never") | Some("off") => Ok(None),
        Some(d) => crate::config::parse_duration(d)
            .map(Some)
            .map_err(|e| format!("{GRACE_ENV}={d:?}: {e}; use a duration such as 24h, or never")),
    }
}

pub async fn run(engine: Arc<Engine>, cancel: CancellationToken) {
    let grace = match grace(std::env::var(GRACE_ENV).ok().as_deref()) {
        Ok(g) => g,
        Err(e) => {
            engine.notice(Level::Warn, format!("{e}; using 24h"));
            Some(DEFAULT_GRACE)
        }
    };
    let mut announced = HashSet::new();
    let wait = grace
        .map_or(EVERY, |g| g.min(EVERY))
        .max(Duration::from_secs(1));
    loop {
        sweep(&engine, grace, &mut announced).await;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn sweep(engine: &Engine, grace: Option<Duration>, announced: &mut HashSet<ConnectionKey>) {
    let held = match engine.store.connections_with_tokens().await {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!("cannot list stored grants: {e}");
            return;
        }
    };
    for key in held {
        if engine.specs.contains_key(&key.connector) {
            if let Err(e) = engine.store.clear_orphaned(&key.connector).await {
                tracing::warn!("{key}: {e}");
            }
            continue;
        }
        let since = match engine.store.mark_orphaned(&key).await {
            Ok(since) => since,
            Err(e) => {
                tracing::warn!("{key}: {e}");
                continue;
            }
        };
        match grace {
            Some(g) if now_ms() - since >= g.as_millis() as i64 => revoke(engine, &key).await,
            Some(g) => {
                if announced.insert(key.clone()) {
                    let at = since + g.as_millis() as i64;
                    engine.notice(
                        Level::Warn,
                        format!(
                            "{key} is no longer in the config; its grant will be revoked at {} unless it comes back (`switchboard revoke {}` does it now)",
                            chrono::DateTime::from_timestamp_millis(at).map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_default(),
                            revoke_args(&key)
                        ),
                    );
                }
            }
            None => {
                if announced.insert(key.clone()) {
                    engine.notice(
                        Level::Info,
                        format!(
                            "{key} is no longer in the config but keeps its grant ({GRACE_ENV}=never); `switchboard revoke {}` revokes it",
                            revoke_args(&key)
                        ),
                    );
                }
            }
        }
    }
}

fn revoke_args(key: &ConnectionKey) -> String {
    format!("{}{}", key.connector, crate::domain::account_flag(key))
}

async fn revoke(engine: &Engine, key: &ConnectionKey) {
    let spec = match recipe::load(&engine.store, key).await {
        Ok(Some(spec)) => spec,
        Ok(None) => {
            // Without the endpoints and client the grant was issued to there is no way to
            // revoke it, and forgetting the token would throw away the only handle on it.
            engine.notice(
                Level::Warn,
                format!(
                    "{key} is no longer in the config, but switchboard kept no record of how to revoke its grant; put the connector back and run `switchboard revoke {}`",
                    revoke_args(key)
                ),
            );
            return;
        }
        Err(f) => {
            engine.notice(Level::Warn, format!("{key}: {f}"));
            return;
        }
    };
    let http = engine.broker.http();
    match revoke_connection(&engine.store, engine.broker.grants(), http, &spec, key, Actor::Scheduler).await {
        Ok(Revoked::AtServer { endpoint, .. }) => engine.notice(
            Level::Info,
            format!("{key} was removed from the config; its grant is revoked at {endpoint}"),
        ),
        Ok(Revoked::LocalOnly) => engine.notice(
            Level::Warn,
            format!(
                "{key} was removed from the config; its token is forgotten, but the authorization server has no revocation endpoint: revoke the grant in the provider's console"
            ),
        ),
        Ok(Revoked::Unreadable) => engine.notice(
            Level::Warn,
            format!(
                "{key} was removed from the config; its token could not be decrypted, so it is forgotten but not revoked: revoke the grant in the provider's console"
            ),
        ),
        Ok(Revoked::NothingStored) => {}
        Err(f) => engine.notice(
            Level::Warn,
            format!(
                "{key} was removed from the config; revoking its grant failed ({f}); retrying within the hour"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_reads_durations_and_never() {
        assert_eq!(grace(None), Ok(Some(DEFAULT_GRACE)));
        assert_eq!(grace(Some("0s")), Ok(Some(Duration::ZERO)));
        assert_eq!(grace(Some("2h")), Ok(Some(Duration::from_secs(7200))));
        assert_eq!(grace(Some("never")), Ok(None));
        assert!(grace(Some("soon")).unwrap_err().contains(GRACE_ENV));
    }
}
