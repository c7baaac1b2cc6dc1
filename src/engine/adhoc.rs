//! The engine of an ad hoc `--url`/`--stdio` target: one connection with no config entry and
//! no store, answering the same `Command`s a configured connection does (catalogue, tool
//! calls, resources, prompts) through the same `EngineHandle`. Credentials come from the
//! command line or from MCP authorization on a 401, held in memory for this one command.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Mutex, broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::api::{Command, EngineHandle, Event};
use crate::auth::adhoc_auth::{AdHocAuth, ClientOptions};
use crate::auth::client_assertion::SigningKey;
use crate::auth::flows::Opener;
use crate::domain::{ConnectionKey, DEFAULT_ACCOUNT, ErrorClass, Failure, Snapshot};
use crate::mcp::adhoc::{self, AdHoc};
use crate::mcp::elicit::Elicitor;
use crate::mcp::{Session, Target};
use crate::secret::Secret;
use crate::toolkit::CallError;
use crate::toolkit::Catalogue;
use crate::toolkit::schema::{Checked, check};

pub use crate::auth::cross_app::IdP;
pub use crate::mcp::adhoc::{parse_header, split_command};

/// How long an ad hoc server may take to start and initialize (time spent logging in aside).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// An ad hoc target as the command line describes it.
#[derive(Debug, Clone)]
pub struct AdHocSpec {
    pub target: Target,
    /// `--header` values may be API keys: secrets, never echoed.
    pub headers: Vec<(String, Secret)>,
    pub bearer: Option<Secret>,
    /// How to authorize an HTTP target that answers 401; `None` when nobody can log in here.
    pub login: Option<Login>,
    /// How this command answers the server's requests for input.
    pub elicit: Elicitor,
    /// `--protocol-version`: the revision proposed at `initialize`.
    pub protocol: Option<rmcp::model::ProtocolVersion>,
}

/// Who switchboard is at the server's authorization server, from the command line.
#[derive(Debug, Clone)]
pub struct Login {
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub client_metadata_url: Option<String>,
    /// No user: the client credentials grant.
    pub machine: bool,
    /// A PEM private key for signed client assertions, and what to call it in errors (a file
    /// name, never the key).
    pub private_key: Option<(Secret, String)>,
    pub cross_app: Option<IdP>,
    pub opener: Opener,
}

/// The key an ad hoc target's events and replies carry.
pub fn adhoc_key() -> ConnectionKey {
    ConnectionKey::new("ad hoc target", DEFAULT_ACCOUNT)
}

/// A running ad hoc engine.
pub struct AdHocEngine {
    pub handle: EngineHandle,
    task: JoinHandle<()>,
}

impl AdHocEngine {
    /// Checks the spec (a private key that does not parse is the operator's to fix: `Err` is
    /// a message for a usage error) and starts the engine; nothing is sent yet.
    pub fn start(spec: AdHocSpec) -> Result<AdHocEngine, String> {
        let adhoc = build(spec)?;
        let (commands_tx, commands_rx) = mpsc::channel(16);
        let (_snapshot_tx, snapshot_rx) = watch::channel(Arc::new(Snapshot::default()));
        let (events_tx, _) = broadcast::channel(512);
        let state = Arc::new(State {
            adhoc,
            session: Mutex::new(None),
            catalogue: Mutex::new(None),
            events: events_tx.clone(),
        });
        let task = tokio::spawn(run(state, commands_rx));
        Ok(AdHocEngine {
            handle: EngineHandle::from_parts(commands_tx, snapshot_rx, events_tx),
            task,
        })
    }

