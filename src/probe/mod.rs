//! Probes: is the connection usable right now? Every failure gets a class the operator can act
//! on. Tokens come from the broker; a 401 asks it for a newer token once, then reports.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::{Broker, Credential, Need};
use crate::classify::{classify_reqwest, classify_status};
use crate::domain::{
    Actor, ConnectionKey, ErrorClass, Failure, McpTransport, ProbeResult, ProbeVia, Reason,
    Transport, now_ms,
};
use crate::mcp::{McpPool, Target};

/// How long a probe waits to drain a body it does not need (see `Prober::get`).
const DRAIN_WITHIN: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestTarget {
    pub url: String,
    /// Empty: any 2xx is up.
    pub expect_status: Vec<u16>,
}

/// What to probe for one connection, and how long each attempt may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePlan {
    pub route: ProbeRoute,
    pub timeout: Duration,
}

/// The endpoints a probe visits: an MCP server (with an optional REST fallback tried when it
/// fails), or a REST API. The connection's `Transport` follows from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeRoute {
    Mcp {
        target: Target,
        fallback: Option<RestTarget>,
    },
    Rest(RestTarget),
}

impl ProbeRoute {
    pub fn transport(&self) -> Transport {
        match self {
            ProbeRoute::Mcp { target, .. } => Transport::Mcp(match target {
                Target::StreamableHttp { .. } => McpTransport::StreamableHttp,
                Target::Sse { .. } => McpTransport::Sse,
                Target::Stdio { .. } => McpTransport::Stdio,
            }),
            ProbeRoute::Rest(_) => Transport::Rest,
        }
    }

    /// The MCP server, for tool calls; `None` for a REST connection.
    pub fn mcp(&self) -> Option<&Target> {
        match self {
            ProbeRoute::Mcp { target, .. } => Some(target),
            ProbeRoute::Rest(_) => None,
        }
    }
}

pub struct Prober {
    broker: Arc<Broker>,
    mcp: Arc<McpPool>,
    http: reqwest::Client,
}

impl Prober {
    pub fn new(broker: Arc<Broker>, mcp: Arc<McpPool>, http: reqwest::Client) -> Self {
        Self { broker, mcp, http }
    }

    pub async fn probe(&self, key: &ConnectionKey, plan: &ProbePlan, actor: Actor) -> ProbeResult {
        let at = now_ms();
        let started = Instant::now();
        let elapsed = |s: Instant| s.elapsed().as_millis() as u64;
        match &plan.route {
            ProbeRoute::Mcp { target, fallback } => {
                self.mcp.act_as(key, actor);
                let mcp = self.probe_mcp(key, target, plan.timeout).await;
                match (mcp, fallback) {
                    (Ok(()), _) => ProbeResult {
                        at,
                        via: ProbeVia::Mcp,
                        latency_ms: elapsed(started),
                        failure: None,
                        primary_failure: None,
                    },
                    (Err(primary), Some(rest)) => {
                        let fallback_started = Instant::now();
                        let failure = self.probe_rest(key, rest, plan.timeout, actor).await.err();
                        ProbeResult {
                            at,
                            via: ProbeVia::RestFallback,
                            latency_ms: elapsed(fallback_started),
                            failure,
                            primary_failure: Some(primary),
                        }
                    }
                    (Err(f), None) => ProbeResult {
                        at,
                        via: ProbeVia::Mcp,
                        latency_ms: elapsed(started),
                        failure: Some(f),
                        primary_failure: None,
                    },
                }
            }
            ProbeRoute::Rest(rest) => {
                let failure = self.probe_rest(key, rest, plan.timeout, actor).await.err();
                ProbeResult {
                    at,
                    via: ProbeVia::Rest,
                    latency_ms: elapsed(started),
                    failure,
                    primary_failure: None,
                }
            }
        }
    }

    async fn probe_mcp(
        &self,
        key: &ConnectionKey,
        target: &Target,
        timeout: Duration,
    ) -> Result<(), Failure> {
        match tokio::time::timeout(timeout * 2, self.mcp.ping(key, target, timeout)).await {
            Ok(r) => r,
            Err(_) => {
                self.mcp.drop_session(key).await;
                Err(Failure::new(
                    ErrorClass::Timeout,
                    format!(
                        "MCP probe took longer than {} ms",
                        (timeout * 2).as_millis()
                    ),
                ))
            }
        }
    }

    async fn probe_rest(
        &self,
        key: &ConnectionKey,
        rest: &RestTarget,
        timeout: Duration,
        actor: Actor,
    ) -> Result<(), Failure> {
        let credential = self.broker.access_token(key, actor).await?;
        let mut result = self.get(&rest.url, &credential, timeout).await;
        if let (Err(f), Credential::Bearer(_)) = (&result, &credential)
            && f.reason == Some(Reason::TokenRejected)
        {
            // The token may have been revoked or rotated elsewhere: one newer token, one retry.
            let generation = self.broker.meta(key).map(|(_, g)| g).unwrap_or(0);
            let newer = self
                .broker
                .obtain(
                    key,
                    actor,
                    Need::Newer {
                        than_generation: generation,
                    },
                )
                .await?;
            result = self.get(&rest.url, &newer, timeout).await;
        }
        let status = result?;
        if rest.expect_status.is_empty() || rest.expect_status.contains(&status) {
            Ok(())
        } else {
            Err(Failure::new(
                ErrorClass::Client,
                format!("HTTP {status}, expected one of {:?}", rest.expect_status),
            ))
        }
    }

    /// GET with the credential; Ok(status) for any 2xx, else a classified failure.
    async fn get(
        &self,
        url: &str,
        credential: &Credential,
        timeout: Duration,
    ) -> Result<u16, Failure> {
        let mut req = self.http.get(url).timeout(timeout);
        if let Credential::Bearer(t) = credential {
            req = req.bearer_auth(t.expose());
        }
        let resp = req.send().await.map_err(|e| classify_reqwest(&e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            // Seconds or an HTTP-date; rounded up so "retry after 0s" never means "too early".
            .and_then(|v| crate::classify::retry_after_ms(v, crate::domain::now_ms()))
            .map(|ms| ms.div_ceil(1000));
        let www = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // Only the status matters, but reading the body lets the connection be reused. A body
        // past the cap, an endless one or a slow one is dropped with its connection instead:
        // the probe measures the answer, not how long a server can drip its body.
        let drain = crate::net::read_capped(resp, crate::net::PROBE_BODY_CAP, url);
        match tokio::time::timeout(DRAIN_WITHIN, drain).await {
            Ok(Ok(_)) => {}
            Ok(Err(f)) => tracing::debug!("probe body not drained: {f}"),
            Err(_) => tracing::debug!("probe body from {url} not drained within {DRAIN_WITHIN:?}"),
        }
        match classify_status(status, retry_after, www.as_deref()) {
            None => Ok(status),
            Some(f) => Err(f),
        }
    }
}
