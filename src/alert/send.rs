//! One delivery attempt to one channel. Every attempt has a time limit (`timeout`), a response
//! body is read only up to `RESPONSE_CAP`, redirects are followed only within the receiver's
//! origin (net's policy: a signed body never goes to another host), and no message quotes a
//! channel's URL (a Slack URL is its own credential) or any secret.

use std::time::Instant;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::render;
use super::sign;
use crate::config::{AlertChannel, AlertKind, SmtpTls};
use crate::domain::alert::Notice;
use crate::domain::now_ms;

/// A receiver's answer is only read for an error message.
pub const RESPONSE_CAP: usize = 16 * 1024;
/// How much of an error answer a message quotes.
const QUOTE: usize = 200;

/// How an attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub ok: bool,
    pub status: Option<u16>,
    pub message: String,
    /// The receiver's `Retry-After`, already clamped.
    pub retry_after_ms: Option<u64>,
    /// Retrying cannot help (the receiver refused the message itself): drop it.
    pub permanent: bool,
    pub latency_ms: u64,
}

impl Attempt {
    fn failed(message: String, started: Instant) -> Attempt {
        Attempt {
            ok: false,
            status: None,
            message,
            retry_after_ms: None,
            permanent: false,
            latency_ms: elapsed(started),
        }
    }
}

fn elapsed(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// `host[:port]` of a URL: what messages say instead of the URL.
pub fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_owned();
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })
        })
        .unwrap_or_else(|| "the receiver".to_owned())
}

/// Sends `notice` to `channel` once.
pub async fn deliver(http: &reqwest::Client, channel: &AlertChannel, notice: &Notice) -> Attempt {
    let started = Instant::now();
    if channel.kind == AlertKind::Email {
        return email(channel, notice, started).await;
    }
    let Some(url) = channel.target_url() else {
        return Attempt::failed(
            format!(
                "channel {} has no url; set `url` in its [[alerts]] entry",
                channel.name
            ),
            started,
        );
    };
    let (body, signed) = match channel.kind {
        AlertKind::Slack => (render::slack(notice), false),
        AlertKind::Pagerduty => match &channel.routing_key {
            Some(key) => (render::pagerduty(notice, key), false),
            None => {
                return Attempt::failed(
                    format!("channel {} has no routing_key", channel.name),
                    started,
                );
            }
        },
        _ => (render::webhook(notice), true),
    };
    let body = body.to_string().into_bytes();
    let mut request = http
        .post(&url)
        .timeout(channel.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(sign::EVENT_HEADER, notice.kind.as_str())
        .header(sign::DEDUP_HEADER, &notice.dedup_key);
    if signed && let Some(secret) = &channel.secret {
        let t = now_ms() / 1000;
        request = request.header(
            sign::SIGNATURE_HEADER,
            sign::signature(secret.expose().as_bytes(), t, &body),
        );
    }
    let host = host_of(&url);
    let response = match request.body(body).send().await {
        Ok(r) => r,
        Err(e) => return Attempt::failed(explain(e, &host, channel), started),
    };
    let status = response.status().as_u16();
    let retry_after_ms = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| crate::classify::retry_after::retry_after_ms(v, now_ms()));
    let answer =
        crate::net::read_capped(response, RESPONSE_CAP, "the alert receiver's answer").await;
    let latency_ms = elapsed(started);
    if (200..300).contains(&status) {
        return Attempt {
            ok: true,
            status: Some(status),
            message: format!("{host} accepted it ({status})"),
            retry_after_ms: None,
            permanent: false,
            latency_ms,
        };
    }
    let quoted = match &answer {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(QUOTE)]);
            crate::text::printable(text.trim(), false)
        }
        Err(f) => f.message.clone(),
    };
    let permanent = (400..500).contains(&status) && !matches!(status, 408 | 409 | 425 | 429);
    let what = match status {
        429 => "it is rate limiting; switchboard waits as asked (up to retry_max) and retries".to_owned(),
        300..=399 => "it redirected; switchboard follows redirects only within the same host: set url to the final address".to_owned(),
        _ if permanent => format!(
            "it refused the message itself, so it was dropped; check the channel's url{} and the receiver",
            match channel.kind {
                AlertKind::Webhook => " and secret",
                AlertKind::Pagerduty => " and routing_key",
                _ => "",
            }
        ),
        _ => "switchboard retries with backoff".to_owned(),
    };
    Attempt {
        ok: false,
        status: Some(status),
        message: format!("{host} answered {status}: {quoted}; {what}"),
        retry_after_ms,
        permanent,
        latency_ms,
    }
}

