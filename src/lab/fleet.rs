//! Fleets at scale (`benches/fleet.sh`): a client id per connection, so the lab can count what
//! each connection asked of it (token requests, MCP `initialize`) and a bench can tell "one
//! token per connection per refresh" from "a few connections asking many times".
//!
//! Any id under `fleet-service-` is a confidential client with the service secret; any other id
//! under `fleet-` is a public client (authorization code + PKCE, refresh tokens).

use std::collections::BTreeMap;

use axum::extract::Request;
use axum::http::Method;
use serde::Serialize;

use super::SERVICE_SECRET;
use super::tokens::{ClientKind, Store};

pub const FLEET_PUBLIC_PREFIX: &str = "fleet-";
pub const FLEET_SERVICE_PREFIX: &str = "fleet-service-";
/// Longer ids are not fleet clients: a caller must not grow the counters with huge keys.
const MAX_ID_LEN: usize = 64;
/// Clients counted one by one at most; more are counted in `LabStats::clients_uncounted`.
pub(crate) const MAX_COUNTED_CLIENTS: usize = 100_000;
/// An `initialize` body larger than this is refused rather than buffered.
const MAX_INITIALIZE_BODY: usize = 1 << 20;

/// What one client asked of the lab.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClientCounts {
    pub token_requests: u64,
    /// Token requests answered with a token.
    pub tokens_issued: u64,
    pub mcp_requests: u64,
    /// MCP `initialize` requests: one per session opened.
    pub mcp_initialize: u64,
}

/// The kind of a fleet client id, or `None` when the id is not one.
pub(crate) fn fleet_client(client_id: &str) -> Option<ClientKind> {
    if client_id.len() > MAX_ID_LEN {
        return None;
    }
    if let Some(name) = client_id.strip_prefix(FLEET_SERVICE_PREFIX) {
        return (!name.is_empty()).then_some(ClientKind::Confidential {
            secret: SERVICE_SECRET,
        });
    }
    client_id
        .strip_prefix(FLEET_PUBLIC_PREFIX)
        .is_some_and(|s| !s.is_empty())
        .then_some(ClientKind::Public)
}

impl Store {
    /// The counters of `client_id` (a known client: the caller checked), or `None` once
    /// `MAX_COUNTED_CLIENTS` are counted, in which case the request is counted as uncounted.
    pub(crate) fn client_counts(&mut self, client_id: &str) -> Option<&mut ClientCounts> {
        let stats = &mut self.stats;
        if !stats.by_client.contains_key(client_id) && stats.by_client.len() >= MAX_COUNTED_CLIENTS
        {
            stats.clients_uncounted += 1;
            return None;
        }
        Some(stats.by_client.entry(client_id.to_owned()).or_default())
    }
}

/// Summary of per-client counts: how many clients asked how many times.
pub(crate) fn histogram(
    by_client: &BTreeMap<String, ClientCounts>,
    field: impl Fn(&ClientCounts) -> u64,
) -> BTreeMap<u64, u64> {
    let mut h = BTreeMap::new();
    for counts in by_client.values() {
        *h.entry(field(counts)).or_default() += 1;
    }
    h
}

/// Whether this request opens a streamable HTTP session with `initialize`: a POST without
/// `Mcp-Session-Id` whose JSON-RPC method is `initialize`. Only those bodies are read (one per
/// session), and put back for the server. `Err` is the answer to an oversized body.
pub(crate) async fn is_initialize(
    req: Request,
) -> Result<(Request, bool), axum::response::Response> {
    if req.method() != Method::POST || req.headers().contains_key("mcp-session-id") {
        return Ok((req, false));
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_INITIALIZE_BODY).await else {
        use axum::response::IntoResponse;
        return Err((
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "a session-opening request larger than 1 MiB",
        )
            .into_response());
    };
    let initialize = serde_json::from_slice::<serde_json::Value>(&bytes)
        .is_ok_and(|v| v["method"] == "initialize");
    Ok((
        Request::from_parts(parts, axum::body::Body::from(bytes)),
        initialize,
    ))
}
