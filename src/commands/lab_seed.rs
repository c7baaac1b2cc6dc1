//! `switchboard lab authorize-all` (hidden): gives every connection of the config that waits for
//! a grant one, through the engine's real authorization-code flow (PKCE, loopback redirect,
//! code exchange, sealed in the store) with the scripted browser answering the lab's consent.
//! `benches/fleet.sh refresh` seeds thousands of refresh-token connections this way: the
//! cheapest path that is still the one an operator's `switchboard auth` takes.

use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{Exit, Outcome, oneshot_engine};
use crate::cli::{EXIT_FAILED, EXIT_OK, Global};
use crate::domain::{Actor, Health};
use crate::engine::{EngineHandle, Opener, ReauthMethod};

/// Bounded so a fleet of 10,000 does not open 10,000 loopback listeners at once.
const MAX_CONCURRENCY: usize = 256;

/// A login the lab does not complete (an unknown client answered with an error page, which no
/// one will click through) is given up after `timeout` instead of the flow's 15 minutes.
pub async fn authorize_all(global: &Global, concurrency: usize, timeout: Duration) -> Outcome {
    let (running, _workspace) = oneshot_engine(global, Default::default()).await?;
    let started = Instant::now();
    let (total, failures) =
        authorize_waiting(&running.handle, Actor::Cli, concurrency, timeout).await?;
    running.shutdown().await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "authorized {} of {total} connections in {secs:.1} s",
        total - failures.len()
    );
    match failures.first() {
        None => Ok(EXIT_OK),
        Some(first) => Err(Exit::new(
            EXIT_FAILED,
            format!(
                "{} connections were not authorized (first: {first}); see the data directory's log",
                failures.len()
            ),
        )),
    }
}

/// Authorizes every connection waiting for a grant through the engine's `Command::Reauth`, with
/// the scripted browser approving the lab's consent; `concurrency` at once, each given up after
/// `timeout`. Returns how many were waiting and a line per one that failed. The demo's start
/// and `lab authorize-all` share it.
pub(super) async fn authorize_waiting(
    handle: &EngineHandle,
    actor: Actor,
    concurrency: usize,
    timeout: Duration,
) -> Result<(usize, Vec<String>), Exit> {
    let browser = crate::net::browser_client().map_err(|f| Exit::failed(&f))?;
    let waiting: Vec<_> = handle
        .snapshot()
        .connections
        .iter()
        .filter(|c| c.health == Health::Unauthorized)
        .map(|c| c.key.clone())
        .collect();
    let total = waiting.len();
    let failures = futures::stream::iter(waiting)
        .map(|key| {
            let (handle, browser) = (handle.clone(), browser.clone());
            async move {
                let method = ReauthMethod::Browser {
                    opener: Opener::Internal(browser),
                };
                let cancel = CancellationToken::new();
                let asked = handle.reauth(key.clone(), method, actor, cancel.clone());
                tokio::select! {
                    result = asked => result.err().map(|f| format!("{key}: {f}")),
                    _ = tokio::time::sleep(timeout) => {
                        cancel.cancel();
                        Some(format!("{key}: not authorized within {} s", timeout.as_secs()))
                    }
                }
            }
        })
        .buffer_unordered(concurrency.clamp(1, MAX_CONCURRENCY))
        .filter_map(|failed| async move { failed })
        .collect()
        .await;
    Ok((total, failures))
}
