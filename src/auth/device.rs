//! RFC 8628 device authorization grant, for machines without a browser: ask the AS for a user
//! code, let the operator approve it on another device, poll the token endpoint until they do.
//!
//! The polling loop is ours rather than `oauth2`'s `exchange_device_access_token`: we need to
//! report progress between polls, tell "declined" from "expired" in our own words, and ride out
//! a transient 5xx without losing a code the operator may be typing in right now.

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::form::{FormResponse, post_form};
use super::spec::OAuthSpec;
use super::token_response::token_from_body;
use crate::domain::{ErrorClass, Failure};
use crate::secret::Secret;
use crate::store::NewToken;

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// RFC 8628 §3.2: the interval when the AS names none.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// RFC 8628 §3.5: `slow_down` adds 5 s to the interval, for this and every later poll.
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// The poll interval stays within these, whatever the server says (`interval`, `slow_down`,
/// `Retry-After`): faster hammers the AS, slower leaves an operator who already approved the
/// code staring at a spinner (and `u64::MAX` seconds panics when added to a clock).
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
pub const MAX_INTERVAL: Duration = Duration::from_secs(60);
/// A device code is typed by a human within minutes; a server claiming days (or `u64::MAX`
/// seconds) would keep us polling long after the code died.
pub const MAX_EXPIRES_IN: Duration = Duration::from_secs(30 * 60);
/// When `expires_in` is missing or not a positive number: the AS's `expired_token` answer
/// ends the loop sooner if the code is dead.
const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(15 * 60);
/// Consecutive transport failures (timeouts, 5xx, 429) before giving up on the poll.
const MAX_TRANSIENT: u32 = 5;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often `Waiting` is reported while sleeping between polls.
const PROGRESS_TICK: Duration = Duration::from_secs(1);

/// What the operator needs to approve the login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePrompt {
    pub user_code: String,
    pub verification_uri: String,
    /// The URI with the code filled in: what the QR code carries.
    pub verification_uri_complete: Option<String>,
    pub expires_in: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceProgress<'a> {
    /// Show this to the operator.
    Prompt(&'a DevicePrompt),
    /// Still waiting; `remaining` until the code expires.
    Waiting {
        elapsed: Duration,
        remaining: Duration,
        polls: u32,
    },
}

/// The device authorization response. No `Debug`: `device_code` is a credential.
#[derive(Deserialize)]
struct DeviceResponse {
    device_code: String,
    user_code: String,
    // Google's device endpoint says `verification_url`.
    #[serde(alias = "verification_url")]
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    // Raw JSON: a negative, fractional or huge number must not fail the login or reach a clock
    // unclamped (see `crate::net::clamp_json_secs`).
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    interval: Option<serde_json::Value>,
}

/// What one poll's answer means for the loop.
#[derive(Debug, Clone, PartialEq)]
pub enum PollStep {
    /// Poll again after this interval (possibly grown by `slow_down`).
    Again(Duration),
    Fail(Failure),
}

/// The RFC 8628 §3.5 error codes, and what each does to the loop.
pub fn after_error(error: &str, description: Option<&str>, interval: Duration) -> PollStep {
    match error {
        "authorization_pending" => PollStep::Again(interval),
        "slow_down" => PollStep::Again(interval.saturating_add(SLOW_DOWN_STEP).min(MAX_INTERVAL)),
        "access_denied" => PollStep::Fail(Failure::new(
            ErrorClass::Auth,
            "the user declined the authorization request; nothing was stored",
        )),
        "expired_token" => PollStep::Fail(expired()),
        other => PollStep::Fail(Failure::new(
            ErrorClass::Auth,
            match description.filter(|d| !d.is_empty()) {
                Some(d) => {
                    format!("the authorization server refused the device login ({other}: {d})")
                }
                None => format!("the authorization server refused the device login ({other})"),
            },
        )),
    }
}

fn expired() -> Failure {
    Failure::new(ErrorClass::Auth, "the code expired; run the command again")
}

