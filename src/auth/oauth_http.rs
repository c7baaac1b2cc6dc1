//! The HTTP under every token endpoint request: `oauth2`'s client over our reqwest client,
//! capped bodies, and the transport failures (429, 5xx, timeouts) the broker backs off from
//! instead of calling the grant dead.

use std::sync::{Arc, Mutex};

use oauth2::{HttpRequest, HttpResponse};

use crate::domain::{ErrorClass, Failure, now_ms};

/// The transport-level failure our HTTP closure reports to `oauth2`.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.message)]
pub struct HttpFailure(pub Failure);

/// `oauth2`'s HTTP client: a named type over an owned (cheaply cloned) reqwest client whose
/// futures are `'static + Send`. A closure borrowing the client would make every future above it
/// fail rustc's "Send is not general enough" check once spawned. It keeps a copy of the last 2xx
/// body: success bodies are read by `token_response`, leniently, so that an odd field can never
/// make `oauth2`'s strict parser drop a rotated refresh token.
pub struct Http {
    client: reqwest::Client,
    success: Arc<Mutex<Option<Vec<u8>>>>,
}

impl Http {
    pub fn new(client: reqwest::Client) -> Http {
        Http {
            client,
            success: Arc::default(),
        }
    }

    pub(super) fn take_success(&self) -> Option<Vec<u8>> {
        self.success.lock().ok().and_then(|mut s| s.take())
    }
}

type BoxedResponse =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<HttpResponse, HttpFailure>> + Send>>;

impl<'c> oauth2::AsyncHttpClient<'c> for Http {
    type Error = HttpFailure;
    type Future = BoxedResponse;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        let success = self.success.clone();
        let sent = send(self.client.clone(), request);
        Box::pin(async move {
            let response = sent.await?;
            if response.status().is_success()
                && let Ok(mut slot) = success.lock()
            {
                *slot = Some(response.body().clone());
            }
            Ok(response)
        })
    }
}

/// Sends one `oauth2` request over reqwest, classifying failures that are not OAuth answers.
pub async fn send(http: reqwest::Client, req: HttpRequest) -> Result<HttpResponse, HttpFailure> {
    let (parts, body) = req.into_parts();
    let url = parts.uri.to_string();
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())
        .unwrap_or(reqwest::Method::POST);
    let mut builder = http.request(method, &url).body(body);
    for (name, value) in &parts.headers {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let response = builder
        .send()
        .await
        .map_err(|e| HttpFailure(crate::classify::classify_reqwest(&e)))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| crate::classify::retry_after_ms(v, now_ms()));
    if status == 429 || status >= 500 {
        let class = if status == 429 {
            ErrorClass::RateLimited
        } else {
            ErrorClass::Server
        };
        let mut f = Failure::new(class, format!("{url} answered HTTP {status}"));
        f.retry_after_ms = retry_after;
        return Err(HttpFailure(f));
    }
    let mut out = oauth2::http::Response::builder().status(status);
    for (name, value) in response.headers() {
        out = out.header(name.as_str(), value.as_bytes());
    }
    let bytes = crate::net::read_capped(
        response,
        crate::net::TOKEN_BODY_CAP,
        "the token endpoint's answer",
    )
    .await
    .map_err(HttpFailure)?;
    out.body(bytes).map_err(|e| {
        HttpFailure(Failure::new(
            ErrorClass::Protocol,
            format!("bad token endpoint response: {e}"),
        ))
    })
}
