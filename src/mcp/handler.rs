//! Our side of an MCP session: routes `notifications/progress` to the call that asked for it,
//! tells the catalogue when the server's tool list changed, and answers `elicitation/create`
//! as the session's [`Elicitor`] says.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use rmcp::ClientHandler;
use rmcp::model::{
    ClientConfig, ElicitRequestParams, ElicitResult, ErrorData, Implementation,
    ProgressNotificationParam, ProgressToken, ProtocolVersion, RootsCapabilities,
};
// rmcp marks roots deprecated (SEP-2577); the revisions switchboard speaks still define them
// and servers still ask.
#[allow(deprecated)]
use rmcp::model::{CreateMessageRequestParams, CreateMessageResult, ListRootsResult, Root};
use rmcp::service::{NotificationContext, RequestContext, RoleClient};
use tokio::sync::mpsc;

use super::elicit::Elicitor;

/// Notifications that arrived before their call subscribed (the server can answer faster than
/// the caller registers); kept briefly, bounded so a chatty server cannot grow it.
const EARLY_LIMIT: usize = 64;

#[derive(Default)]
struct Routes {
    subscribers: HashMap<ProgressToken, mpsc::UnboundedSender<ProgressNotificationParam>>,
    early: VecDeque<ProgressNotificationParam>,
}

/// Per-token progress channels. Cheap to clone; clones share the routes.
#[derive(Clone, Default)]
pub struct ProgressRouter {
    routes: Arc<Mutex<Routes>>,
}

/// Receives one call's progress; unsubscribes when dropped.
pub struct ProgressSubscription {
    token: ProgressToken,
    rx: mpsc::UnboundedReceiver<ProgressNotificationParam>,
    routes: Arc<Mutex<Routes>>,
}

impl ProgressSubscription {
    pub async fn next(&mut self) -> Option<ProgressNotificationParam> {
        self.rx.recv().await
    }
}

impl Drop for ProgressSubscription {
    fn drop(&mut self) {
        if let Ok(mut routes) = self.routes.lock() {
            routes.subscribers.remove(&self.token);
        }
    }
}

impl ProgressRouter {
    pub fn subscribe(&self, token: ProgressToken) -> ProgressSubscription {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut routes) = self.routes.lock() {
            let early = std::mem::take(&mut routes.early);
            for p in early {
                if p.progress_token == token {
                    let _ = tx.send(p);
                } else {
                    routes.early.push_back(p);
                }
            }
            routes.subscribers.insert(token.clone(), tx);
        }
        ProgressSubscription {
            token,
            rx,
            routes: self.routes.clone(),
        }
    }

    pub fn dispatch(&self, p: ProgressNotificationParam) {
        let Ok(mut routes) = self.routes.lock() else {
            return;
        };
        match routes.subscribers.get(&p.progress_token) {
            Some(tx) => {
                let _ = tx.send(p);
            }
            None => {
                if routes.early.len() >= EARLY_LIMIT {
                    routes.early.pop_front();
                }
                routes.early.push_back(p);
            }
        }
    }
}

type OnToolsChanged = Arc<dyn Fn() + Send + Sync>;

/// The client handler of every session we open.
#[derive(Clone, Default)]
pub struct SessionHandler {
    pub progress: ProgressRouter,
    pub elicit: Elicitor,
    /// The revision proposed at `initialize`; `None`: rmcp's newest.
    pub protocol: Option<ProtocolVersion>,
    /// Offered to a server that asks (`roots/list`); the capability is announced only when
    /// there are some, so a server does not wait on an empty answer to plan its work.
    pub roots: Vec<String>,
    on_tools_changed: Option<OnToolsChanged>,
}

impl SessionHandler {
    /// An engine session's handler: it declines elicitation unless given an elicitor.
    pub fn new(on_tools_changed: Option<OnToolsChanged>) -> Self {
        Self {
            progress: ProgressRouter::default(),
            elicit: Elicitor::default(),
            protocol: None,
            roots: Vec::new(),
            on_tools_changed,
        }
    }

    /// A one-shot command's handler, answering elicitation as the operator chose.
    pub fn for_command(elicit: Elicitor) -> Self {
        Self::new(None).with_elicitor(elicit)
    }

    pub fn with_elicitor(self, elicit: Elicitor) -> Self {
        Self { elicit, ..self }
    }

    pub fn with_protocol(self, protocol: Option<ProtocolVersion>) -> Self {
        Self { protocol, ..self }
    }

    pub fn with_roots(self, roots: Vec<String>) -> Self {
        Self { roots, ..self }
    }
}

impl ClientHandler for SessionHandler {
    /// Servers log and gate on the client's name; rmcp's default would call us "rmcp".
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.client_info = Implementation::new("switchboard", env!("CARGO_PKG_VERSION"));
        info.capabilities.elicitation = self.elicit.capability();
        if super::sampling::offered(&self.elicit) {
            info.capabilities.sampling = Some(Default::default());
        }
        if !self.roots.is_empty() {
            info.capabilities.roots = Some(RootsCapabilities::default());
        }
        if let Some(v) = &self.protocol {
            info.protocol_version = v.clone();
        }
        info
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let server = context
            .peer
            .peer_info()
            .and_then(|i| i.server_info.as_ref().map(|s| s.name.clone()))
            .unwrap_or_else(|| "the server".to_string());
        Ok(self.elicit.answer(&server, request).await)
    }

    #[allow(deprecated)]
    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        let roots = self
            .roots
            .iter()
            .map(|uri| {
                let mut root = Root::new(uri.clone());
                // The last path segment names it, as a file manager would.
                root.name = uri
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .filter(|n| !n.is_empty())
                    .map(str::to_string);
                root
            })
            .collect();
        Ok(ListRootsResult::new(roots))
    }

    #[allow(deprecated)]
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let server = context
            .peer
            .peer_info()
            .and_then(|i| i.server_info.as_ref().map(|s| s.name.clone()))
            .unwrap_or_else(|| "the server".to_string());
        super::sampling::answer(&self.elicit, &server, &params).await
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.dispatch(params);
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        if let Some(f) = &self.on_tools_changed {
            f();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::NumberOrString;

    fn progress(token: &str, n: f64) -> ProgressNotificationParam {
        ProgressNotificationParam::new(ProgressToken(NumberOrString::String(token.into())), n)
    }

    #[tokio::test]
    async fn routes_by_token_and_keeps_early_arrivals() {
        let router = ProgressRouter::default();
        router.dispatch(progress("a", 1.0));
        router.dispatch(progress("b", 1.0));
        let mut a = router.subscribe(ProgressToken(NumberOrString::String("a".into())));
        router.dispatch(progress("a", 2.0));
        assert_eq!(a.next().await.map(|p| p.progress), Some(1.0));
        assert_eq!(a.next().await.map(|p| p.progress), Some(2.0));
        drop(a);
        // Unsubscribed: later notifications for `a` wait in the bounded early buffer.
        for i in 0..(EARLY_LIMIT + 5) {
            router.dispatch(progress("a", i as f64));
        }
        let early = router.routes.lock().map(|r| r.early.len()).unwrap_or(0);
        assert_eq!(early, EARLY_LIMIT);
    }
}
