//! What a process learns from the store that other processes wrote: a follower reads tokens,
//! re-auth marks and probe results; the leader reads the tokens and marks of one-shot commands
//! run beside it.

use crate::engine::Level;
use crate::engine::core::Engine;

/// A follower's view: tokens and probe results written by the leader.
/// Reads only the rows written since the last look (`followed_to`, a row id: see
/// `Store::probes_after`), rather than the whole hour every two seconds; a probe this process
/// recorded itself is already in its window.
pub(super) async fn follow_store(engine: &Engine, followed_to: &mut i64) {
    match engine.broker.sync_all().await {
        Ok(changed) => changed.iter().for_each(|k| engine.touch(k)),
        Err(f) => tracing::debug!("following the store's tokens: {f}"),
    }
    // After the tokens: a new grant clears a mark, and must be seen before the mark is read.
    match engine.broker.sync_reauth_marks().await {
        Ok(marked) => marked.iter().for_each(|k| engine.touch(k)),
        Err(f) => tracing::debug!("following the store's re-auth marks: {f}"),
    }
    engine.sync_paused().await;
    engine.load_leader_risk().await;
    if let Ok(probes) = engine.store.probes_after(*followed_to).await {
        engine.adopt_probes(probes, followed_to);
    }
    if let Ok(stats) = engine.store.refresh_stats().await {
        engine.adopt_refresh_stats(stats);
    }
    engine.publish();
}

/// The leader's view of tokens other processes wrote: a `switchboard auth` or `revoke` run
/// beside a daemon. Without this the leader would hand out a token revoked elsewhere until a
/// 401, and keep a re-authorized connection marked "needs re-auth" until restarted.
pub(super) async fn adopt_foreign_tokens(engine: &Engine) {
    // Nothing written by another process since the last look: nothing to adopt.
    if let Ok(false) = engine.store.changed_elsewhere().await {
        return;
    }
    // A `switchboard pause` run beside the daemon: stop at once, not at the next restart.
    if engine.sync_paused().await {
        engine.rearm_all();
        engine.publish();
    }
    let changed = match engine.broker.sync_all().await {
        Ok(changed) => changed,
        Err(f) => {
            tracing::debug!("checking the store for tokens from other processes: {f}");
            return;
        }
    };
    // A one-shot `refresh` or `probe` beside the daemon that found the grant gone: the leader
    // stops refreshing with the refused token (the notice republishes).
    match engine.broker.sync_reauth_marks().await {
        Ok(marked) => {
            for key in marked {
                engine.touch(&key);
                engine.notice(
                    Level::Warn,
                    format!("{key}: another switchboard process found its grant refused; it needs re-auth"),
                );
            }
        }
        Err(f) => tracing::debug!("checking the store for re-auth marks: {f}"),
    }
    if changed.is_empty() {
        return;
    }
    for key in changed {
        let message = match engine.broker.meta(&key) {
            Some(_) => format!("{key}: picked up a token another switchboard process stored"),
            None => {
                format!("{key}: its token was revoked or forgotten by another switchboard process")
            }
        };
        engine.notice(Level::Info, message);
        engine.rearm_one(&key);
        engine.touch(&key);
    }
}