/// A reqwest error in words, without its URL.
fn explain(e: reqwest::Error, host: &str, channel: &AlertChannel) -> String {
    // The URL may be a credential (Slack's): no message quotes it.
    let e = e.without_url();
    if e.is_timeout() {
        format!(
            "{host} did not answer within {}; switchboard retries (raise `timeout` if the receiver is just slow)",
            humantime::format_duration(channel.timeout)
        )
    } else if e.is_redirect() {
        format!(
            "{host} redirected to another host; switchboard does not follow it (the signed body would go there): set url to the final address"
        )
    } else if e.is_connect() {
        format!("cannot connect to {host}; is the receiver running? switchboard retries")
    } else {
        let f = crate::classify::classify_reqwest(&e);
        format!("{host}: {}; switchboard retries", f.message)
    }
}

async fn email(channel: &AlertChannel, notice: &Notice, started: Instant) -> Attempt {
    let host = channel.smtp_host.clone().unwrap_or_default();
    let port = channel.smtp_port();
    let shown = format!("{host}:{port}");
    let builder = match channel.smtp_tls {
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host),
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&host),
        SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            &host,
        )),
    };
    let mut builder = match builder {
        Ok(b) => b.port(port).timeout(Some(channel.timeout)),
        Err(e) => return Attempt::failed(format!("SMTP {shown}: {e}; check smtp_host"), started),
    };
    if let (Some(user), Some(password)) = (&channel.username, &channel.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    let transport = builder.build();
    let (subject, body) = render::email(notice);
    let mut message = Message::builder()
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        // One Message-ID per notice, so a mail delivered twice (at-least-once) threads as one.
        .message_id(Some(format!(
            "<{}@switchboard>",
            notice
                .dedup_key
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '.'
                })
                .collect::<String>()
        )));
    match channel.from.as_deref().map(str::parse) {
        Some(Ok(from)) => message = message.from(from),
        _ => return Attempt::failed("`from` is not an email address".into(), started),
    }
    for to in &channel.to {
        match to.parse() {
            Ok(to) => message = message.to(to),
            Err(_) => return Attempt::failed(format!("\"{to}\" is not an email address"), started),
        }
    }
    let message = match message.body(body) {
        Ok(m) => m,
        Err(e) => return Attempt::failed(format!("cannot build the email: {e}"), started),
    };
    // lettre's timeout covers each command; this bounds the whole exchange.
    let sent = tokio::time::timeout(channel.timeout * 3, transport.send(message)).await;
    let latency_ms = elapsed(started);
    match sent {
        Ok(Ok(response)) => Attempt {
            ok: true,
            status: Some(u16::from(response.code())),
            message: format!("{shown} accepted it ({})", response.code()),
            retry_after_ms: None,
            permanent: false,
            latency_ms,
        },
        Ok(Err(e)) => Attempt {
            ok: false,
            status: e.status().map(u16::from),
            permanent: e.is_permanent(),
            message: format!(
                "SMTP {shown}: {}; {}",
                crate::text::printable(&e.to_string(), false),
                if e.is_permanent() {
                    "the server refused the message, so it was dropped: check from, to and the login"
                } else if e.is_client() || e.is_tls() {
                    // No STARTTLS on offer, or a certificate that does not verify: the channel's
                    // settings or the server must change; until then it is retried.
                    "check smtp_host, smtp_port and smtp_tls (starttls needs a server that offers it with a valid certificate; tls is for port 465); switchboard retries with backoff"
                } else {
                    "switchboard retries with backoff"
                }
            ),
            retry_after_ms: None,
            latency_ms,
        },
        Err(_) => Attempt::failed(
            format!(
                "SMTP {shown} did not finish within {}; switchboard retries",
                humantime::format_duration(channel.timeout * 3)
            ),
            started,
        ),
    }
}
