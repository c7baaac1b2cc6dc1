//! The demo fleet on loopback: a real OAuth 2 authorization server (PKCE, rotation with reuse
//! detection, client credentials, device flow, revocation), an MCP server over streamable HTTP
//! behind bearer auth, the same server over legacy HTTP+SSE, and a flaky REST API. `switchboard demo` and the integration tests run
//! against it; everything speaks real HTTP on 127.0.0.1 with an ephemeral port.

mod admin;
mod authorize;
mod client_auth;
mod consent;
mod device;
mod fleet;
mod in_flight;
mod mcp;
mod oauth;
mod register;
mod rest;
mod sse;
mod tokens;

#[cfg(test)]
mod tests_consent;
#[cfg(test)]
mod tests_fleet;
#[cfg(test)]
mod tests_grants;
#[cfg(test)]
mod tests_mcp;
#[cfg(test)]
mod tests_oauth;
#[cfg(test)]
mod tests_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use fleet::{ClientCounts, FLEET_PUBLIC_PREFIX, FLEET_SERVICE_PREFIX};
pub use mcp::{LabTools, run_stdio_server};
pub use tokens::{LabState, TokenInfo};

/// Public client, PKCE required.
pub const PUBLIC_CLIENT: &str = "demo-console";
/// Public client whose grant the demo revokes, to show a connection dying.
pub const DOOMED_CLIENT: &str = "demo-doomed";
/// Public client whose refreshes the demo makes fail for a while, to show *at risk*.
pub const FLAKY_CLIENT: &str = "demo-flaky";
/// Confidential client for the client-credentials grant.
pub const SERVICE_CLIENT: &str = "demo-service";
pub const SERVICE_SECRET: &str = "demo-service-secret";

#[derive(Debug, Clone)]
pub struct LabOptions {
    pub access_token_ttl: Duration,
    /// Probability in [0, 1] that `GET /api/me` answers 503.
    pub rest_failure_rate: f64,
    pub device_auto_approve_after: Duration,
    /// Answer `slow_down` to the first N polls of every device code, as a strict server may.
    pub device_slow_down_polls: u32,
    /// Advertise PKCE S256 in the AS metadata. Off plays an AS that MCP clients must refuse.
    pub pkce_s256: bool,
    /// Serve this `resource` in the protected-resource metadata instead of the MCP URL, as a
    /// misconfigured (or hostile) server would.
    pub resource_override: Option<String>,
    /// Refuse `tools/call` with 403 `insufficient_scope` unless the token holds this scope
    /// (which the protected-resource metadata does not advertise), as a server with per-operation
    /// scopes does: the case MCP step-up authorization exists for.
    pub mcp_call_scope: Option<String>,
    /// Ask a person: `/authorize` and `/device` show pages with Approve and Deny buttons
    /// whose form POST decides (the demo). Off, they approve at once (scripted tests).
    pub consent: bool,
}