/// Runs the whole grant and returns the token for `broker.install`.
pub async fn device_authorization(
    http: &reqwest::Client,
    spec: &OAuthSpec,
    on: &(dyn Fn(DeviceProgress<'_>) + Send + Sync),
) -> Result<NewToken, Failure> {
    let endpoints = spec.resolve_endpoints(http).await?;
    let Some(device_url) = endpoints.device.clone() else {
        return Err(Failure::new(
            ErrorClass::Config,
            "the authorization server has no device authorization endpoint; set device_url, or run `switchboard auth` without --device",
        ));
    };
    let post = endpoints.client_secret_post;
    let scope = spec.scope_param();
    let mut params = Vec::new();
    if let Some(scope) = scope.as_deref() {
        params.push(("scope", scope));
    }
    // RFC 8707: the resource goes wherever the authorization is requested and redeemed.
    if let Some(resource) = spec.resource.as_deref() {
        params.push(("resource", resource));
    }
    let answer = post_form(http, &device_url, spec, post, &params, REQUEST_TIMEOUT).await?;
    if !answer.is_success() {
        return Err(Failure::new(
            ErrorClass::Auth,
            format!(
                "the device authorization endpoint {device_url} refused: {}; check client_id and scopes",
                answer.describe()
            ),
        ));
    }
    let start: DeviceResponse = serde_json::from_slice(&answer.body).map_err(|e| {
        Failure::new(
            ErrorClass::Protocol,
            format!("{device_url} did not send a device authorization response ({e})"),
        )
    })?;
    let device_code = Secret::from(start.device_code);
    let prompt = DevicePrompt {
        user_code: start.user_code,
        verification_uri: start.verification_uri,
        verification_uri_complete: start.verification_uri_complete,
        expires_in: crate::net::clamp_json_secs(
            start.expires_in.as_ref(),
            DEFAULT_EXPIRES_IN,
            MIN_INTERVAL,
            MAX_EXPIRES_IN,
        ),
    };
    on(DeviceProgress::Prompt(&prompt));

    let started = Instant::now();
    let deadline = after(started, prompt.expires_in);
    let mut interval = crate::net::clamp_json_secs(
        start.interval.as_ref(),
        DEFAULT_INTERVAL,
        MIN_INTERVAL,
        MAX_INTERVAL,
    );
    let (mut polls, mut transient) = (0u32, 0u32);
    loop {
        wait(interval, started, deadline, polls, on).await;
        if Instant::now() >= deadline {
            return Err(expired());
        }
        polls += 1;
        let mut params = vec![
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code.expose()),
        ];
        if let Some(resource) = spec.resource.as_deref() {
            params.push(("resource", resource));
        }
        let answer = post_form(http, &endpoints.token, spec, post, &params, REQUEST_TIMEOUT).await;
        let answer = match answer {
            Ok(a) => a,
            Err(f) => {
                transient += 1;
                if transient >= MAX_TRANSIENT {
                    return Err(Failure::new(
                        f.class,
                        format!(
                            "gave up polling after {transient} failed requests: {}",
                            f.message
                        ),
                    ));
                }
                // Keep the code alive: the operator may be approving it right now.
                if let Some(ms) = f.retry_after_ms {
                    interval = interval.max(Duration::from_millis(ms)).min(MAX_INTERVAL);
                }
                continue;
            }
        };
        transient = 0;
        match token_or_step(&answer, interval, spec) {
            Ok(token) => return Ok(token),
            Err(PollStep::Again(next)) => interval = next,
            Err(PollStep::Fail(f)) => return Err(f),
        }
    }
}

fn token_or_step(
    answer: &FormResponse,
    interval: Duration,
    spec: &OAuthSpec,
) -> Result<NewToken, PollStep> {
    if answer.is_success() {
        // Leniently, like every token answer: an odd field must not cost the new grant.
        return token_from_body(&answer.body, None, &spec.scopes, crate::domain::now_ms())
            .map_err(|e| PollStep::Fail(e.failure()));
    }
    match answer.oauth_error() {
        Some(e) => Err(after_error(
            &e.error,
            e.error_description.as_deref(),
            interval,
        )),
        None => Err(PollStep::Fail(Failure::new(
            ErrorClass::Protocol,
            format!(
                "the token endpoint answered {} without an OAuth error",
                answer.describe()
            ),
        ))),
    }
}

/// `at + d`, or `at` plus the longest wait this flow allows if that would overflow the clock
/// (callers clamp `d` first; this is the belt to that brace).
fn after(at: Instant, d: Duration) -> Instant {
    at.checked_add(d)
        .or_else(|| at.checked_add(MAX_EXPIRES_IN))
        .unwrap_or(at)
}

/// Sleeps `interval`, reporting progress every tick, never past the code's expiry.
async fn wait(
    interval: Duration,
    started: Instant,
    deadline: Instant,
    polls: u32,
    on: &(dyn Fn(DeviceProgress<'_>) + Send + Sync),
) {
    let until = after(Instant::now(), interval).min(deadline);
    loop {
        let now = Instant::now();
        if now >= until {
            return;
        }
        on(DeviceProgress::Waiting {
            elapsed: now.saturating_duration_since(started),
            remaining: deadline.saturating_duration_since(now),
            polls,
        });
        tokio::time::sleep((until - now).min(PROGRESS_TICK)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_errors_steer_the_loop() {
        let i = Duration::from_secs(1);
        assert_eq!(
            after_error("authorization_pending", None, i),
            PollStep::Again(i)
        );
        assert_eq!(
            after_error("slow_down", None, i),
            PollStep::Again(Duration::from_secs(6))
        );
        // slow_down accumulates: every later poll keeps the larger interval.
        assert_eq!(
            after_error("slow_down", None, Duration::from_secs(6)),
            PollStep::Again(Duration::from_secs(11))
        );
        // ...but never past the ceiling, however often the server says it.
        assert_eq!(
            after_error("slow_down", None, MAX_INTERVAL),
            PollStep::Again(MAX_INTERVAL)
        );
        let PollStep::Fail(f) = after_error("access_denied", None, i) else {
            panic!("access_denied must stop the loop");
        };
        assert!(f.message.contains("the user declined"), "{f}");
        let PollStep::Fail(f) = after_error("expired_token", None, i) else {
            panic!("expired_token must stop the loop");
        };
        assert!(f.message.contains("the code expired"), "{f}");
        assert!(f.message.contains("run the command again"), "{f}");
        let PollStep::Fail(f) = after_error("invalid_client", Some("unknown client"), i) else {
            panic!("other errors stop the loop");
        };
        assert!(f.message.contains("invalid_client: unknown client"), "{f}");
    }

    #[test]
    fn google_style_verification_url_is_accepted() {
        let r: DeviceResponse = serde_json::from_str(
            r#"{"device_code":"d","user_code":"U","verification_url":"https://g/device","expires_in":1800}"#,
        )
        .unwrap();
        assert_eq!(r.verification_uri, "https://g/device");
        assert_eq!(r.interval, None);
    }
}