    /// Closes the session (a stdio child stops) and ends the engine.
    pub async fn shutdown(self) {
        self.handle.send_wait(Command::Shutdown).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

fn build(spec: AdHocSpec) -> Result<AdHoc, String> {
    let auth = match (&spec.login, &spec.target) {
        (Some(login), Target::StreamableHttp { url } | Target::Sse { url }) => {
            let private_key = match &login.private_key {
                Some((pem, what)) => Some(Arc::new(
                    SigningKey::from_pem(pem.expose(), what).map_err(|f| f.message)?,
                )),
                None => None,
            };
            let http = super::http_client().map_err(|f| f.message)?;
            let options = ClientOptions {
                client_id: login.client_id.clone(),
                client_secret: login.client_secret.clone(),
                client_metadata_url: login.client_metadata_url.clone(),
                machine: login.machine,
                private_key,
                cross_app: login.cross_app.clone(),
            };
            Some(Arc::new(AdHocAuth::new(
                http,
                url,
                options,
                login.opener.clone(),
            )))
        }
        _ => None,
    };
    Ok(AdHoc {
        target: spec.target,
        headers: spec.headers,
        bearer: spec.bearer,
        auth,
        elicit: spec.elicit,
        protocol: spec.protocol,
    })
}

struct State {
    adhoc: AdHoc,
    session: Mutex<Option<Arc<Session>>>,
    catalogue: Mutex<Option<Arc<Catalogue>>>,
    events: broadcast::Sender<Event>,
}

impl State {
    /// A failure as the operator should see it. An ad hoc target has no broker to fix a
    /// refusal: either authorization ran and says why it failed, or the operator must bring
    /// credentials.
    fn explain(&self, f: Failure) -> Failure {
        let f = self.adhoc.explain(f);
        if f.class != ErrorClass::Auth
            || self
                .adhoc
                .auth
                .as_ref()
                .is_some_and(|a| a.failure().is_some())
        {
            return f;
        }
        let hint = if self.adhoc.brings_credentials() {
            "the server refused the credentials given; check --bearer / --header"
        } else {
            "the server wants credentials: pass --bearer TOKEN (or $SWITCHBOARD_BEARER) or --header 'NAME: VALUE', or run this in a terminal (or with $BROWSER set, or --no-browser) to log in through MCP authorization"
        };
        Failure::new(f.class, format!("{}; {hint}", f.message))
    }

    async fn session(&self) -> Result<Arc<Session>, Failure> {
        let mut slot = self.session.lock().await;
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let session = adhoc::connect(&self.adhoc, CONNECT_TIMEOUT)
            .await
            .map_err(|f| self.explain(f))?;
        let session = Arc::new(session);
        *slot = Some(session.clone());
        Ok(session)
    }

    async fn catalogue(&self) -> Result<Arc<Catalogue>, Failure> {
        let session = self.session().await?;
        let listed = Catalogue::fetch(session.peer())
            .await
            .map_err(|f| self.explain(f))?;
        let listed = Arc::new(listed);
        *self.catalogue.lock().await = Some(listed.clone());
        Ok(listed)
    }

    async fn call(
        &self,
        tool: &str,
        arguments: Option<rmcp::model::JsonObject>,
        timeout: Duration,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<crate::toolkit::CallOutcome, CallError> {
        let known = self.catalogue.lock().await.clone();
        let catalogue = match known {
            Some(c) if c.tool(tool).is_some() => c,
            _ => self.catalogue().await.map_err(CallError::Failed)?,
        };
        let Some(spec) = catalogue.tool(tool) else {
            return Err(CallError::Failed(Failure::new(
                ErrorClass::Config,
                format!("the server has no tool `{tool}`"),
            )));
        };
        let schema = Value::Object((*spec.input_schema).clone());
        let args = Value::Object(arguments.clone().unwrap_or_default());
        if let Checked::Invalid(violations) = check(&schema, &args) {
            return Err(CallError::InvalidArguments(violations));
        }
        let session = self.session().await.map_err(CallError::Failed)?;
        let key = adhoc_key();
        let progress = |p: &rmcp::model::ProgressNotificationParam| {
            let _ = self.events.send(Event::ToolProgress {
                key: key.clone(),
                tool: tool.to_string(),
                progress: p.progress,
                total: p.total,
                message: p.message.clone(),
            });
        };
        crate::mcp::call::call_tool(&session, tool, arguments, timeout, cancel, progress).await
    }

    async fn close(&self) {
        if let Some(session) = self.session.lock().await.take() {
            let session = Arc::try_unwrap(session);
            if let Ok(session) = session {
                let _ = session.cancel().await;
            }
        }
    }
}

fn not_here(what: &str) -> Failure {
    Failure::new(
        ErrorClass::Config,
        format!(
            "an ad hoc --url/--stdio target has no {what}; configure it as a connector for that"
        ),
    )
}

async fn run(state: Arc<State>, mut rx: mpsc::Receiver<Command>) {
    while let Some(command) = rx.recv().await {
        match command {
            Command::Shutdown => break,
            Command::ListCatalogue { reply, .. } => {
                let _ = reply.send(state.catalogue().await);
            }
            Command::ListTools { .. } => {
                let result = state.catalogue().await;
                let _ = state.events.send(Event::ToolsListed {
                    key: adhoc_key(),
                    result,
                });
            }
            Command::CallTool {
                tool,
                arguments,
                timeout,
                cancel,
                reply,
                ..
            } => {
                let result = state.call(&tool, arguments, timeout, &cancel).await;
                let _ = state.events.send(Event::ToolResult {
                    key: adhoc_key(),
                    tool,
                    result: result.clone(),
                });
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            Command::ReadResource { uri, reply, .. } => {
                let result = match state.session().await {
                    Ok(s) => s
                        .read_resource(rmcp::model::ReadResourceRequestParams::new(uri))
                        .await
                        .map_err(|e| state.explain(crate::classify::mcp::classify_service(&e))),
                    Err(f) => Err(f),
                };
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            Command::GetPrompt {
                name,
                arguments,
                reply,
                ..
            } => {
                let mut params = rmcp::model::GetPromptRequestParams::new(name);
                if let Some(arguments) = arguments {
                    params = params.with_arguments(arguments);
                }
                let result = match state.session().await {
                    Ok(s) => s
                        .get_prompt(params)
                        .await
                        .map_err(|e| state.explain(crate::classify::mcp::classify_service(&e))),
                    Err(f) => Err(f),
                };
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            Command::Ready { reply, .. } => {
                let _ = reply.send(Ok(()));
            }
            other => refuse(other),
        }
    }
    state.close().await;
}

/// What an ad hoc target cannot do; commands added later land here too, answered or ignored.
fn refuse(command: Command) {
    match command {
        Command::Refresh {
            reply: Some(reply), ..
        } => {
            let _ = reply.send(Err(not_here("stored token to refresh")));
        }
        Command::Probe {
            reply: Some(reply), ..
        } => {
            let _ = reply.send(Err(not_here("probe schedule")));
        }
        Command::Reauth {
            reply: Some(reply), ..
        } => {
            let _ = reply.send(Err(not_here("stored grant (it logs in on a 401)")));
        }
        Command::Revoke {
            reply: Some(reply), ..
        } => {
            let _ = reply.send(Err(not_here("stored grant to revoke")));
        }
        Command::Alerts { reply, .. } => {
            let _ = reply.send(Err(not_here("alert outbox")));
        }
        other => tracing::debug!("ad hoc engine: {other:?} does not apply"),
    }
}
