//! MCP client sessions, one per connection, kept open between probes and tool calls. A session
//! that fails is dropped and re-established on next use.

pub mod adhoc;
pub mod call;
pub mod catalog;
pub mod handler;
pub mod http_client;
mod ops;
pub mod render;
pub mod schema;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::{ClientRequest, PingRequest, ServerResult};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use rmcp::transport::TokioChildProcess;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
};
use tokio::io::AsyncBufReadExt;
use tokio::sync::Mutex;

use crate::auth::Broker;
use crate::domain::{Actor, ConnectionKey, ErrorClass, Failure};
use crate::store::{EventRecord, Store};
pub use catalog::{Catalogue, Catalogues};
pub use handler::SessionHandler;
pub use http_client::BrokeredHttpClient;

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
    catalogues: Arc<Catalogues>,
    connect_timeout: Duration,
}

impl McpPool {
    pub fn new(broker: Arc<Broker>, store: Store, http: reqwest::Client) -> Self {
        Self {
            broker,
            store,
            http,
            sessions: Mutex::new(HashMap::new()),
            catalogues: Arc::new(Catalogues::default()),
            connect_timeout: Duration::from_secs(15),
        }
    }

    /// The open session for `key`, connecting first if there is none.
    pub async fn session(
        &self,
        key: &ConnectionKey,
        target: &Target,
    ) -> Result<Arc<Session>, Failure> {
        if let Some(s) = self
            .sessions
            .lock()
            .await
            .get(key)
            .filter(|s| !s.is_closed())
        {
            return Ok(s.clone());
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
        Ok(session)
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
        let (catalogues, store, key) = (self.catalogues.clone(), self.store.clone(), key.clone());
        SessionHandler::new(Some(Arc::new(move || {
            catalogues.forget(&key);
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move { Catalogues::forget_stored(&key, &store).await });
        })))
    }

    async fn connect(&self, key: &ConnectionKey, target: &Target) -> Result<Session, Failure> {
        let handler = self.handler(key);
        match target {
            Target::StreamableHttp { url } => {
                let client =
                    BrokeredHttpClient::new(self.http.clone(), self.broker.clone(), key.clone());
                let config = StreamableHttpClientTransportConfig::with_uri(url.clone());
                let transport = StreamableHttpClientTransport::with_client(client, config);
                handler
                    .serve(transport)
                    .await
                    .map_err(|e| classify_init(&e.to_string()))
            }
            Target::Sse { .. } => Err(Failure::new(
                ErrorClass::Config,
                "the legacy HTTP+SSE transport is not implemented yet; use streamable-http if the server offers it",
            )),
            Target::Stdio { command, args, env } => {
                let mut cmd = tokio::process::Command::new(command);
                cmd.args(args).envs(env.iter().cloned());
                // stderr is piped, never inherited: a child writing to our terminal would tear the TUI.
                let (transport, stderr) = TokioChildProcess::builder(cmd)
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| {
                        Failure::new(
                            ErrorClass::Connection,
                            format!("cannot start `{command}`: {e}"),
                        )
                    })?;
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
                    .serve(transport)
                    .await
                    .map_err(|e| classify_init(&e.to_string()))
            }
        }
    }

    /// `ping`, connecting first if needed. A failed session is dropped so the next probe starts
    /// clean.
    pub async fn ping(
        &self,
        key: &ConnectionKey,
        target: &Target,
        timeout: Duration,
    ) -> Result<(), Failure> {
        let session = self.session(key, target).await?;
        let request = ClientRequest::PingRequest(PingRequest {
            method: Default::default(),
            extensions: Default::default(),
        });
        let result = tokio::time::timeout(timeout, session.peer().send_request(request)).await;
        let failure = match result {
            Ok(Ok(ServerResult::EmptyResult(_))) => return Ok(()),
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => classify_service(&e),
            Err(_) => Failure::new(
                ErrorClass::Timeout,
                format!("no answer to ping within {} ms", timeout.as_millis()),
            ),
        };
        self.drop_session(key).await;
        Err(failure)
    }
}

/// Initialization errors arrive as text from rmcp; map the shapes we know.
pub(crate) fn classify_init(message: &str) -> Failure {
    let lower = message.to_ascii_lowercase();
    let class = if lower.contains("auth") || lower.contains("401") || lower.contains("403") {
        ErrorClass::Auth
    } else if lower.contains("connect") || lower.contains("refused") || lower.contains("dns") {
        ErrorClass::Connection
    } else if lower.contains("timed out") || lower.contains("timeout") {
        ErrorClass::Timeout
    } else if lower.contains("404") || lower.contains("410") {
        ErrorClass::Gone
    } else if lower.contains(" 5") && lower.contains("status") {
        ErrorClass::Server
    } else {
        ErrorClass::Protocol
    };
    Failure::new(
        class,
        format!("MCP initialize failed: {}", first_line(message)),
    )
}

pub(crate) fn classify_service(e: &ServiceError) -> Failure {
    match e {
        ServiceError::McpError(err) => Failure::new(
            ErrorClass::Protocol,
            format!("server error {}: {}", err.code.0, err.message),
        ),
        ServiceError::Timeout { .. } => Failure::new(ErrorClass::Timeout, "request timed out"),
        ServiceError::TransportClosed => {
            Failure::new(ErrorClass::Connection, "the MCP connection closed")
        }
        other => classify_init(&other.to_string()),
    }
}

/// The first line, without rmcp's `[path::to::Transport<...>]` type names, which say nothing
/// to an operator and push the actual cause past the cut.
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    let mut out = String::with_capacity(line.len());
    let mut depth = 0usize;
    let mut bracket = String::new();
    for c in line.chars() {
        match c {
            '[' => {
                depth += 1;
                bracket.push(c);
            }
            ']' if depth > 0 => {
                depth -= 1;
                bracket.push(c);
                if depth == 0 {
                    if !bracket.contains("::") {
                        out.push_str(&bracket);
                    }
                    bracket.clear();
                }
            }
            c if depth > 0 => bracket.push(c),
            c => out.push(c),
        }
    }
    out.push_str(&bracket);
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    out.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn type_names_leave_error_lines() {
        let raw = "Send message error Transport [rmcp::transport::worker::WorkerTransport<rmcp::X<Y>>] error: Auth required [401]\nmore";
        assert_eq!(
            super::first_line(raw),
            "Send message error Transport error: Auth required [401]"
        );
    }
}