impl Default for LabOptions {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::from_secs(60),
            rest_failure_rate: 0.1,
            device_auto_approve_after: Duration::from_secs(2),
            device_slow_down_polls: 0,
            pkce_s256: true,
            resource_override: None,
            mcp_call_scope: None,
            consent: false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LabStats {
    pub token_requests: u64,
    pub by_grant: BTreeMap<String, u64>,
    pub refresh_ok: u64,
    pub refresh_failed: u64,
    pub reuse_detected: u64,
    /// `slow_down` answers to device-code polls.
    pub device_slow_down: u64,
    /// Token requests by how the client authenticated: client_secret_basic, client_secret_post,
    /// none.
    pub by_client_auth: BTreeMap<String, u64>,
    pub grants_revoked: u64,
    pub rest_requests: u64,
    pub rest_failures: u64,
    pub mcp_requests: u64,
    /// Dynamic client registrations (RFC 7591) accepted.
    pub registrations: u64,
    /// Requests that presented an access token after it expired (REST and MCP).
    pub expired_token_uses: u64,
    /// The most token requests answered at once.
    pub max_concurrent_token_requests: u64,
    /// Authorization requests that named an RFC 8707 `resource`.
    pub authorize_with_resource: u64,
    /// Token requests that named a `resource`, by grant type.
    pub resource_by_grant: BTreeMap<String, u64>,
    /// MCP `initialize` requests (sessions opened), all clients.
    pub mcp_initialize: u64,
    /// Per fleet or built-in client (`fleet.rs`); served apart, at `/admin/clients`, because a
    /// fleet of 10,000 would swamp every `/admin/stats` answer.
    #[serde(skip)]
    pub by_client: BTreeMap<String, ClientCounts>,
    /// Requests of clients beyond the ones counted one by one.
    pub clients_uncounted: u64,
}

/// A running lab. Dropping it stops the server too; `shutdown` also waits for it.
pub struct Lab {
    pub issuer: String,
    pub mcp_url: String,
    /// The legacy HTTP+SSE endpoint (MCP 2024-11-05) serving the same tools.
    pub sse_url: String,
    pub rest_base: String,
    state: Arc<LabState>,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Lab {
    pub async fn start(opts: LabOptions) -> anyhow::Result<Lab> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let issuer = format!("http://{addr}");
        let state = Arc::new(LabState::new(opts, issuer.clone()));
        let cancel = CancellationToken::new();
        let app = router(state.clone(), cancel.clone());
        let shutdown = cancel.clone().cancelled_owned();
        let task = tokio::spawn(async move {
            // Peer addresses let the admin hooks refuse anything but loopback.
            let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
            if let Err(err) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(%err, "lab server stopped with an error");
            }
        });
        tracing::info!(%issuer, "lab started");
        Ok(Lab {
            mcp_url: format!("{issuer}/mcp"),
            sse_url: format!("{issuer}/sse"),
            rest_base: format!("{issuer}/api"),
            issuer,
            state,
            cancel,
            task: Some(task),
        })
    }

    pub fn stats(&self) -> LabStats {
        self.state.lock().stats.clone()
    }

    /// Also reachable from other processes as `POST /admin/revoke?client_id=...`.
    pub fn revoke_client_grants(&self, client_id: &str) -> usize {
        self.state.lock().revoke_client(client_id)
    }

    pub fn issued_secrets(&self) -> Vec<String> {
        self.state.lock().issued_secrets()
    }

    /// Closes every open legacy SSE stream, as a restarting server would (also
    /// `POST /admin/sse/close`). Returns how many were open.
    pub fn close_sse_sessions(&self) -> usize {
        self.state.sse.close_all()
    }

    /// Sends a malformed `message` event on every open SSE stream (also
    /// `POST /admin/sse/garble`). Returns how many streams got it.
    pub fn garble_sse_sessions(&self) -> usize {
        self.state.sse.garble_all()
    }

    /// Expires every streamable HTTP session (also `POST /admin/mcp/expire`); clients holding
    /// one get 404 on their next request. Returns how many there were.
    pub async fn expire_mcp_sessions(&self) -> usize {
        mcp::expire_sessions(&self.state).await
    }

    pub fn sse_sessions(&self) -> usize {
        self.state.sse.len()
    }

    pub fn set_down(&self, down: bool) {
        self.state.lock().down = down;
    }

    /// Answers this share (clamped to [0, 1]) of refresh-token grants with 503 before looking at
    /// the refresh token (also `POST /admin/refresh-failures?rate=0.3`). Returns how many
    /// refreshes were refused so far.
    pub fn set_refresh_failure_rate(&self, rate: f64) -> u64 {
        let mut s = self.state.lock();
        s.refresh_failure_rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        s.refresh_injected_failures
    }

    /// Answers every refresh of `client_id` with 503 (the grant kept) while `failing`; the
    /// demo's provider outage for one connection. Returns how many refreshes were refused so
    /// far, all clients counted.
    pub fn fail_refreshes_of(&self, client_id: &str, failing: bool) -> u64 {
        let mut s = self.state.lock();
        if failing {
            s.refresh_failing_clients.insert(client_id.to_owned());
        } else {
            s.refresh_failing_clients.remove(client_id);
        }
        s.refresh_injected_failures
    }

    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            // A client holding a connection open must not hang the caller forever.
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                tracing::warn!("lab did not stop within 5 s");
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn router(state: Arc<LabState>, cancel: CancellationToken) -> Router {
    Router::new()
        .merge(oauth::routes())
        .merge(admin::routes())
        .nest("/api", rest::routes())
        .merge(mcp::routes(state.clone(), cancel.clone()))
        .merge(sse::routes(state.clone(), cancel))
        .with_state(state)
}
