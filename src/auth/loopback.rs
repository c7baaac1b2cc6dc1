//! The loopback redirect listener of the authorization code flow (RFC 8252 §7.3). Every
//! connection is served on its own task: one local client that connects and sends nothing (or
//! half a request) used to hold the only accept loop for its 10 s read timeout, or for as long
//! as it trickled bytes, while the browser's real callback waited behind it.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::domain::{ErrorClass, Failure};

/// How long one connection may take to send its request line and headers, in all.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// The request head is a GET line and a few headers; more is not a browser's callback.
const HEAD_CAP: usize = 16 * 1024;

/// Serves the listener until a callback with the right `state` arrives: its code, or the
/// authorization server's refusal. Callbacks with a wrong or missing state, another path, or
/// no code are answered and ignored: nothing is exchanged or stored.
pub(crate) async fn wait_for_code(
    listener: &TcpListener,
    expected_state: &str,
) -> Result<String, Failure> {
    let (verdicts, mut verdict) = mpsc::channel::<Result<String, Failure>>(1);
    let expected: Arc<str> = Arc::from(expected_state);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted.map_err(|e| {
                    Failure::new(
                        ErrorClass::Connection,
                        format!("redirect listener failed: {e}"),
                    )
                })?;
                let (verdicts, expected) = (verdicts.clone(), expected.clone());
                tokio::spawn(async move {
                    if let Some(v) = serve(stream, &expected).await {
                        let _ = verdicts.send(v).await;
                    }
                });
            }
            Some(v) = verdict.recv() => return v,
        }
    }
}

/// One connection: `None` when it decides nothing (ignored, answered with an error page).
async fn serve(mut stream: TcpStream, expected_state: &str) -> Option<Result<String, Failure>> {
    let target = tokio::time::timeout(REQUEST_DEADLINE, read_request_target(&mut stream))
        .await
        .ok()??;
    let Ok(url) = url::Url::parse(&format!("http://127.0.0.1{target}")) else {
        respond(&mut stream, 400, "Malformed request.").await;
        return None;
    };
    if url.path() != "/callback" {
        respond(&mut stream, 404, "Not the switchboard callback.").await;
        return None;
    }
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if param("state").as_deref() != Some(expected_state) {
        respond(&mut stream, 400, "This authorization response does not match the login in progress (state mismatch). Nothing was stored.").await;
        return None;
    }
    if let Some(err) = param("error") {
        let desc = param("error_description").unwrap_or_default();
        respond(
            &mut stream,
            400,
            &format!("Authorization failed: {err} {desc}"),
        )
        .await;
        return Some(Err(Failure::new(
            ErrorClass::Auth,
            format!("the authorization server refused: {err} {desc}")
                .trim()
                .to_string(),
        )));
    }
    let Some(code) = param("code") else {
        respond(&mut stream, 400, "No authorization code in the response.").await;
        return None;
    };
    respond(
        &mut stream,
        200,
        "switchboard is authorized. You can close this tab.",
    )
    .await;
    Some(Ok(code))
}

async fn read_request_target(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < HEAD_CAP {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let line = text.lines().next()?;
    let mut parts = line.split_whitespace();
    (parts.next()? == "GET").then_some(())?;
    parts.next().map(str::to_string)
}

async fn respond(stream: &mut TcpStream, status: u16, message: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let body = format!(
        "<!doctype html><title>switchboard</title><p>{}</p>",
        crate::text::escape_html(message)
    );
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(resp.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
#[path = "loopback_tests.rs"]
mod tests;
