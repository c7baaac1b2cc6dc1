//! Shared state of the lab: grants, tokens, codes, device requests and counters.
//!
//! One std `Mutex` guards everything; handlers lock, decide, unlock, and only then build a
//! response, so the lock is never held across an `.await`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;

use super::{
    DOOMED_CLIENT, FLAKY_CLIENT, LabOptions, LabStats, PUBLIC_CLIENT, SERVICE_CLIENT,
    SERVICE_SECRET,
};

/// The resource owner every user-facing flow logs in as: the lab has no login page.
pub(crate) const DEMO_USER: &str = "demo-user";
pub(crate) const SCOPES_SUPPORTED: &[&str] = &["mcp:tools", "api:read", "offline_access"];
pub(crate) const DEFAULT_SCOPE: &str = "mcp:tools api:read";
/// Granted on request but advertised by no resource: `LabOptions::mcp_call_scope` asks for it.
pub(crate) const ADMIN_SCOPE: &str = "mcp:admin";

pub(crate) enum ClientKind {
    Public,
    Confidential { secret: &'static str },
}

/// The built-in clients, then the public clients registered at `/register` (RFC 7591).
pub(crate) fn client_kind(state: &LabState, client_id: &str) -> Option<ClientKind> {
    match client_id {
        PUBLIC_CLIENT | DOOMED_CLIENT | FLAKY_CLIENT => Some(ClientKind::Public),
        SERVICE_CLIENT => Some(ClientKind::Confidential {
            secret: SERVICE_SECRET,
        }),
        _ if state.lock().registered.contains(client_id) => Some(ClientKind::Public),
        _ => super::fleet::fleet_client(client_id),
    }
}

/// Who a valid access token speaks for; the MCP middleware hands it to the tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub client_id: String,
    pub sub: String,
    pub scope: String,
}

pub(crate) struct Grant {
    pub client_id: String,
    pub sub: String,
    pub scope: String,
    pub revoked: bool,
}

struct AccessRec {
    grant: u64,
    expires: Instant,
}

struct RefreshRec {
    grant: u64,
    /// Kept after rotation so a replay is recognised as reuse, not as an unknown token.
    used: bool,
}

pub(crate) struct CodeRec {
    pub client_id: String,
    pub redirect_uri: String,
    pub challenge: Option<String>,
    pub scope: String,
    /// RFC 8707 `resource` of the authorization request, which the code exchange must repeat.
    pub resource: Option<String>,
    pub expires: Instant,
}

pub(crate) struct DeviceRec {
    pub client_id: String,
    pub user_code: String,
    pub scope: String,
    pub created: Instant,
    pub expires: Instant,
    pub approved: bool,
    pub denied: bool,
    pub consumed: bool,
    pub interval: Duration,
    pub last_poll: Option<Instant>,
    pub polls: u32,
}

/// A freshly minted token pair, ready to be serialised into a token response.
pub(crate) struct Issued {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub scope: String,
}

#[derive(Default)]
pub(crate) struct Store {
    grants: HashMap<u64, Grant>,
    access: HashMap<String, AccessRec>,
    refresh: HashMap<String, RefreshRec>,
    pub codes: HashMap<String, CodeRec>,
    /// Public clients registered through `/register`.
    pub registered: std::collections::HashSet<String>,
    pub devices: HashMap<String, DeviceRec>,
    next_grant: u64,
    issued: Vec<String>,
    pub stats: LabStats,
    pub down: bool,
    /// Answer token requests this late, AFTER processing them: like a slow network on the way
    /// back, the rotation has happened when the client is still waiting (the window in which a
    /// dying client loses a rotated refresh token).
    pub answer_delay_ms: u64,
    /// Share of refresh-token grants answered 503 *before* the refresh token is looked at, so a
    /// failed attempt leaves the grant intact: a flaky provider, not a lost one.
    pub refresh_failure_rate: f64,
    /// Refresh attempts refused that way.
    pub refresh_injected_failures: u64,
    /// Clients whose every refresh is answered 503 that way (the demo's flaky provider).
    pub refresh_failing_clients: std::collections::HashSet<String>,
    /// Token requests being answered now.
    pub token_in_flight: u64,
    /// Access tokens purged after expiry.
    expired: std::collections::HashSet<String>,
}

const EXPIRED_REMEMBERED: usize = 200_000;

/// Outcome of presenting a refresh token.
pub(crate) enum RefreshOutcome {
    Rotated(Issued),
    /// The token had already been rotated away: the whole grant is now revoked.
    Reused,
    Invalid,
    WrongClient,
}

pub struct LabState {
    pub(crate) opts: LabOptions,
    pub(crate) issuer: String,
    store: Mutex<Store>,
    /// Open legacy SSE sessions (`/sse`); kept here so the admin hooks can reach them.
    pub(crate) sse: super::sse::SseSessions,
    /// The streamable HTTP server's sessions; the admin hooks expire them.
    pub(crate) mcp_sessions: std::sync::Arc<
        rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
    >,
}

pub(crate) fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

impl LabState {
    pub(crate) fn new(opts: LabOptions, issuer: String) -> Self {
        Self {
            opts,
            issuer,
            store: Mutex::new(Store::default()),
            sse: Default::default(),
            mcp_sessions: Default::default(),
        }
    }

