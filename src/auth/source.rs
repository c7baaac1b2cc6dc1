//! Where an MCP transport gets the credential for each request, and what it does when the
//! server refuses it. Both HTTP transports (streamable HTTP and legacy SSE) take one, so a
//! configured connection and an ad hoc `--url` differ only in the source:
//!
//! - [`BrokerSource`]: the token broker, the one path to a managed token (a 401 asks it once
//!   for a newer token; a 403 `insufficient_scope` is remembered for the next `switchboard auth`).
//! - [`StaticSource`]: `--bearer`, or nothing; refusals are reported as they are.
//! - [`super::adhoc_auth::AdHocAuth`]: an ad hoc `--url` without credentials, which runs MCP
//!   authorization when the server answers 401 and steps up on 403.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::broker::EXPIRY_SKEW_MS;
use super::{Broker, Credential, Need};
use crate::classify::challenge::{self, BearerChallenge};
use crate::domain::{Actor, ConnectionKey, Failure};

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How many step-ups (re-authorizations for more scope) one request may cause. Past it, the
/// 403 is reported: a server that keeps asking must not loop an operator through consent.
pub use super::step_up::STEP_UP_RETRIES;

pub trait TokenSource: Send + Sync {
    /// The credential to send now.
    fn current(&self) -> BoxFut<'_, Result<Credential, Failure>>;

    /// The server answered 401 to `refused`, with this `WWW-Authenticate` challenge.
    /// `Some(credential)`: worth exactly one retry with it. `None`: report the 401.
    fn unauthorized<'a>(
        &'a self,
        refused: &'a Credential,
        challenge: Option<&'a str>,
    ) -> BoxFut<'a, Result<Option<Credential>, Failure>>;

    /// The server answered 403 with this challenge; `attempts` step-ups were already made for
    /// the request. `Some(credential)`: retry with it. `None`: report the 403.
    fn insufficient_scope<'a>(
        &'a self,
        challenge: &'a str,
        attempts: u32,
    ) -> BoxFut<'a, Result<Option<Credential>, Failure>>;

    /// Who this source serves, for logs.
    fn label(&self) -> String;
}

pub type SharedSource = Arc<dyn TokenSource>;

/// Parses one `WWW-Authenticate` value into its Bearer challenge.
pub fn parse_challenge(header: &str) -> Option<BearerChallenge> {
    challenge::bearer([header])
}

/// Who asked for what a connection's session is doing now, for the event log. A session is
/// shared by everyone who uses the connection, so each operation sets this as it starts
/// rather than the session remembering whoever opened it.
#[derive(Debug)]
pub struct Acting(std::sync::Mutex<Actor>);

impl Acting {
    pub fn new(actor: Actor) -> Arc<Self> {
        Arc::new(Self(std::sync::Mutex::new(actor)))
    }

    pub fn set(&self, actor: Actor) {
        if let Ok(mut a) = self.0.lock() {
            *a = actor;
        }
    }

    pub fn get(&self) -> Actor {
        self.0.lock().map(|a| *a).unwrap_or(Actor::Scheduler)
    }
}

/// A configured connection's tokens, from the broker.
pub struct BrokerSource {
    broker: Arc<Broker>,
    key: ConnectionKey,
    actor: Arc<Acting>,
    /// Why the broker last had no token to give. A transport sends without one and reports
    /// the server's 401; this is what that report must say instead (a machine client's
    /// refused assertion, say), since the 401 only follows from it.
    no_token: std::sync::Mutex<Option<Failure>>,
}

impl BrokerSource {
    pub fn shared(broker: Arc<Broker>, key: ConnectionKey, actor: Arc<Acting>) -> SharedSource {
        Arc::new(Self {
            broker,
            key,
            actor,
            no_token: std::sync::Mutex::new(None),
        })
    }
}

