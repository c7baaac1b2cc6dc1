//! RFC 7009 token revocation: tell the AS to drop the grant, then forget the token here.
//!
//! The refresh token goes first: revoking it ends the grant (and, at most servers, its access
//! tokens), and it is the long-lived one. If the AS cannot be reached or refuses, the token is
//! kept so the operator can retry: forgetting it locally while the AS still honours it would
//! leave a live grant nobody can see.

use std::time::Duration;

use super::form::post_form;
use super::spec::OAuthSpec;
use crate::domain::{Actor, ConnectionKey, ErrorClass, Failure};
use crate::secret::Secret;
use crate::store::{EventRecord, Grants, Store};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Rounds of "revoke, then forget if nobody rotated meanwhile" before giving up.
const ROUNDS: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// Revoked at `endpoint` and forgotten. `access_too`: the AS also accepted the access token
    /// (some only revoke refresh tokens, answering `unsupported_token_type`).
    AtServer { endpoint: String, access_too: bool },
    /// The AS has no revocation endpoint: forgotten here only; the grant lives until it expires
    /// or is revoked in the provider's console.
    LocalOnly,
    /// The stored token could not be decrypted: forgotten here, but not revoked at the AS
    /// (there was nothing readable to send).
    Unreadable,
    /// No token was stored: nothing to do.
    NothingStored,
}

pub async fn revoke_connection(
    store: &Store,
    grants: &Grants,
    http: &reqwest::Client,
    spec: &OAuthSpec,
    key: &ConnectionKey,
    actor: Actor,
) -> Result<Revoked, Failure> {
    let result = revoke_inner(store, grants, http, spec, key).await;
    let event = match &result {
        Ok(Revoked::NothingStored) => None,
        Ok(r) => Some(
            EventRecord::new(Some(key), "revoke", actor, "ok").detail(match r {
                Revoked::AtServer { endpoint, .. } => format!("revoked at {endpoint}"),
                _ => "no revocation endpoint; forgotten locally".to_string(),
            }),
        ),
        Err(f) => Some(EventRecord::new(Some(key), "revoke", actor, "failed").failure(f)),
    };
    if let Some(e) = event
        && let Err(err) = store.append_event(e).await
    {
        tracing::warn!("could not record the revoke event for {key}: {err}");
    }
    result
}

async fn revoke_inner(
    store: &Store,
    grants: &Grants,
    http: &reqwest::Client,
    spec: &OAuthSpec,
    key: &ConnectionKey,
) -> Result<Revoked, Failure> {
    let store_err = |e: crate::store::StoreError| Failure::new(ErrorClass::Config, e.to_string());
    match grants.load_token(key).await {
        Ok(Some(_)) => {}
        Ok(None) => return Ok(Revoked::NothingStored),
        // Without the plaintext there is nothing to send the AS; forgetting the row is what
        // lets `auth` start over, and the operator is told the grant was not revoked there.
        Err(crate::store::StoreError::TokenUnreadable { generation, .. }) => {
            let reason = "forgotten: the stored token could not be decrypted";
            return match grants.forget_token(key, generation, reason).await {
                Ok(true) => Ok(Revoked::Unreadable),
                Ok(false) => Err(changed_meanwhile(key)),
                Err(e) => Err(store_err(e)),
            };
        }
        Err(e) => return Err(store_err(e)),
    }
    // Auth type "mcp": the endpoints and client are the ones `switchboard auth` discovered.
    let spec = &super::mcp_auth::effective(store, &key.connector, spec).await?;
    let mut outcome = Revoked::NothingStored;
    for _ in 0..ROUNDS {
        let Some(token) = grants.load_token(key).await.map_err(store_err)? else {
            return Ok(outcome);
        };
        let endpoints = spec.resolve_endpoints(http).await?;
        outcome = match &endpoints.revoke {
            None => Revoked::LocalOnly,
            Some(url) => {
                let post = endpoints.client_secret_post;
                if let Some(rt) = &token.refresh {
                    revoke_one(http, spec, url, post, rt, "refresh_token").await?;
                }
                let access_too =
                    revoke_one(http, spec, url, post, &token.access, "access_token").await?;
                Revoked::AtServer {
                    endpoint: url.clone(),
                    access_too,
                }
            }
        };
        let reason = match &outcome {
            Revoked::AtServer { .. } => "revoked",
            _ => "forgotten (the authorization server has no revocation endpoint)",
        };
        if grants
            .forget_token(key, token.generation, reason)
            .await
            .map_err(store_err)?
        {
            return Ok(outcome);
        }
        // Another process refreshed while we revoked: revoke the newer token too.
    }
    Err(changed_meanwhile(key))
}

fn changed_meanwhile(key: &ConnectionKey) -> Failure {
    Failure::new(
        ErrorClass::Timeout,
        format!(
            "{key}'s token kept changing while being revoked (another switchboard is refreshing it); run the command again"
        ),
    )
}

/// One RFC 7009 request. `Ok(false)`: the AS does not revoke this kind of token.
async fn revoke_one(
    http: &reqwest::Client,
    spec: &OAuthSpec,
    url: &str,
    post: bool,
    token: &Secret,
    hint: &str,
) -> Result<bool, Failure> {
    let params = [("token", token.expose()), ("token_type_hint", hint)];
    let answer = post_form(http, url, spec, post, &params, REQUEST_TIMEOUT)
        .await
        .map_err(|mut f| {
            f.message = format!(
                "revocation failed ({}); the token was kept, run the command again",
                f.message
            );
            f
        })?;
    if answer.is_success() {
        return Ok(true);
    }
    if answer
        .oauth_error()
        .is_some_and(|e| e.error == "unsupported_token_type")
    {
        return Ok(false);
    }
    Err(Failure::new(
        ErrorClass::Auth,
        format!(
            "the revocation endpoint {url} refused the {hint}: {}; the token was kept; check client_id and client_secret",
            answer.describe()
        ),
    ))
}
