//! MCP client sessions, one per connection, kept open between probes and tool calls. A session
//! that fails is dropped and re-established on next use.

pub mod adhoc;
pub mod call;
pub mod catalog;
pub mod elicit;
pub mod handler;
pub mod http_client;
mod ops;
pub mod sampling;
pub mod sse;
mod sse_body;
pub mod tap;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::{ClientRequest, PingRequest, ServerResult};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use rmcp::transport::TokioChildProcess;
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
};
use tokio::io::AsyncBufReadExt;
use tokio::sync::Mutex;

use crate::auth::Broker;
use crate::auth::source::{Acting, BrokerSource};
use crate::classify::mcp::{classify_client_init, classify_service};
use crate::domain::{Actor, ConnectionKey, ErrorClass, Failure};
use crate::store::{EventRecord, Store};
pub use catalog::Catalogues;
use elicit::Elicitor;
pub use handler::SessionHandler;
pub use http_client::AuthedHttpClient;
pub use sse::SseClientTransport;
use sse::explain_closed;
use tap::Tapped;
pub use tap::Transcripts;

pub type Session = RunningService<RoleClient, SessionHandler>;

/// Where and how to reach one MCP server; built from the connector's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    StreamableHttp {
        url: String,
    },
    Sse {
        url: String,
    },
    Stdio {
        command: String,
        args: Vec<String>,
        env: Vec<(String, String)>,
    },
}

pub struct McpPool {
    broker: Arc<Broker>,
    store: Store,
    http: reqwest::Client,
    sessions: Mutex<HashMap<ConnectionKey, Arc<Session>>>,
    /// One connect at a time per connection: a probe and a tool call (or two probes) that
    /// both find no session must not each `initialize` one, leaving the server an orphan.
    connecting: std::sync::Mutex<HashMap<ConnectionKey, Arc<Mutex<()>>>>,
    /// Why a legacy SSE session's stream ended; rmcp only reports "transport closed".
    close_reasons: std::sync::Mutex<HashMap<ConnectionKey, sse::CloseReason>>,
    catalogues: Arc<Catalogues>,
    connect_timeout: Duration,
    elicit: Elicitor,
    /// Connector id → the revision its sessions propose (`protocol_version`).
    protocols: HashMap<String, rmcp::model::ProtocolVersion>,
    /// Connector id → the roots its sessions offer (`roots`).
    roots: HashMap<String, Vec<String>>,
    /// Who each connection's session currently works for (see `Acting`).
    acting: std::sync::Mutex<HashMap<ConnectionKey, Arc<Acting>>>,
    default_actor: Actor,
    /// Every session's messages, for the console's protocol tab.
    transcripts: Arc<Transcripts>,
}

impl McpPool {
    pub fn new(broker: Arc<Broker>, store: Store, http: reqwest::Client) -> Self {
        Self {
            broker,
            store,
            http,
            sessions: Mutex::new(HashMap::new()),
            connecting: std::sync::Mutex::new(HashMap::new()),
            close_reasons: std::sync::Mutex::new(HashMap::new()),
            catalogues: Arc::new(Catalogues::default()),
            connect_timeout: Duration::from_secs(15),
            elicit: Elicitor::default(),
            protocols: HashMap::new(),
            roots: HashMap::new(),
            acting: std::sync::Mutex::new(HashMap::new()),
            default_actor: Actor::Scheduler,
            transcripts: Arc::new(Transcripts::default()),
        }
    }

    /// Records sessions' messages into `transcripts` (whose owner hears of each one).
    pub fn with_transcripts(mut self, transcripts: Arc<Transcripts>) -> Self {
        self.transcripts = transcripts;
        self
    }

    pub fn transcripts(&self) -> &Arc<Transcripts> {
        &self.transcripts
    }

    /// Who a connection's token requests are logged for until an operation says otherwise.
    pub fn with_actor(mut self, actor: Actor) -> Self {
        self.default_actor = actor;
        self
    }

    /// Logs what `key`'s session does from now on (a refresh its requests cause) for `actor`.
    pub fn act_as(&self, key: &ConnectionKey, actor: Actor) {
        self.acting(key).set(actor);
    }

    fn acting(&self, key: &ConnectionKey) -> Arc<Acting> {
        match self.acting.lock() {
            Ok(mut m) => m
                .entry(key.clone())
                .or_insert_with(|| Acting::new(self.default_actor))
                .clone(),
            Err(_) => Acting::new(self.default_actor),
        }
    }

    /// The pinned protocol revision of each connector that has one.
    pub fn with_protocols(
        mut self,
        protocols: impl IntoIterator<Item = (String, rmcp::model::ProtocolVersion)>,
    ) -> Self {
        self.protocols = protocols.into_iter().collect();
        self
    }

