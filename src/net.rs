//! Rules every outbound HTTP exchange follows, whoever makes it: a body is read only up to a
//! cap, because a server (or a proxy in front of it) can send an endless body, and a time limit
//! alone let one token response grow the process to 6.3 GB before its 20 s timeout.

use crate::domain::{ErrorClass, Failure};

mod origin;
pub use origin::{
    MAX_REDIRECTS, Refused as RedirectRefused, browser_client, client_builder, is_loopback,
    redirect_policy, require_secure,
};

/// Token, revocation and registration answers: a few KiB in practice.
pub const TOKEN_BODY_CAP: usize = 256 * 1024;
/// Discovery documents (RFC 8414, RFC 9728, OIDC): small JSON.
pub const METADATA_BODY_CAP: usize = 256 * 1024;
/// One MCP JSON-RPC message or one legacy SSE event: tool catalogues and results can be large.
pub const MCP_MESSAGE_CAP: usize = 16 * 1024 * 1024;
/// A REST probe's answer: only its status matters, the body is drained for connection reuse.
pub const PROBE_BODY_CAP: usize = 64 * 1024;

/// Reads `response`'s body, failing (without reading on) once it passes `cap` bytes. `what`
/// names the exchange in the error ("the token endpoint's answer").
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
    what: &str,
) -> Result<Vec<u8>, Failure> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_large(what, cap));
    }
    let mut body = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|e| {
            let mut f = crate::auth::oauth::classify_reqwest(&e);
            f.message = format!("{what}: {}", f.message);
            f
        })?;
        let Some(chunk) = chunk else {
            return Ok(body);
        };
        if body.len().saturating_add(chunk.len()) > cap {
            return Err(too_large(what, cap));
        }
        body.extend_from_slice(&chunk);
    }
}

fn too_large(what: &str, cap: usize) -> Failure {
    Failure::new(
        ErrorClass::Protocol,
        format!(
            "{what} is larger than {} KiB; switchboard stopped reading it (a misbehaving server or proxy?)",
            cap / 1024
        ),
    )
}