    /// A panic in one handler must not take the whole lab down with a poisoned lock.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn validate(&self, access_token: &str) -> Option<TokenInfo> {
        let mut store = self.lock();
        let expired = match store.access.get(access_token) {
            Some(rec) => rec.expires <= Instant::now(),
            None => store.expired.contains(access_token),
        };
        if expired {
            // What a client that refreshes in time never does: the soak tests count these.
            store.stats.expired_token_uses += 1;
            return None;
        }
        let rec = store.access.get(access_token)?;
        let grant = store.grants.get(&rec.grant)?;
        if grant.revoked {
            return None;
        }
        Some(TokenInfo {
            client_id: grant.client_id.clone(),
            sub: grant.sub.clone(),
            scope: grant.scope.clone(),
        })
    }
}

impl Store {
    pub(crate) fn new_grant(&mut self, client_id: &str, sub: &str, scope: &str) -> u64 {
        self.next_grant += 1;
        let id = self.next_grant;
        self.grants.insert(
            id,
            Grant {
                client_id: client_id.to_owned(),
                sub: sub.to_owned(),
                scope: scope.to_owned(),
                revoked: false,
            },
        );
        id
    }

    pub(crate) fn issue(&mut self, grant: u64, ttl: Duration, with_refresh: bool) -> Issued {
        self.purge_expired();
        let access_token = random_token("lab_at_");
        self.access.insert(
            access_token.clone(),
            AccessRec {
                grant,
                expires: Instant::now() + ttl,
            },
        );
        self.issued.push(access_token.clone());
        let refresh_token = with_refresh.then(|| {
            let rt = random_token("lab_rt_");
            self.refresh
                .insert(rt.clone(), RefreshRec { grant, used: false });
            self.issued.push(rt.clone());
            rt
        });
        let scope = self
            .grants
            .get(&grant)
            .map(|g| g.scope.clone())
            .unwrap_or_default();
        Issued {
            access_token,
            refresh_token,
            scope,
        }
    }

    /// A demo left running for days must not grow without bound. Used refresh tokens stay:
    /// they are what reuse detection recognises.
    fn purge_expired(&mut self) {
        let now = Instant::now();
        let expired = &mut self.expired;
        self.access.retain(|token, rec| {
            let live = rec.expires > now;
            // Remembered (up to a bound) so a late use is told apart from a made-up token.
            if !live && expired.len() < EXPIRED_REMEMBERED {
                expired.insert(token.clone());
            }
            live
        });
        self.codes.retain(|_, rec| rec.expires > now);
        // Expired device codes linger a while so late pollers get `expired_token`.
        self.devices
            .retain(|_, rec| rec.expires + Duration::from_secs(600) > now);
    }

    pub(crate) fn refresh(
        &mut self,
        token: &str,
        client_id: &str,
        ttl: Duration,
    ) -> RefreshOutcome {
        let Some(rec) = self.refresh.get(token) else {
            return RefreshOutcome::Invalid;
        };
        let (grant_id, used) = (rec.grant, rec.used);
        let Some(grant) = self.grants.get(&grant_id) else {
            return RefreshOutcome::Invalid;
        };
        if grant.revoked {
            return RefreshOutcome::Invalid;
        }
        if grant.client_id != client_id {
            return RefreshOutcome::WrongClient;
        }
        if used {
            // Like oidc-provider: no grace window; a replay means the family leaked.
            self.revoke_grant(grant_id);
            self.stats.reuse_detected += 1;
            return RefreshOutcome::Reused;
        }
        if let Some(rec) = self.refresh.get_mut(token) {
            rec.used = true;
        }
        RefreshOutcome::Rotated(self.issue(grant_id, ttl, true))
    }

    /// Revokes a grant with all its tokens. Returns false when it was already revoked.
    pub(crate) fn revoke_grant(&mut self, grant_id: u64) -> bool {
        let Some(grant) = self.grants.get_mut(&grant_id) else {
            return false;
        };
        if grant.revoked {
            return false;
        }
        grant.revoked = true;
        self.access.retain(|_, rec| rec.grant != grant_id);
        self.stats.grants_revoked += 1;
        true
    }

    pub(crate) fn revoke_client(&mut self, client_id: &str) -> usize {
        let ids: Vec<u64> = self
            .grants
            .iter()
            .filter(|(_, g)| g.client_id == client_id && !g.revoked)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter().filter(|id| self.revoke_grant(*id)).count()
    }

    /// RFC 7009 revocation: a refresh token takes its grant with it, an access token only itself.
    pub(crate) fn revoke_token(&mut self, token: &str) {
        if let Some(grant) = self.refresh.get(token).map(|r| r.grant) {
            self.revoke_grant(grant);
        } else {
            self.access.remove(token);
        }
    }

    pub(crate) fn issued_secrets(&self) -> Vec<String> {
        self.issued.clone()
    }
}

/// Validates a space-separated scope string against what the lab supports.
pub(crate) fn check_scope(requested: Option<&str>) -> Result<String, String> {
    let Some(requested) = requested.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(DEFAULT_SCOPE.to_owned());
    };
    match requested
        .split_whitespace()
        .find(|s| !SCOPES_SUPPORTED.contains(s) && *s != ADMIN_SCOPE)
    {
        Some(bad) => Err(format!("unsupported scope: {bad}")),
        None => Ok(requested.split_whitespace().collect::<Vec<_>>().join(" ")),
    }
}

pub(crate) fn user_code() -> String {
    // No vowels or look-alikes, so codes are easy to read aloud and never spell words.
    const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
    let mut rng = rand::rng();
    let mut pick = || ALPHABET[rng.random_range(0..ALPHABET.len())] as char;
    let a: String = (0..4).map(|_| pick()).collect();
    let b: String = (0..4).map(|_| pick()).collect();
    format!("{a}-{b}")
}