    /// The roots each connector's sessions offer to servers that ask.
    pub fn with_roots(mut self, roots: impl IntoIterator<Item = (String, Vec<String>)>) -> Self {
        self.roots = roots.into_iter().collect();
        self
    }

    /// Sessions answer `elicitation/create` as `elicit` says (the default declines). Set before
    /// the first session: the capability is announced at `initialize`.
    pub fn with_elicitor(mut self, elicit: Elicitor) -> Self {
        self.elicit = elicit;
        self
    }

    /// The open session for `key`, connecting first if there is none.
    pub async fn session(
        &self,
        key: &ConnectionKey,
        target: &Target,
    ) -> Result<Arc<Session>, Failure> {
        self.session_and_age(key, target).await.map(|(s, _)| s)
    }

    /// The session and whether it was opened just now (`true`) or reused.
    async fn session_and_age(
        &self,
        key: &ConnectionKey,
        target: &Target,
    ) -> Result<(Arc<Session>, bool), Failure> {
        if let Some(s) = self.open_session(key).await {
            return Ok((s, false));
        }
        let gate = match self.connecting.lock() {
            Ok(mut gates) => gates.entry(key.clone()).or_default().clone(),
            Err(_) => Arc::default(),
        };
        let _connecting = gate.lock().await;
        // Whoever held the gate before us may have connected already.
        if let Some(s) = self.open_session(key).await {
            return Ok((s, false));
        }
        let session = tokio::time::timeout(self.connect_timeout, self.connect(key, target))
            .await
            .map_err(|_| {
                Failure::new(
                    ErrorClass::Timeout,
                    "the MCP server did not finish initializing in time",
                )
            })??;
        let session = Arc::new(session);
        self.sessions
            .lock()
            .await
            .insert(key.clone(), session.clone());
        Ok((session, true))
    }

    async fn open_session(&self, key: &ConnectionKey) -> Option<Arc<Session>> {
        let sessions = self.sessions.lock().await;
        sessions.get(key).filter(|s| !s.is_closed()).cloned()
    }

    /// Forgets the session (after a failure); the next use reconnects. Dropping the last handle
    /// cancels the service, which closes the transport and stops a stdio child.
    pub async fn drop_session(&self, key: &ConnectionKey) {
        self.sessions.lock().await.remove(key);
    }

    pub async fn close_all(&self) {
        let sessions: Vec<_> = self.sessions.lock().await.drain().collect();
        for (_, s) in sessions {
            s.cancellation_token().cancel();
        }
    }

