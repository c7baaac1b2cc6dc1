//! Token requests that must not be cut short. Once a refresh request has been sent, the
//! authorization server may already have rotated the refresh token; only saving the answer keeps
//! the connection alive. So the request and the save run as one task that no caller can cancel
//! by going away, and a process that is asked to stop (Ctrl-C, SIGTERM, shutdown) waits for these
//! tasks first. Only SIGKILL or a power cut can still land in that window (see the kill -9 test
//! against oidc-provider).

use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use tokio_util::task::TaskTracker;

// Process-wide on purpose: what must finish before exit is a property of the process, and the
// signal handling in `main` has no engine to ask.
static IN_FLIGHT: LazyLock<TaskTracker> = LazyLock::new(TaskTracker::new);

/// Runs `work` to completion even if the returned future is dropped.
pub fn spawn<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    IN_FLIGHT.spawn(work)
}

/// How many token requests are in flight right now.
pub fn in_flight() -> usize {
    IN_FLIGHT.len()
}

/// Waits (at most `limit`) for every token request in flight to finish and be saved. Returns
/// false if some were still running at the limit.
pub async fn drain(limit: Duration) -> bool {
    if IN_FLIGHT.is_empty() {
        return true;
    }
    IN_FLIGHT.close();
    let done = tokio::time::timeout(limit, IN_FLIGHT.wait()).await.is_ok();
    IN_FLIGHT.reopen();
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_outlives_a_dropped_caller_and_drain_waits_for_it() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let handle = spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = tx.send("saved");
        });
        drop(handle);
        assert!(drain(Duration::from_secs(5)).await);
        assert_eq!(rx.await.unwrap(), "saved");
        assert_eq!(in_flight(), 0);
    }
}
