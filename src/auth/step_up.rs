//! Step-up authorization (the MCP spec's scope challenge handling): a 403 with
//! `error="insufficient_scope"` names the scopes an operation needs; the next authorization asks
//! for the union of those and what the grant already has, at most `STEP_UP_RETRIES` times per
//! request, so a server that keeps asking cannot loop a client through consent screens.

use super::mcp_auth::union;
use crate::classify::challenge::BearerChallenge;
use crate::classify::insufficient_scope;
use crate::domain::{ErrorClass, Failure, Reason};
use crate::store::Store;

/// How many times one request may trigger step-up authorization before it is reported.
pub const STEP_UP_RETRIES: u32 = 1;

fn config(message: String) -> Failure {
    Failure::new(ErrorClass::Config, message)
}

/// Step-up authorization (the MCP spec's scope challenge handling): after a 403 with
/// `error="insufficient_scope"`, the scopes to re-authorize with — what the token holds plus
/// what the server asks for. `attempts` counts step-ups already made for this request; past
/// `STEP_UP_RETRIES`, or when the challenge names no new scope, the answer is a failure that
/// says which scopes a human must grant.
pub fn step_up_scopes(
    granted: &[String],
    challenge: &BearerChallenge,
    attempts: u32,
) -> Result<Vec<String>, Failure> {
    let wanted = union(granted, &challenge.scope);
    let adds = wanted.len() > granted.len();
    if challenge.error.as_deref() == Some("insufficient_scope")
        && adds
        && attempts < STEP_UP_RETRIES
    {
        return Ok(wanted);
    }
    Err(insufficient_scope(&challenge.scope))
}

/// A configured connection's 403 after the wanted scopes were recorded: a human grants them.
pub fn step_up_needed(connector: &str, scopes: &[String]) -> Failure {
    Failure::new(
        ErrorClass::Auth,
        format!(
            "HTTP 403: insufficient scope; run `switchboard auth {connector}` to grant {}",
            scopes.join(" ")
        ),
    )
    .with_reason(Reason::InsufficientScope {
        scopes: scopes.to_vec(),
    })
}

/// Adds the scopes a step-up asked for to the stored record, so the next `switchboard auth`
/// requests their union. Capped like `step_up_scopes`.
pub async fn record_step_up(
    store: &Store,
    connector: &str,
    challenge: &BearerChallenge,
    attempts: u32,
) -> Result<Vec<String>, Failure> {
    let Some(mut record) = store
        .load_mcp_auth(connector)
        .await
        .map_err(|e| config(e.to_string()))?
    else {
        return Err(insufficient_scope(&challenge.scope));
    };
    let wanted = step_up_scopes(&record.scopes, challenge, attempts)?;
    record.scopes = wanted.clone();
    store
        .save_mcp_auth(connector, record)
        .await
        .map_err(|e| config(e.to_string()))?;
    Ok(wanted)
}