    /// A handler whose `tools/list_changed` drops this connection's cached catalogue.
    fn handler(&self, key: &ConnectionKey) -> SessionHandler {
        let protocol = self.protocols.get(&key.connector).cloned();
        let roots = self.roots.get(&key.connector).cloned().unwrap_or_default();
        let elicit = self.elicit.for_connection(key);
        let (catalogues, store, key) = (self.catalogues.clone(), self.store.clone(), key.clone());
        SessionHandler::new(Some(Arc::new(move || {
            catalogues.forget(&key);
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move { Catalogues::forget_stored(&key, &store).await });
        })))
        .with_elicitor(elicit)
        .with_protocol(protocol)
        .with_roots(roots)
    }

    async fn connect(&self, key: &ConnectionKey, target: &Target) -> Result<Session, Failure> {
        let handler = self.handler(key);
        match target {
            Target::StreamableHttp { url } => {
                let source =
                    BrokerSource::shared(self.broker.clone(), key.clone(), self.acting(key));
                let client = AuthedHttpClient::new(self.http.clone(), source);
                // Explicit although rmcp 3.9 defaults to it: a server that restarted or expired
                // the session answers 404, and one re-initialize beats a failed probe.
                let mut config = StreamableHttpClientTransportConfig::with_uri(url.clone())
                    .reinit_on_expired_session(true);
                config.retry_config = Arc::new(bounded_stream_retry());
                let transport = StreamableHttpClientTransport::with_client(client, config);
                handler
                    .serve(Tapped::new(
                        transport,
                        key.clone(),
                        self.transcripts.clone(),
                    ))
                    .await
                    .map_err(|e| classify_client_init(&e))
            }
            Target::Sse { url } => {
                let source =
                    BrokerSource::shared(self.broker.clone(), key.clone(), self.acting(key));
                let transport = SseClientTransport::connect(self.http.clone(), source, url).await?;
                let reason = transport.close_reason();
                if let Ok(mut reasons) = self.close_reasons.lock() {
                    reasons.insert(key.clone(), reason.clone());
                }
                handler
                    .serve(Tapped::new(
                        transport,
                        key.clone(),
                        self.transcripts.clone(),
                    ))
                    .await
                    .map_err(|e| explain_closed(classify_client_init(&e), Some(&reason)))
            }
            Target::Stdio { command, args, env } => {
                // stderr is piped, never inherited: a child writing to our terminal would tear the TUI.
                let (transport, stderr) = spawn_stdio(command, args, env, Stdio::piped())?;
                if let Some(stderr) = stderr {
                    let (store, key) = (self.store.clone(), key.clone());
                    tokio::spawn(async move {
                        let mut lines = tokio::io::BufReader::new(stderr).lines();
                        while let Ok(Some(line)) = lines.next_line().await {
                            let line: String = line.chars().take(500).collect();
                            tracing::info!(target: "mcp_stderr", connection = %key, "{line}");
                            let _ = store
                                .append_event(
                                    EventRecord::new(Some(&key), "stderr", Actor::Scheduler, "ok")
                                        .detail(line),
                                )
                                .await;
                        }
                    });
                }
                handler
                    .serve(Tapped::new(
                        transport,
                        key.clone(),
                        self.transcripts.clone(),
                    ))
                    .await
                    .map_err(|e| classify_client_init(&e))
            }
        }
    }

    /// The classified failure of a request on `key`'s session. Tool calls outside the pool use
    /// it too, so a closed legacy SSE stream says why it closed instead of "connection closed".
    pub fn failure(&self, key: &ConnectionKey, e: &ServiceError) -> Failure {
        self.explain(key, classify_service(e))
    }

    /// A failure of `key`'s session, with the transport's own account of why it closed when
    /// it kept one.
    pub fn explain(&self, key: &ConnectionKey, failure: Failure) -> Failure {
        let reason = self
            .close_reasons
            .lock()
            .ok()
            .and_then(|r| r.get(key).cloned());
        explain_closed(failure, reason.as_ref())
    }

    /// `ping`, connecting first if needed. A failed session is dropped so the next probe starts
    /// clean. When a *reused* session fails, its server may merely have restarted or forgotten
    /// it, which says nothing about the server now: one fresh session decides.
    pub async fn ping(
        &self,
        key: &ConnectionKey,
        target: &Target,
        timeout: Duration,
    ) -> Result<(), Failure> {
        let (session, fresh) = self.session_and_age(key, target).await?;
        let failure = match self.ping_once(key, &session, timeout).await {
            Ok(()) => return Ok(()),
            Err(f) => f,
        };
        drop(session);
        self.drop_session(key).await;
        // A timeout would double the probe's wait, and auth was already retried once.
        if fresh || matches!(failure.class, ErrorClass::Timeout | ErrorClass::Auth) {
            return Err(failure);
        }
        tracing::debug!(connection = %key, "reused MCP session failed ({failure}); reconnecting once");
        let (session, _) = self.session_and_age(key, target).await?;
        let result = self.ping_once(key, &session, timeout).await;
        if result.is_err() {
            drop(session);
            self.drop_session(key).await;
        }
        result
    }

    async fn ping_once(
        &self,
        key: &ConnectionKey,
        session: &Session,
        timeout: Duration,
    ) -> Result<(), Failure> {
        let request = ClientRequest::PingRequest(PingRequest {
            method: Default::default(),
            extensions: Default::default(),
        });
        match tokio::time::timeout(timeout, session.peer().send_request(request)).await {
            Ok(Ok(ServerResult::EmptyResult(_))) => Ok(()),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.failure(key, &e)),
            Err(_) => Err(Failure::new(
                ErrorClass::Timeout,
                format!("no answer to ping within {} ms", timeout.as_millis()),
            )),
        }
    }
}

/// How often a broken streamable HTTP response stream is resumed. rmcp's default retries
/// forever with unbounded backoff, so a call on a server that died hangs until its caller
/// gives up (seen against server-everything); three tries over ~3.5 s cover a blip.
fn bounded_stream_retry() -> ExponentialBackoff {
    let mut retry = ExponentialBackoff::default();
    retry.max_times = Some(3);
    retry.base_duration = Duration::from_millis(500);
    retry.max_delay = Some(Duration::from_secs(2));
    retry
}

/// Starts a stdio MCP server as a child process (killed with its session).
pub(crate) fn spawn_stdio(
    command: &str,
    args: &[String],
    env: &[(String, String)],
    stderr: Stdio,
) -> Result<(TokioChildProcess, Option<tokio::process::ChildStderr>), Failure> {
    let mut cmd = tokio::process::Command::new(command);
    cmd.args(args).envs(env.iter().cloned());
    TokioChildProcess::builder(cmd)
        .stderr(stderr)
        .spawn()
        .map_err(|e| {
            Failure::new(
                ErrorClass::Connection,
                format!("cannot start `{command}`: {e}"),
            )
        })
}
