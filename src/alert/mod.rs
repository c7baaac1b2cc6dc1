//! Alerts: a front-end like the console. It reads the engine's snapshots (health per connection
//! over time), decides when to alert (`rules`), keeps an outbox and open incidents in the store
//! through `Command::Alerts`, and delivers to webhooks, Slack, PagerDuty and email (`send`).
//! Only the leader sends; a new leader picks up the outbox where the last one stopped.

mod dispatch;
pub mod render;
pub mod rules;
pub mod send;
pub mod sign;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{AlertChannel, AlertKind, Config};
use crate::domain::alert::{Condition, Delivery, Notice, NoticeKind, Settle};
use crate::domain::{ConnectionKey, ErrorClass, Failure, now_ms};
use crate::engine::EngineHandle;
use crate::engine::alerts::AlertOp;

pub use dispatch::backoff;

/// The running alert task; `stop` ends it.
pub struct Alerts {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Alerts {
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.task).await;
    }
}

fn http() -> Result<reqwest::Client, Failure> {
    crate::net::client_builder().build().map_err(|e| {
        Failure::new(
            ErrorClass::Config,
            format!("cannot build the HTTP client for alerts: {e}"),
        )
    })
}

/// Starts the alert task over a running engine, when the config has channels. It sends only
/// while this process leads.
pub fn spawn(handle: EngineHandle, config: &Config) -> Result<Option<Alerts>, Failure> {
    if config.alerts.is_empty() {
        return Ok(None);
    }
    for c in config.alerts.iter().filter(|c| !c.is_configured()) {
        tracing::warn!(
            "alert channel {} is off: set {} and restart",
            c.name,
            c.missing_env.join(", ")
        );
    }
    let dispatcher = dispatch::Dispatcher {
        handle,
        channels: Arc::new(config.alerts.clone()),
        tags: tags(config),
        http: http()?,
    };
    let cancel = CancellationToken::new();
    let task = tokio::spawn(dispatcher.run(cancel.clone()));
    Ok(Some(Alerts { cancel, task }))
}

fn tags(config: &Config) -> HashMap<String, Vec<String>> {
    config
        .connectors
        .iter()
        .map(|c| (c.id.clone(), c.tags.clone()))
        .collect()
}

/// The message `alerts test` sends.
pub fn test_notice(channel: &AlertChannel, kind: NoticeKind) -> Notice {
    let at = now_ms();
    let incident = format!("switchboard/{}/test/{at}", channel.name);
    Notice {
        kind,
        key: ConnectionKey::new("switchboard-test", crate::domain::DEFAULT_ACCOUNT),
        name: "switchboard-test".into(),
        condition: Condition::Down,
        since: at,
        at,
        dedup_key: format!("{incident}/{}", kind.as_str()),
        incident,
        expires_at: None,
        detail: Some(format!(
            "a test message from `switchboard alerts test {}`; nothing is wrong",
            channel.name
        )),
        fix: None,
    }
}

/// Sends a test message to `channel` now (PagerDuty: a trigger and its resolve, so nobody stays
/// paged) and records the outcome as the channel's last delivery.
pub async fn test(handle: &EngineHandle, channel: &AlertChannel) -> Result<Delivery, Failure> {
    if !channel.is_configured() {
        return Err(Failure::new(
            ErrorClass::Config,
            format!(
                "channel {} is off: set {}",
                channel.name,
                channel.missing_env.join(", ")
            ),
        ));
    }
    let http = http()?;
    let notice = test_notice(channel, NoticeKind::Test);
    let mut attempt = send::deliver(&http, channel, &notice).await;
    if attempt.ok && channel.kind == AlertKind::Pagerduty {
        let resolve = Notice {
            kind: NoticeKind::Resolve,
            dedup_key: format!("{}/resolve", notice.incident),
            ..notice.clone()
        };
        let second = send::deliver(&http, channel, &resolve).await;
        attempt = if second.ok {
            send::Attempt {
                message: format!("{} (trigger and resolve)", second.message),
                latency_ms: attempt.latency_ms + second.latency_ms,
                ..second
            }
        } else {
            second
        };
    }
    let delivery = Delivery {
        channel: channel.name.clone(),
        at: now_ms(),
        ok: attempt.ok,
        status: attempt.status,
        message: format!("test: {}", attempt.message),
        dedup_key: Some(notice.dedup_key),
        latency_ms: attempt.latency_ms,
    };
    handle
        .alerts(AlertOp::Settle {
            id: None,
            settle: Settle::Sent,
            delivery: delivery.clone(),
        })
        .await?;
    Ok(delivery)
}
