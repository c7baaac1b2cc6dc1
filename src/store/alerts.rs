//! The alert outbox, open incidents and last delivery per channel (migration 10). Only the alert
//! front-end writes these, through the engine's `Command::Alerts`.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::domain::alert::{ChannelState, Condition, Delivery, Incident, OutboxItem, Settle};
use crate::domain::{ConnectionKey, UnixMs};

/// Sent and dropped rows are kept this long so a notice queued again (a leader that restarted
/// mid-tick) still finds its dedup key and is not sent twice.
const KEEP_DONE_MS: i64 = 7 * 24 * 3600 * 1000;

/// One message to queue: (channel, dedup key, payload JSON).
pub type Queued = (String, String, String);

impl Store {
    /// Queues `messages` (each once per channel and dedup key), records `open` incidents and
    /// forgets `closed` ones, all in one transaction: a crash leaves either all or none.
    pub async fn alerts_apply(
        &self,
        messages: Vec<Queued>,
        open: Vec<Incident>,
        closed: Vec<(String, ConnectionKey)>,
        now: UnixMs,
    ) -> Result<usize, StoreError> {
        self.call(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut queued = 0;
            for (channel, dedup, payload) in &messages {
                queued += tx.execute(
                    "INSERT OR IGNORE INTO alert_outbox (channel, dedup_key, payload, created_at, next_at)
                     VALUES (?1, ?2, ?3, ?4, ?4)",
                    params![channel, dedup, payload, now],
                )?;
            }
            for i in &open {
                tx.execute(
                    "INSERT INTO alert_incidents (channel, connector, account, condition, since, incident, last_sent_at, reminders)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (channel, connector, account) DO UPDATE
                     SET condition = ?4, since = ?5, incident = ?6, last_sent_at = ?7, reminders = ?8",
                    params![
                        i.channel,
                        i.key.connector,
                        i.key.account,
                        i.condition.as_str(),
                        i.since,
                        i.incident,
                        i.last_sent_at,
                        i.reminders
                    ],
                )?;
            }
            for (channel, key) in &closed {
                tx.execute(
                    "DELETE FROM alert_incidents WHERE channel = ?1 AND connector = ?2 AND account = ?3",
                    params![channel, key.connector, key.account],
                )?;
            }
            tx.execute(
                "DELETE FROM alert_outbox WHERE state != 'pending' AND done_at < ?1",
                params![now - KEEP_DONE_MS],
            )?;
            tx.commit()?;
            Ok(queued)
        })
        .await
    }

    pub async fn alert_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.call(|c| {
            let mut st = c.prepare(
                "SELECT channel, connector, account, condition, since, incident, last_sent_at, reminders
                 FROM alert_incidents",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    ConnectionKey::new(r.get::<_, String>(1)?, r.get::<_, String>(2)?),
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (channel, key, condition, since, incident, last_sent_at, reminders) = row?;
                // A condition this build does not know (a newer switchboard wrote it) is left
                // alone rather than guessed at.
                let Some(condition) = Condition::parse(&condition) else {
                    continue;
                };
                out.push(Incident {
                    channel,
                    key,
                    condition,
                    since,
                    incident,
                    last_sent_at,
                    reminders: u32::try_from(reminders).unwrap_or(0),
                });
            }
            Ok(out)
        })
        .await
    }

    /// Pending messages due by `now`, oldest first. A channel's messages go out in the order
    /// they were queued: one waiting for its retry holds back the newer ones behind it, so a
    /// reminder or a resolve never overtakes its trigger.
    pub async fn alerts_due(
        &self,
        now: UnixMs,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        self.call(move |c| {
            let mut st = c.prepare(
                "SELECT id, channel, dedup_key, payload, created_at, attempts FROM alert_outbox o
                 WHERE state = 'pending' AND next_at <= ?1
                   AND NOT EXISTS (SELECT 1 FROM alert_outbox p WHERE p.channel = o.channel
                                   AND p.state = 'pending' AND p.id < o.id AND p.next_at > ?1)
                 ORDER BY id LIMIT ?2",
            )?;
            let rows = st.query_map(params![now, limit as i64], |r| {
                Ok(OutboxItem {
                    id: r.get(0)?,
                    channel: r.get(1)?,
                    dedup_key: r.get(2)?,
                    payload: r.get(3)?,
                    created_at: r.get(4)?,
                    attempts: u32::try_from(r.get::<_, i64>(5)?).unwrap_or(u32::MAX),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// After an attempt on message `id`: sent, retried later, or dropped; and the attempt as
    /// its channel's last delivery, when there is one to record.
    pub async fn alert_settle(
        &self,
        id: Option<i64>,
        settle: Settle,
        delivery: Delivery,
    ) -> Result<(), StoreError> {
        self.call(move |c| {
            let tx = c.transaction()?;
            let error = (!delivery.ok).then_some(delivery.message.as_str());
            if let Some(id) = id {
                match settle {
                    Settle::Sent | Settle::Dropped => {
                        let state = if settle == Settle::Sent { "sent" } else { "dropped" };
                        tx.execute(
                            "UPDATE alert_outbox SET state = ?2, attempts = attempts + 1, done_at = ?3,
                             last_error = ?4 WHERE id = ?1",
                            params![id, state, delivery.at, error],
                        )?;
                    }
                    Settle::Retry { next_at } => {
                        tx.execute(
                            "UPDATE alert_outbox SET attempts = attempts + 1, next_at = ?2, last_error = ?3
                             WHERE id = ?1",
                            params![id, next_at, error],
                        )?;
                    }
                }
            }
            tx.execute(
                "INSERT INTO alert_deliveries (channel, at, ok, status, message, dedup_key, latency_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (channel) DO UPDATE SET at = ?2, ok = ?3, status = ?4, message = ?5,
                 dedup_key = ?6, latency_ms = ?7",
                params![
                    delivery.channel,
                    delivery.at,
                    delivery.ok,
                    delivery.status,
                    delivery.message,
                    delivery.dedup_key,
                    i64::try_from(delivery.latency_ms).unwrap_or(i64::MAX)
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Each channel that has queued or delivered anything: its queue and last delivery.
    pub async fn alert_channels(&self) -> Result<Vec<ChannelState>, StoreError> {
        self.call(|c| {
            let mut st = c.prepare(
                "SELECT channel, COUNT(*) FROM alert_outbox WHERE state = 'pending' GROUP BY channel",
            )?;
            let mut out: Vec<ChannelState> = st
                .query_map([], |r| {
                    Ok(ChannelState {
                        channel: r.get(0)?,
                        queued: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                        last: None,
                    })
                })?
                .collect::<Result<_, _>>()?;
            let mut st = c.prepare(
                "SELECT channel, at, ok, status, message, dedup_key, latency_ms FROM alert_deliveries",
            )?;
            let rows = st.query_map([], |r| {
                Ok(Delivery {
                    channel: r.get(0)?,
                    at: r.get(1)?,
                    ok: r.get(2)?,
                    status: r.get::<_, Option<i64>>(3)?.and_then(|s| u16::try_from(s).ok()),
                    message: r.get(4)?,
                    dedup_key: r.get(5)?,
                    latency_ms: u64::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
                })
            })?;
            for d in rows {
                let d = d?;
                match out.iter_mut().find(|s| s.channel == d.channel) {
                    Some(s) => s.last = Some(d),
                    None => out.push(ChannelState {
                        channel: d.channel.clone(),
                        queued: 0,
                        last: Some(d),
                    }),
                }
            }
            out.sort_by(|a, b| a.channel.cmp(&b.channel));
            Ok(out)
        })
        .await
    }

    /// The state of the message with `dedup_key` on `channel` (pending | sent | dropped).
    pub async fn alert_state(
        &self,
        channel: &str,
        dedup_key: &str,
    ) -> Result<Option<String>, StoreError> {
        let (channel, dedup_key) = (channel.to_owned(), dedup_key.to_owned());
        self.call(move |c| {
            Ok(c.query_row(
                "SELECT state FROM alert_outbox WHERE channel = ?1 AND dedup_key = ?2",
                params![channel, dedup_key],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alert::Condition;

    fn delivery(channel: &str, ok: bool) -> Delivery {
        Delivery {
            channel: channel.into(),
            at: 5,
            ok,
            status: Some(if ok { 200 } else { 500 }),
            message: "m".into(),
            dedup_key: None,
            latency_ms: 3,
        }
    }

    #[tokio::test]
    async fn a_notice_queued_twice_is_sent_once_and_incidents_round_trip() {
        let (_dir, store) = crate::store::test_store();
        let m = ("hook".to_string(), "k1".to_string(), "{}".to_string());
        let incident = Incident {
            channel: "hook".into(),
            key: ConnectionKey::new("jira", "default"),
            condition: Condition::NeedsReauth,
            since: 1,
            incident: "jira/default/1".into(),
            last_sent_at: 2,
            reminders: 0,
        };
        assert_eq!(
            store
                .alerts_apply(vec![m.clone()], vec![incident.clone()], vec![], 10)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .alerts_apply(vec![m], vec![], vec![], 11)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store.alert_incidents().await.unwrap(),
            vec![incident.clone()]
        );
        let due = store.alerts_due(10, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert!(store.alerts_due(9, 10).await.unwrap().is_empty());

        store
            .alert_settle(
                Some(due[0].id),
                Settle::Retry { next_at: 100 },
                delivery("hook", false),
            )
            .await
            .unwrap();
        // A newer message of the same channel waits behind the one waiting for its retry.
        store
            .alerts_apply(
                vec![("hook".into(), "k2".into(), "{}".into())],
                vec![],
                vec![],
                20,
            )
            .await
            .unwrap();
        assert!(store.alerts_due(99, 10).await.unwrap().is_empty());
        let again = store.alerts_due(100, 10).await.unwrap();
        assert_eq!(again[0].attempts, 1);
        assert_eq!(again.len(), 2);
        let channels = store.alert_channels().await.unwrap();
        assert_eq!(channels[0].queued, 2);
        assert_eq!(channels[0].last.as_ref().map(|d| d.ok), Some(false));

        store
            .alert_settle(Some(due[0].id), Settle::Sent, delivery("hook", true))
            .await
            .unwrap();
        assert_eq!(store.alerts_due(1000, 10).await.unwrap().len(), 1);
        assert_eq!(
            store.alert_state("hook", "k1").await.unwrap().as_deref(),
            Some("sent")
        );
        store
            .alerts_apply(
                vec![],
                vec![],
                vec![("hook".into(), incident.key.clone())],
                12,
            )
            .await
            .unwrap();
        assert!(store.alert_incidents().await.unwrap().is_empty());
    }
}
