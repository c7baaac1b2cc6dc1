//! `[[alerts]]`: where alerts go (webhook, Slack, PagerDuty, email) and when they fire. The
//! alert front-end (`crate::alert`) reads these; the checks here make a bad channel fail at
//! load time, at its own key, instead of at 3 a.m. when the first alert is due.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use super::duration::deserialize_duration;
use super::locate::{KeyPath, Located, Seg};
use super::schema::Config;
use crate::secret::Secret;

/// PagerDuty's Events API v2 endpoint; `url` overrides it (a proxy, or a test's loopback).
pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertChannel {
    /// What `alerts test NAME` and the outbox call the channel.
    pub name: String,
    pub kind: AlertKind,
    /// Where to POST (webhook, Slack, PagerDuty). A Slack URL holds its own secret, so URLs are
    /// kept as secrets and shown by host only.
    #[serde(default)]
    pub url: Option<Secret>,
    /// `kind = "webhook"`: the HMAC-SHA256 key the `Switchboard-Signature` header is made with.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// `kind = "pagerduty"`: the integration's routing key.
    #[serde(default)]
    pub routing_key: Option<Secret>,
    #[serde(default)]
    pub smtp_host: Option<String>,
    /// Default: 587 with STARTTLS, 465 with TLS, 25 without.
    #[serde(default)]
    pub smtp_port: Option<u16>,
    #[serde(default)]
    pub smtp_tls: SmtpTls,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    /// Which transitions fire: down, at_risk, needs_reauth, recovered (the resolved notice).
    #[serde(default = "all_transitions")]
    pub on: Vec<AlertOn>,
    /// Only these connectors (empty: every connector, unless `tags` narrows it).
    #[serde(default)]
    pub connectors: Vec<String>,
    /// Only connectors carrying one of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// A state must hold this long before it fires, and health this long before it resolves:
    /// a connection that flaps for a few seconds pages nobody.
    #[serde(default = "one_minute", deserialize_with = "deserialize_duration")]
    pub min_duration: Duration,
    /// Send the alert again this often while it is unresolved; "0s": never.
    #[serde(default = "zero", deserialize_with = "deserialize_duration")]
    pub remind_every: Duration,
    /// One delivery attempt's limit.
    #[serde(default = "ten_seconds", deserialize_with = "deserialize_duration")]
    pub timeout: Duration,
    /// The first retry's wait; each later one doubles, up to `retry_max`.
    #[serde(default = "five_seconds", deserialize_with = "deserialize_duration")]
    pub retry_initial: Duration,
    #[serde(default = "five_minutes", deserialize_with = "deserialize_duration")]
    pub retry_max: Duration,
    /// A message still undelivered this long after it was queued is dropped (and the drop
    /// recorded as the channel's last outcome).
    #[serde(default = "one_day", deserialize_with = "deserialize_duration")]
    pub give_up_after: Duration,
    /// `${VAR}`s this channel uses that are unset: the channel is off until they are set.
    #[serde(skip)]
    pub missing_env: Vec<String>,
}

impl AlertChannel {
    pub fn is_configured(&self) -> bool {
        self.missing_env.is_empty()
    }

    /// Whether `on` names `what`.
    pub fn fires_on(&self, what: AlertOn) -> bool {
        self.on.contains(&what)
    }

    /// The URL a message goes to (PagerDuty's own unless overridden).
    pub fn target_url(&self) -> Option<String> {
        match (&self.url, self.kind) {
            (Some(u), _) => Some(u.expose().to_owned()),
            (None, AlertKind::Pagerduty) => Some(PAGERDUTY_URL.to_owned()),
            (None, _) => None,
        }
    }

