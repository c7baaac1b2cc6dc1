//! MCP authorization for an ad hoc `--url` target, which has no config entry and no store:
//! when the server answers 401, discovery runs from the challenge it sent (RFC 9728 → RFC 8414
//! → a client → authorization code + PKCE with the RFC 8707 resource), the request is sent
//! again with the new token, and a 403 `insufficient_scope` steps up to the union of scopes.
//!
//! The token lives in memory for this one command: an ad hoc target is for poking a server,
//! and nothing here refreshes (a one-shot command ends long before any token it got expires).
//! A server worth keeping authorized belongs in config as `type = "mcp"`, where the store
//! keeps the grant and the broker refreshes it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Credential;
use super::flows::{self, Opener};
use super::mcp_auth::{self, Discovery};
use super::mcp_client::{self, Client};
use super::source::{BoxFut, TokenSource, parse_challenge};
use super::spec::{McpServer, OAuthSpec};
use super::step_up::step_up_scopes;
use crate::classify::challenge::BearerChallenge;
use crate::domain::{ErrorClass, Failure};
use crate::secret::Secret;

/// Authorizations one command may run: the first, plus step-ups. The MCP spec's conformance
/// suite allows three before it calls a client a loop.
pub const MAX_AUTHORIZATIONS: u32 = 3;

/// Who switchboard is at the server's authorization server, from the command line.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// A pre-registered client.
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    /// A Client ID Metadata Document URL, used when the AS supports them.
    pub client_metadata_url: Option<String>,
    /// No user: the client credentials grant with `client_id` and `client_secret`.
    pub machine: bool,
    /// A machine client authenticating with signed assertions (private_key_jwt), not a secret.
    pub private_key: Option<std::sync::Arc<super::client_assertion::SigningKey>>,
    /// Enterprise-managed authorization through this identity provider (implies `machine`).
    pub cross_app: Option<super::cross_app::IdP>,
}

pub struct AdHocAuth {
    http: reqwest::Client,
    server: String,
    options: ClientOptions,
    opener: Opener,
    /// One authorization at a time: concurrent 401s (a POST and the GET stream) must share one
    /// login, not open two browsers.
    state: tokio::sync::Mutex<State>,
    /// Why authorization last failed, so the command reports that rather than a bare 401.
    failure: Mutex<Option<Failure>>,
    /// A login is in progress: connect timeouts wait for the human.
    busy: AtomicBool,
}

#[derive(Default)]
struct State {
    token: Option<Secret>,
    scopes: Vec<String>,
    found: Option<(Discovery, Client)>,
    authorizations: u32,
}

impl std::fmt::Debug for AdHocAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdHocAuth")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl AdHocAuth {
    pub fn new(
        http: reqwest::Client,
        server: &str,
        options: ClientOptions,
        opener: Opener,
    ) -> Self {
        Self {
            http,
            server: server.to_string(),
            options,
            opener,
            state: tokio::sync::Mutex::new(State::default()),
            failure: Mutex::new(None),
            busy: AtomicBool::new(false),
        }
    }

    /// Whether an authorization is running right now.
    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed)
    }

    /// Why authorization failed, if it did.
    pub fn failure(&self) -> Option<Failure> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    /// How many authorizations this command ran.
    pub async fn authorizations(&self) -> u32 {
        self.state.lock().await.authorizations
    }

    fn failed(&self, failure: Failure) -> Failure {
        if let Ok(mut slot) = self.failure.lock() {
            *slot = Some(failure.clone());
        }
        failure
    }

    fn spec(&self) -> OAuthSpec {
        OAuthSpec {
            endpoints: None,
            issuer: None,
            client_id: self.options.client_id.clone().unwrap_or_default(),
            client_secret: self.options.client_secret.clone(),
            scopes: Vec::new(),
            pkce: true,
            extra_params: Vec::new(),
            redirect_port: None,
            token_auth: None,
            scope_separator: " ".into(),
            resource: None,
            mcp: Some(McpServer {
                url: self.server.clone(),
                client_metadata_url: self.options.client_metadata_url.clone(),
            }),
        }
    }

    /// Discovery (unless this issuer was already found) and one authorization code flow.
    async fn authorize(
        &self,
        state: &mut State,
        challenge: Option<BearerChallenge>,
        scopes: Option<Vec<String>>,
    ) -> Result<Credential, Failure> {
        if state.authorizations >= MAX_AUTHORIZATIONS {
            return Err(Failure::new(
                ErrorClass::Auth,
                format!(
                    "{} still refuses after {MAX_AUTHORIZATIONS} authorizations; check the account's permissions on the server",
                    self.server
                ),
            ));
        }
        if self.options.machine {
            return self.client_credentials(state, challenge, scopes).await;
        }
        let spec = self.spec();
        let (found, client) = match state.found.take() {
            Some(found) => found,
            None => {
                let found = mcp_auth::discover_from(&self.http, &self.server, challenge).await?;
                let client = mcp_client::choose(&self.http, &spec, None, &found).await?;
                (found, client)
            }
        };
        let scopes = scopes.unwrap_or_else(|| found.scopes.clone());
        let concrete = mcp_auth::concrete(
            &spec,
            found.metadata.endpoints(),
            &client,
            found.resource.clone(),
            scopes.clone(),
        );
        state.authorizations += 1;
        eprintln!(
            "{} asks for authorization at {}; complete the login in the browser",
            self.server, found.issuer
        );
        state.found = Some((found, client));
        let on_url = |url: &str| eprintln!("If no browser opened, visit:\n  {url}");
        self.busy.store(true, Ordering::Relaxed);
        let outcome =
            flows::authorization_code(&self.http, &concrete, self.opener.clone(), &on_url).await;
        self.busy.store(false, Ordering::Relaxed);
        let outcome = outcome?;
        let granted = if outcome.token.scopes.is_empty() {
            scopes
        } else {
            outcome.token.scopes.clone()
        };
        state.scopes = granted;
        state.token = Some(outcome.token.access.clone());
        Ok(Credential::Bearer(outcome.token.access))
    }
}

