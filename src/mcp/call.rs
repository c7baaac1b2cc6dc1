//! One `tools/call`: a deadline, cancellation by the caller (which tells the server with
//! `notifications/cancelled`), and progress handed to the caller while it runs.

use std::time::Duration;

use rmcp::model::RequestId;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CancelledNotification, CancelledNotificationParam,
    ClientRequest, JsonObject, ProgressNotificationParam, ServerResult,
};
use rmcp::service::{Peer, PeerRequestOptions, RoleClient, ServiceError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Session;
use crate::classify::mcp::classify_service;
use crate::domain::{ErrorClass, Failure};
use crate::toolkit::call::{CallError, CallOutcome};

const LATE_PROGRESS: Duration = Duration::from_millis(25);
const PROMPT_RECHECK: Duration = Duration::from_millis(250);
/// The longest call timeout honoured: a year is "never" for a tool call, and still leaves the
/// deadline arithmetic far from the clock's limits.
const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// `notifications/cancelled` for a call we gave up on; the call's outcome is ours either way.
async fn tell_server_to_stop(peer: &Peer<RoleClient>, id: RequestId, reason: &str) {
    let note = CancelledNotification::new(CancelledNotificationParam::new(
        Some(id),
        Some(reason.into()),
    ));
    if let Err(e) = peer.send_notification(note.into()).await {
        tracing::debug!("could not send notifications/cancelled: {e}");
    }
}

pub async fn call_tool(
    session: &Session,
    tool: &str,
    arguments: Option<JsonObject>,
    timeout: Duration,
    cancel: &CancellationToken,
    mut on_progress: impl FnMut(&ProgressNotificationParam),
) -> Result<CallOutcome, CallError> {
    let mut params = CallToolRequestParams::new(tool.to_string());
    if let Some(arguments) = arguments {
        params = params.with_arguments(arguments);
    }
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
    // `--timeout 500000000000y` parses, and overflowed the clock below.
    let timeout = timeout.min(MAX_TIMEOUT);
    let started = Instant::now();
    // Our own deadline rather than rmcp's: it must leave out the time the operator spends at
    // an elicitation prompt, or a 30 s --timeout would cancel the call under their fingers.
    let clock = session.service().elicit.clock().clone();
    let handle = session
        .peer()
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await
        .map_err(|e| CallError::Failed(classify_service(&e)))?;
    let (id, peer) = (handle.id.clone(), handle.peer.clone());
    let mut progress = session
        .service()
        .progress
        .subscribe(handle.progress_token.clone());
    let response = handle.await_response();
    tokio::pin!(response);
    let mut seen = 0usize;
    let answer = loop {
        let deadline = started + timeout + clock.spent();
        // While a prompt is open the deadline moves with the clock: look again now and then.
        let wake = if clock.is_open() {
            deadline.max(Instant::now() + PROMPT_RECHECK)
        } else {
            deadline
        };
        tokio::select! {
            biased;
            r = &mut response => break r,
            Some(p) = progress.next() => {
                seen += 1;
                // Not drawn over a prompt the operator is typing into.
                if !clock.is_open() {
                    on_progress(&p);
                }
            }
            _ = cancel.cancelled() => {
                tell_server_to_stop(&peer, id, "cancelled by the user").await;
                return Err(CallError::Cancelled);
            }
            _ = tokio::time::sleep_until(wake) => {
                if !clock.is_open() && Instant::now() >= started + timeout + clock.spent() {
                    tell_server_to_stop(&peer, id, "timed out").await;
                    return Err(CallError::Timeout(timeout));
                }
            }
        }
    };
    let latency_ms = started.elapsed().saturating_sub(clock.spent()).as_millis() as u64;
    // rmcp hands each notification to its own task, so the last progress can land just after
    // the response it preceded on the wire: give a call that reported progress a moment more.
    if seen > 0 {
        while let Ok(Some(p)) = tokio::time::timeout(LATE_PROGRESS, progress.next()).await {
            on_progress(&p);
        }
    }
    match answer {
        Ok(ServerResult::CallToolResult(result)) => Ok(CallOutcome { result, latency_ms }),
        Ok(ServerResult::InputRequiredResult(_)) => Err(CallError::Failed(Failure::new(
            ErrorClass::Protocol,
            "the server asked for more input mid-call (input_required), which switchboard does not support yet",
        ))),
        Ok(ServerResult::CreateTaskResult(_)) => Err(CallError::Failed(Failure::new(
            ErrorClass::Protocol,
            "the server turned the call into a background task, which switchboard does not follow yet",
        ))),
        Ok(_) => Err(CallError::Failed(Failure::new(
            ErrorClass::Protocol,
            "the server answered tools/call with something other than a tool result",
        ))),
        Err(ServiceError::Timeout { timeout }) => Err(CallError::Timeout(timeout)),
        Err(e) => Err(CallError::Failed(classify_service(&e))),
    }
}
