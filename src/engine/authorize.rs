//! `Command::Reauth` and `Command::Revoke`: giving a connection a grant, or taking it back,
//! through the engine's own broker and store. Progress (the URL to open, the device code and
//! its QR payload) goes out as `Event::Reauth`, so a console, a one-shot command or a later
//! remote front-end can each show it their way.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::api::Event;
use super::core::Engine;
use crate::auth::device::{self, DeviceProgress};
use crate::auth::flows::{self, Opener};
use crate::auth::revoke::{self, Revoked};
use crate::auth::{AuthSpec, OAuthSpec, mcp_auth};
use crate::domain::{Actor, ConnectionKey, ErrorClass, Failure, TokenMeta};

/// How a human approves the new grant.
#[derive(Debug, Clone)]
pub enum ReauthMethod {
    /// Authorization code + PKCE: the engine listens on loopback and `opener` shows the URL.
    Browser { opener: Opener },
    /// The device grant: a code entered on any other device.
    DeviceCode,
}

/// What a `Reauth` is doing now; every step is an `Event::Reauth` for the connection.
#[derive(Debug, Clone)]
pub enum ReauthProgress {
    /// Auth type `mcp`: finding the server's authorization server and a client.
    Discovering,
    /// Discovery found them.
    Discovered {
        authorization_endpoint: Option<String>,
        client_id: String,
    },
    /// Waiting for the browser; `url` is the authorization URL, for when none opened.
    OpenBrowser {
        url: String,
    },
    /// The device grant's prompt: `verification_uri_complete` is the QR code's payload.
    DeviceCode {
        verification_uri: String,
        user_code: String,
        verification_uri_complete: Option<String>,
        expires_in: Duration,
    },
    /// Still polling for the device approval.
    Waiting {
        elapsed: Duration,
        remaining: Duration,
    },
    Done(TokenMeta),
    Failed(Failure),
    Cancelled,
}

/// How a `Reauth` ended when it did not fail.
#[derive(Debug, Clone)]
pub enum ReauthOutcome {
    /// A new grant is stored and in use.
    Authorized(TokenMeta),
    /// The connection's auth type (`none`, `bearer`) has nothing to authorize.
    NothingToAuthorize { auth: &'static str },
}

/// How a `Revoke` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeOutcome {
    Revoked(Revoked),
    /// The auth type holds no grant (`none`, `bearer`).
    NoGrant {
        auth: &'static str,
    },
    /// Neither the config nor the store knows the connection.
    Unknown,
}

/// Whether the connector's grant is a machine's (client credentials): no user, so no device
/// code to approve.
pub fn machine_grant(spec: &super::ConnectorSpec) -> bool {
    matches!(spec.auth, AuthSpec::ClientCredentials(_))
}

impl Engine {
    fn reauth_progress(&self, key: &ConnectionKey, progress: ReauthProgress) {
        self.emit(Event::Reauth {
            key: key.clone(),
            progress,
        });
    }

    /// Runs a new authorization and installs the grant. A connection of a configured connector
    /// but an account the engine has not seen yet is registered first.
    pub async fn reauth(
        &self,
        key: &ConnectionKey,
        method: ReauthMethod,
        actor: Actor,
        cancel: &CancellationToken,
    ) -> Result<ReauthOutcome, Failure> {
        let result = tokio::select! {
            r = self.reauth_inner(key, method, actor) => r,
            _ = cancel.cancelled() => {
                self.reauth_progress(key, ReauthProgress::Cancelled);
                return Err(Failure::new(ErrorClass::Client, format!("{key}: authorization cancelled")));
            }
        };
        match &result {
            Ok(ReauthOutcome::Authorized(meta)) => {
                self.reauth_progress(key, ReauthProgress::Done(meta.clone()))
            }
            Ok(ReauthOutcome::NothingToAuthorize { .. }) => {}
            Err(f) => self.reauth_progress(key, ReauthProgress::Failed(f.clone())),
        }
        self.rearm_one(key);
        self.with_row(key, |_| ());
        self.publish_now();
        result
    }