    pub fn smtp_port(&self) -> u16 {
        self.smtp_port.unwrap_or(match self.smtp_tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    Webhook,
    Slack,
    Pagerduty,
    Email,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Slack => "slack",
            Self::Pagerduty => "pagerduty",
            Self::Email => "email",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertOn {
    Down,
    AtRisk,
    NeedsReauth,
    Recovered,
}

impl AlertOn {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Down => "down",
            Self::AtRisk => "at_risk",
            Self::NeedsReauth => "needs_reauth",
            Self::Recovered => "recovered",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS; refused if the server does not offer it.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: only for a relay on loopback.
    None,
}

fn all_transitions() -> Vec<AlertOn> {
    vec![
        AlertOn::Down,
        AlertOn::AtRisk,
        AlertOn::NeedsReauth,
        AlertOn::Recovered,
    ]
}
fn zero() -> Duration {
    Duration::ZERO
}
fn five_seconds() -> Duration {
    Duration::from_secs(5)
}
fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}
fn one_minute() -> Duration {
    Duration::from_secs(60)
}
fn five_minutes() -> Duration {
    Duration::from_secs(300)
}
fn one_day() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn path(i: usize, key: &str) -> KeyPath {
    let mut p = KeyPath(vec![Seg::Key("alerts".into()), Seg::Index(i)]);
    for k in key.split('.').filter(|k| !k.is_empty()) {
        p.push(Seg::Key(k.into()));
    }
    p
}

/// The checks serde cannot make. Messages never quote a secret or a URL (a Slack URL is one).
pub(crate) fn validate(config: &Config, root: &super::Doc<'_>) -> Result<(), Located> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, a) in config.alerts.iter().enumerate() {
        let err = |key: &str, anchor: &str, message: String| {
            Located::at(root.get(), path(i, key), &path(i, anchor), message)
        };
        let id_ok = !a.name.is_empty()
            && a.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !id_ok {
            return Err(err(
                "name",
                "name",
                format!(
                    "invalid channel name \"{}\": use only letters, digits, '-' and '_'",
                    a.name
                ),
            ));
        }
        if let Some(first) = seen.insert(&a.name, i) {
            return Err(err(
                "name",
                "name",
                format!(
                    "duplicate channel name `{}`: already used by alerts[{first}]",
                    a.name
                ),
            ));
        }
        let needs = |key: &str, what: &str| {
            err(
                key,
                "kind",
                // No quotes: an error about a secret's key has its quoted parts hidden.
                format!("a {} channel needs {key}: {what}", a.kind.as_str()),
            )
        };
        match a.kind {
            AlertKind::Webhook => {
                if a.url.is_none() {
                    return Err(needs("url", "where to POST the alert"));
                }
                if a.secret.as_ref().is_none_or(Secret::is_empty) {
                    return Err(needs(
                        "secret",
                        "the key receivers verify the signature with, e.g. ${SB_WEBHOOK_SECRET}",
                    ));
                }
            }
            AlertKind::Slack => {
                if a.url.is_none() {
                    return Err(needs(
                        "url",
                        "the Slack incoming webhook URL, e.g. ${SLACK_WEBHOOK_URL}",
                    ));
                }
            }
            AlertKind::Pagerduty => {
                if a.routing_key.as_ref().is_none_or(Secret::is_empty) {
                    return Err(needs(
                        "routing_key",
                        "the Events API v2 integration key, e.g. ${PAGERDUTY_ROUTING_KEY}",
                    ));
                }
            }
            AlertKind::Email => {
                if a.smtp_host.as_deref().is_none_or(str::is_empty) {
                    return Err(needs("smtp_host", "the SMTP relay to send through"));
                }
                let Some(from) = &a.from else {
                    return Err(needs("from", "the sender address"));
                };
                if from.parse::<lettre::message::Mailbox>().is_err() {
                    return Err(err(
                        "from",
                        "from",
                        format!(
                            "\"{from}\" is not an email address; write e.g. \"switchboard <ops@example.com>\""
                        ),
                    ));
                }
                if a.to.is_empty() {
                    return Err(needs("to", "one or more recipient addresses"));
                }
                for (j, to) in a.to.iter().enumerate() {
                    if to.parse::<lettre::message::Mailbox>().is_err() {
                        return Err(Located::at(
                            root.get(),
                            path(i, "to"),
                            &{
                                let mut p = path(i, "to");
                                p.push(Seg::Index(j));
                                p
                            },
                            format!("\"{to}\" is not an email address"),
                        ));
                    }
                }
                if a.password.is_some() && a.username.is_none() {
                    return Err(err(
                        "username",
                        "password",
                        "`password` is set without `username`; set both, or neither for a relay that needs no login".into(),
                    ));
                }
            }
        }
        if a.kind != AlertKind::Email && (a.smtp_host.is_some() || !a.to.is_empty()) {
            return Err(err(
                "smtp_host",
                "kind",
                format!(
                    "smtp_host, to and from are for kind = \"email\", not \"{}\"",
                    a.kind.as_str()
                ),
            ));
        }
        if a.is_configured()
            && let Some(url) = a.target_url()
        {
            // Never quote the URL: a Slack webhook URL is its own credential.
            let host = url::Url::parse(&url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| "(not a URL)".into());
            crate::net::require_secure(&url, "the alert URL to", &host)
                .map_err(|m| err("url", "url", m))?;
        }
        if a.on.is_empty() {
            return Err(err(
                "on",
                "on",
                "`on` is empty, so this channel would never fire; list some of down, at_risk, needs_reauth, recovered".into(),
            ));
        }
        for c in &a.connectors {
            if config.connector(c).is_none() {
                return Err(err(
                    "connectors",
                    "connectors",
                    format!("no connector has id `{c}`; use the id of a [[connectors]] entry"),
                ));
            }
        }
        for (key, d) in [
            ("timeout", a.timeout),
            ("retry_initial", a.retry_initial),
            ("retry_max", a.retry_max),
            ("give_up_after", a.give_up_after),
        ] {
            if d.is_zero() {
                return Err(err(key, key, format!("`{key}` must be longer than 0s")));
            }
        }
        if a.retry_max < a.retry_initial {
            return Err(err(
                "retry_max",
                "retry_max",
                "retry_max is shorter than retry_initial; the wait only grows".into(),
            ));
        }
    }
    Ok(())
}