impl TokenSource for BrokerSource {
    fn current(&self) -> BoxFut<'_, Result<Credential, Failure>> {
        Box::pin(async move {
            let got = self
                .broker
                .obtain(&self.key, self.actor.get(), Need::ValidFor(EXPIRY_SKEW_MS))
                .await;
            if let Ok(mut slot) = self.no_token.lock() {
                *slot = got.as_ref().err().cloned();
            }
            got
        })
    }

    fn unauthorized<'a>(
        &'a self,
        refused: &'a Credential,
        _challenge: Option<&'a str>,
    ) -> BoxFut<'a, Result<Option<Credential>, Failure>> {
        Box::pin(async move {
            // No token was sent: the broker has none to give, and its reason is the error.
            if matches!(refused, Credential::None) {
                return match self.no_token.lock().ok().and_then(|mut f| f.take()) {
                    Some(why) => Err(why),
                    None => Ok(None),
                };
            }
            // Revoked or rotated elsewhere: a token newer than the one refused, once.
            let generation = self.broker.meta(&self.key).map(|(_, g)| g).unwrap_or(0);
            let need = Need::Newer {
                than_generation: generation,
            };
            let newer = self
                .broker
                .obtain(&self.key, self.actor.get(), need)
                .await?;
            Ok(Some(newer))
        })
    }

    fn insufficient_scope<'a>(
        &'a self,
        header: &'a str,
        attempts: u32,
    ) -> BoxFut<'a, Result<Option<Credential>, Failure>> {
        Box::pin(async move {
            // A configured connection re-authorizes through `switchboard auth` (a human, a
            // browser); what it can do here is remember the scopes so that run asks for them.
            let Some(challenge) = parse_challenge(header) else {
                return Ok(None);
            };
            let connector = self.key.connector.as_str();
            match super::step_up::record_step_up(
                self.broker.store(),
                connector,
                &challenge,
                attempts,
            )
            .await
            {
                Ok(scopes) => Err(super::step_up::step_up_needed(connector, &scopes)),
                Err(f) => Err(f),
            }
        })
    }

    fn label(&self) -> String {
        self.key.to_string()
    }
}

/// `--bearer TOKEN` or no credential at all: nothing to renew.
pub struct StaticSource {
    credential: Credential,
    label: String,
}

impl StaticSource {
    pub fn shared(credential: Credential, label: impl Into<String>) -> SharedSource {
        Arc::new(Self {
            credential,
            label: label.into(),
        })
    }
}

impl TokenSource for StaticSource {
    fn current(&self) -> BoxFut<'_, Result<Credential, Failure>> {
        let credential = self.credential.clone();
        Box::pin(async move { Ok(credential) })
    }

    fn unauthorized<'a>(
        &'a self,
        _refused: &'a Credential,
        _challenge: Option<&'a str>,
    ) -> BoxFut<'a, Result<Option<Credential>, Failure>> {
        Box::pin(async { Ok(None) })
    }

    fn insufficient_scope<'a>(
        &'a self,
        header: &'a str,
        _attempts: u32,
    ) -> BoxFut<'a, Result<Option<Credential>, Failure>> {
        Box::pin(async move {
            let scope = parse_challenge(header).map(|c| c.scope).unwrap_or_default();
            Err(crate::classify::insufficient_scope(&scope))
        })
    }

    fn label(&self) -> String {
        self.label.clone()
    }
}

/// One plain HTTP request (the legacy SSE transport's GET and POSTs) under a source: sent with
/// its credential, once more after a 401 if the source renews, and again after a 403
/// `insufficient_scope` if it steps up. The last response is returned as it is.
pub async fn send_authorized<F, Fut>(
    source: &dyn TokenSource,
    send: F,
) -> Result<reqwest::Response, Failure>
where
    F: Fn(Credential) -> Fut,
    Fut: Future<Output = Result<reqwest::Response, Failure>>,
{
    let mut credential = source.current().await?;
    let (mut renewed, mut step_ups) = (false, 0u32);
    loop {
        let resp = send(credential.clone()).await?;
        let www = resp
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let scope_challenge = www
            .as_deref()
            .and_then(parse_challenge)
            .is_some_and(|c| c.error.as_deref() == Some("insufficient_scope"));
        let next = match resp.status().as_u16() {
            401 if !renewed => {
                renewed = true;
                source.unauthorized(&credential, www.as_deref()).await?
            }
            403 if scope_challenge && step_ups <= STEP_UP_RETRIES => {
                let attempts = step_ups;
                step_ups += 1;
                source
                    .insufficient_scope(www.as_deref().unwrap_or_default(), attempts)
                    .await?
            }
            _ => return Ok(resp),
        };
        match next {
            Some(better) => credential = better,
            None => return Ok(resp),
        }
    }
}