    async fn reauth_inner(
        &self,
        key: &ConnectionKey,
        method: ReauthMethod,
        actor: Actor,
    ) -> Result<ReauthOutcome, Failure> {
        let spec = self.spec(key).ok_or_else(|| self.unknown(key))?;
        if let Some(f) = super::ready::config_problem(spec) {
            return Err(f);
        }
        if self.broker.spec(key).is_none() {
            self.broker
                .register(key.clone(), spec.auth.clone(), false)
                .await?;
        }
        let http = self.broker.http().clone();
        // Auth type "mcp": discover the authorization server and a client first; what follows
        // is the ordinary flow with the discovered endpoints and the RFC 8707 resource.
        let discovered;
        let auth = match &spec.auth {
            AuthSpec::OAuth(oauth) if oauth.mcp.is_some() => {
                self.reauth_progress(key, ReauthProgress::Discovering);
                let concrete = mcp_auth::prepare(&http, &self.store, &key.connector, oauth).await?;
                self.reauth_progress(
                    key,
                    ReauthProgress::Discovered {
                        authorization_endpoint: concrete
                            .endpoints
                            .as_ref()
                            .and_then(|e| e.authorize.clone()),
                        client_id: concrete.client_id.clone(),
                    },
                );
                discovered = AuthSpec::OAuth(concrete);
                &discovered
            }
            other => other,
        };
        let token = match (auth, method) {
            (AuthSpec::OAuth(oauth), ReauthMethod::DeviceCode) => {
                self.device_grant(key, &http, oauth).await?
            }
            (AuthSpec::OAuth(oauth), ReauthMethod::Browser { opener }) => {
                let show = |url: &str| {
                    self.reauth_progress(
                        key,
                        ReauthProgress::OpenBrowser {
                            url: url.to_string(),
                        },
                    )
                };
                flows::authorization_code(&http, oauth, opener, &show)
                    .await?
                    .token
            }
            (AuthSpec::ClientCredentials(_), ReauthMethod::DeviceCode) => {
                return Err(Failure::new(
                    ErrorClass::Config,
                    format!(
                        "{key} uses client credentials: there is no user to approve a device code; run `switchboard auth {}` without --device",
                        key.connector
                    ),
                ));
            }
            // A machine grant needs nobody: a refresh is a new authorization.
            (AuthSpec::ClientCredentials(_), _) => {
                return self
                    .broker
                    .refresh_now(key, actor)
                    .await
                    .map(ReauthOutcome::Authorized);
            }
            (other @ (AuthSpec::None | AuthSpec::Bearer(_)), _) => {
                return Ok(ReauthOutcome::NothingToAuthorize {
                    auth: other.label(),
                });
            }
        };
        let meta = self.broker.install(key, token, actor).await?;
        self.with_row(key, |r| r.last_error = None);
        Ok(ReauthOutcome::Authorized(meta))
    }

    async fn device_grant(
        &self,
        key: &ConnectionKey,
        http: &reqwest::Client,
        oauth: &OAuthSpec,
    ) -> Result<crate::store::NewToken, Failure> {
        let on = |p: DeviceProgress<'_>| {
            let progress = match p {
                DeviceProgress::Prompt(prompt) => ReauthProgress::DeviceCode {
                    verification_uri: prompt.verification_uri.clone(),
                    user_code: prompt.user_code.clone(),
                    verification_uri_complete: prompt.verification_uri_complete.clone(),
                    expires_in: prompt.expires_in,
                },
                DeviceProgress::Waiting {
                    elapsed, remaining, ..
                } => ReauthProgress::Waiting { elapsed, remaining },
            };
            self.reauth_progress(key, progress);
        };
        device::device_authorization(http, oauth, &on).await
    }

    /// Revokes the grant at the authorization server (when it has a revocation endpoint) and
    /// forgets it. A connector no longer in the config is revoked with what was kept when it
    /// was authorized (`auth::recipe`), if anything was.
    pub async fn revoke(
        &self,
        key: &ConnectionKey,
        actor: Actor,
    ) -> Result<RevokeOutcome, Failure> {
        let oauth = match self.spec(key) {
            Some(spec) => {
                if let Some(f) = super::ready::config_problem(spec) {
                    return Err(f);
                }
                match spec.auth.oauth() {
                    Some(o) => o.clone(),
                    None => {
                        return Ok(RevokeOutcome::NoGrant {
                            auth: spec.auth.label(),
                        });
                    }
                }
            }
            None => match crate::auth::recipe::load(&self.store, key).await? {
                Some(o) => o,
                None => return Ok(RevokeOutcome::Unknown),
            },
        };
        let outcome = revoke::revoke_connection(
            &self.store,
            self.broker.grants(),
            self.broker.http(),
            &oauth,
            key,
            actor,
        )
        .await?;
        // The broker's copy of the token is gone from the store: let it know.
        if self.broker.spec(key).is_some() {
            let _ = self.broker.sync_from_store(key).await;
        }
        self.with_row(key, |_| ());
        self.publish_now();
        Ok(RevokeOutcome::Revoked(outcome))
    }
}
