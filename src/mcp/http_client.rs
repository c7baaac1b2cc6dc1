//! rmcp's streamable HTTP client trait over the token broker: every request carries the token
//! the broker holds *now*, so a refresh is picked up without reconnecting, and a 401 asks the
//! broker for a newer token exactly once before it is reported.

use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::{Error as SseError, Sse};

use crate::auth::{Broker, Credential, Need};
use crate::domain::{Actor, ConnectionKey};

#[derive(Clone)]
pub struct BrokeredHttpClient {
    inner: reqwest::Client,
    broker: Arc<Broker>,
    key: ConnectionKey,
}

impl BrokeredHttpClient {
    pub fn new(inner: reqwest::Client, broker: Arc<Broker>, key: ConnectionKey) -> Self {
        Self { inner, broker, key }
    }

    async fn token(&self, need: Option<Need>) -> Option<String> {
        let need = need.unwrap_or(Need::ValidFor(crate::auth::broker::EXPIRY_SKEW_MS));
        let result = self.broker.obtain(&self.key, Actor::Scheduler, need).await;
        match result {
            Ok(Credential::Bearer(t)) => Some(t.expose().to_string()),
            Ok(Credential::None) => None,
            Err(f) => {
                tracing::debug!("no token for {}: {f}", self.key);
                None
            }
        }
    }

    /// Sends with the broker's current token; on 401 asks the broker once for a newer token and
    /// sends again, then reports whatever happens.
    async fn with_token<T, F, Fut>(&self, send: F) -> Result<T, StreamableHttpError<reqwest::Error>>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: std::future::Future<Output = Result<T, StreamableHttpError<reqwest::Error>>>,
    {
        match send(self.token(None).await).await {
            Err(e) if is_auth_error(&e) => send(self.token(Some(self.newer())).await).await,
            other => other,
        }
    }

    /// The need for a token newer than the one that was just refused.
    fn newer(&self) -> Need {
        let generation = self.broker.meta(&self.key).map(|(_, g)| g).unwrap_or(0);
        Need::Newer {
            than_generation: generation,
        }
    }
}

fn is_auth_error<E: std::error::Error + Send + Sync + 'static>(e: &StreamableHttpError<E>) -> bool {
    matches!(e, StreamableHttpError::AuthRequired(_))
}

impl StreamableHttpClient for BrokeredHttpClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let is_request = matches!(message, ClientJsonRpcMessage::Request(_));
        let in_session = session_id.is_some();
        let result = self
            .with_token(|token| {
                self.inner.post_message(
                    uri.clone(),
                    message.clone(),
                    session_id.clone(),
                    token,
                    custom_headers.clone(),
                )
            })
            .await;
        match result {
            // A request in a session answered by an error without an id cannot be matched to
            // the request; the server refused the session itself. server-everything does this
            // (400 "No valid session ID provided") where the spec says 404. As SessionExpired
            // rmcp re-initializes and retries; left alone the request would wait for its timeout.
            Ok(StreamableHttpPostResponse::Json(ServerJsonRpcMessage::Error(e), _))
                if is_request && in_session && e.id.is_none() =>
            {
                tracing::debug!(
                    connection = %self.key,
                    "uncorrelated error inside a session ({}); treating the session as expired",
                    e.error.message
                );
                Err(StreamableHttpError::SessionExpired)
            }
            other => other,
        }
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        let token = self.token(None).await;
        self.inner
            .delete_session(uri, session_id, token, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.with_token(|token| {
            self.inner.get_stream(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                custom_headers.clone(),
            )
        })
        .await
    }
}
