//! The listener behind `daemon --listen`: `/metrics`, `/healthz`, `/readyz` over HTTP/1.1 on
//! hyper. Bound before the engine starts, so a port in use fails the daemon at once and a
//! service manager sees `/healthz` answer while `/readyz` still says the engine is starting.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, broadcast};
use tokio_util::sync::CancellationToken;

use super::{Metrics, Shared};
use crate::engine::{EngineHandle, Event};

/// A client gets this long to send its request and read the answer; a slow one is cut off.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more are closed unanswered rather than queued.
pub const MAX_CONNECTIONS: usize = 64;
/// The request line and headers together (hyper's smallest buffer); past it hyper answers 431.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Where the outbox depth comes from (the alerts front-end, when there is one).
pub type OutboxDepth = Arc<dyn Fn() -> i64 + Send + Sync>;

struct State {
    metrics: Shared,
    engine: OnceLock<EngineHandle>,
    outbox: OnceLock<OutboxDepth>,
}

/// A bound metrics listener.
pub struct Exporter {
    listener: TcpListener,
    state: Arc<State>,
    cancel: CancellationToken,
}

impl Exporter {
    /// Binds `addr`. The error says what to do: the address is the operator's choice.
    pub async fn bind(addr: SocketAddr) -> Result<Exporter, String> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            let what = match e.kind() {
                std::io::ErrorKind::AddrInUse => {
                    "the address is in use (another daemon or exporter?); stop it, or choose another with --listen or [metrics] listen".to_owned()
                }
                std::io::ErrorKind::PermissionDenied => {
                    "permission denied; choose a port above 1023".to_owned()
                }
                std::io::ErrorKind::AddrNotAvailable => {
                    "no interface of this host has that address; use 127.0.0.1 or one of its addresses".to_owned()
                }
                _ => format!("{e}; check --listen or [metrics] listen"),
            };
            format!("cannot listen for metrics on {addr}: {what}")
        })?;
        Ok(Exporter {
            listener,
            state: Arc::new(State {
                metrics: Arc::new(Mutex::new(Metrics::new())),
                engine: OnceLock::new(),
                outbox: OnceLock::new(),
            }),
            cancel: CancellationToken::new(),
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Starts answering; `/readyz` says not ready until `attach`.
    pub fn start(self) -> Serving {
        let state = self.state.clone();
        let cancel = self.cancel.clone();
        tokio::spawn(accept_loop(self.listener, state.clone(), cancel.clone()));
        Serving { state, cancel }
    }
}

/// A running exporter.
pub struct Serving {
    state: Arc<State>,
    cancel: CancellationToken,
}

impl Serving {
    /// The engine is up: count its events from now on and read its snapshots at each scrape.
    pub fn attach(&self, engine: &EngineHandle) {
        if self.state.engine.set(engine.clone()).is_err() {
            return;
        }
        let events = engine.subscribe();
        tokio::spawn(count_events(
            events,
            self.state.metrics.clone(),
            self.cancel.clone(),
        ));
    }

    /// Where `switchboard_alert_outbox_depth` comes from.
    pub fn outbox_depth(&self, depth: OutboxDepth) {
        let _ = self.state.outbox.set(depth);
    }

    pub fn stop(&self) {
        self.cancel.cancel();
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn count_events(
    mut events: broadcast::Receiver<Event>,
    metrics: Shared,
    cancel: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => break,
            e = events.recv() => e,
        };
        let Ok(mut m) = metrics.lock() else { break };
        match event {
            Ok(event) => m.observe(&event),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!("metrics: fell behind the engine; {n} events not counted");
                m.lost(n);
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, cancel: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: pause rather than spin.
                tracing::warn!("metrics: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!("metrics: {MAX_CONNECTIONS} connections open; closing {peer}");
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(answer(&state, &req)) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(REQUEST_TIMEOUT / 2)
                .max_buf_size(MAX_HEAD_BYTES)
                // One request a connection: nothing is left to drain or to hold open.
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(REQUEST_TIMEOUT, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!("metrics: {peer}: {e}"),
                Err(_) => tracing::debug!("metrics: {peer}: too slow; closed"),
            }
        });
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<String> {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn answer(state: &State, req: &Request<Incoming>) -> Response<String> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served\n",
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let engine = state.engine.get();
    match req.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => match engine {
            Some(e) if e.is_running() => text(StatusCode::OK, "ready\n"),
            Some(_) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the engine has stopped\n",
            ),
            None => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the engine is starting (opening the store, loading the fleet)\n",
            ),
        },
        "/metrics" => {
            let Some(engine) = engine else {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the engine is starting; no metrics yet\n",
                );
            };
            let outbox = state.outbox.get().map(|f| f()).unwrap_or(0);
            let Ok(m) = state.metrics.lock() else {
                return text(StatusCode::INTERNAL_SERVER_ERROR, "metrics unavailable\n");
            };
            m.update(&engine.snapshot(), outbox);
            let mut r = text(StatusCode::OK, m.render());
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(
                    prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                ),
            );
            r
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; switchboard serves /metrics, /healthz and /readyz\n",
        ),
    }
}