impl AdHocAuth {
    /// A machine client (SEP-1046): discovery as for a login, then one client credentials
    /// request with the RFC 8707 resource; no browser, no PKCE.
    async fn client_credentials(
        &self,
        state: &mut State,
        challenge: Option<BearerChallenge>,
        scopes: Option<Vec<String>>,
    ) -> Result<Credential, Failure> {
        let found = match state.found.take() {
            Some((found, _)) => found,
            None => mcp_auth::discover_for_machine(&self.http, &self.server, challenge).await?,
        };
        let client = Client {
            id: self.options.client_id.clone().unwrap_or_default(),
            secret: self.options.client_secret.clone(),
            source: mcp_client::CONFIGURED,
            registered_at: None,
        };
        let scopes = scopes.unwrap_or_else(|| found.scopes.clone());
        let spec = mcp_auth::concrete(
            &self.spec(),
            found.metadata.endpoints(),
            &client,
            found.resource.clone(),
            scopes.clone(),
        );
        state.authorizations += 1;
        eprintln!(
            "{} asks for authorization at {}; requesting a token as client {} (client credentials)",
            self.server, found.issuer, client.id
        );
        let issuer = found.issuer.clone();
        state.found = Some((found, client));
        let token = match (&self.options.cross_app, &self.options.private_key) {
            (Some(idp), _) => {
                let (token_endpoint, resource) = match state.found.as_ref() {
                    Some((found, _)) => (
                        found.metadata.token_endpoint.clone(),
                        found.resource.clone(),
                    ),
                    None => (String::new(), None),
                };
                let target = super::cross_app::Target {
                    issuer: &issuer,
                    token_endpoint: &token_endpoint,
                    resource: resource.as_deref(),
                    scopes: &spec.scopes,
                    client_id: &spec.client_id,
                    client_secret: spec.client_secret.as_ref(),
                };
                super::cross_app::authorize(&self.http, idp, &target).await?
            }
            (None, key) => match key {
                // RFC 7523 lets the audience be the AS's issuer identifier; it is what the MCP
                // machine-to-machine extension's servers check.
                Some(key) => {
                    super::oauth::client_credentials_signed(&self.http, &spec, key, &issuer).await?
                }
                None => super::oauth::client_credentials_for(&self.http, &spec).await?,
            },
        };
        state.scopes = if token.scopes.is_empty() {
            scopes
        } else {
            token.scopes.clone()
        };
        state.token = Some(token.access.clone());
        Ok(Credential::Bearer(token.access))
    }
}

fn same(refused: &Credential, current: Option<&Secret>) -> bool {
    match (refused, current) {
        (Credential::None, None) => true,
        (Credential::Bearer(a), Some(b)) => a.expose() == b.expose(),
        _ => false,
    }
}

impl TokenSource for AdHocAuth {
    fn current(&self) -> BoxFut<'_, Result<Credential, Failure>> {
        Box::pin(async move {
            let state = self.state.lock().await;
            Ok(match &state.token {
                Some(t) => Credential::Bearer(t.clone()),
                None => Credential::None,
            })
        })
    }

    fn unauthorized<'a>(
        &'a self,
        refused: &'a Credential,
        header: Option<&'a str>,
    ) -> BoxFut<'a, Result<Option<Credential>, Failure>> {
        Box::pin(async move {
            let mut state = self.state.lock().await;
            // Another request already authorized while this one waited for the lock.
            if !same(refused, state.token.as_ref()) {
                return Ok(state.token.clone().map(Credential::Bearer));
            }
            let challenge = header.and_then(parse_challenge);
            // A token just granted and refused again: discovery may have been wrong (another
            // issuer); start over from this challenge.
            if state.token.is_some() {
                state.found = None;
            }
            match self.authorize(&mut state, challenge, None).await {
                Ok(credential) => Ok(Some(credential)),
                Err(f) => Err(self.failed(f)),
            }
        })
    }

    fn insufficient_scope<'a>(
        &'a self,
        header: &'a str,
        attempts: u32,
    ) -> BoxFut<'a, Result<Option<Credential>, Failure>> {
        Box::pin(async move {
            let mut state = self.state.lock().await;
            let Some(challenge) = parse_challenge(header) else {
                return Err(self.failed(crate::classify::insufficient_scope(&[])));
            };
            let wanted =
                step_up_scopes(&state.scopes, &challenge, attempts).map_err(|f| self.failed(f))?;
            tracing::info!(
                "{} needs scopes {}; authorizing again (step-up)",
                self.server,
                wanted.join(" ")
            );
            match self
                .authorize(&mut state, Some(challenge), Some(wanted))
                .await
            {
                Ok(credential) => Ok(Some(credential)),
                Err(f) => Err(self.failed(f)),
            }
        })
    }

    fn label(&self) -> String {
        self.server.clone()
    }
}
