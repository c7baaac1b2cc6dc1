//! Small tables every process reads to show what another one decided: which connections an
//! operator paused and which the leader forecasts at risk; and reading the event log by query.

use std::collections::HashMap;

use rusqlite::params;
use rusqlite::types::Value;

use super::{Store, StoreError};
use crate::domain::events::{EventEntry, EventQuery};
use crate::domain::{Actor, ConnectionKey, UnixMs};

impl Store {
    /// Pauses (with the instant and who asked) or resumes a connection. Idempotent: pausing a
    /// paused connection keeps the first instant.
    pub async fn set_paused(
        &self,
        key: &ConnectionKey,
        paused: bool,
        at: UnixMs,
        actor: Actor,
    ) -> Result<(), StoreError> {
        let key = key.clone();
        self.call(move |c| {
            if paused {
                c.execute(
                    "INSERT OR IGNORE INTO paused (connector, account, at, actor) VALUES (?1, ?2, ?3, ?4)",
                    params![key.connector, key.account, at, actor.as_str()],
                )?;
            } else {
                c.execute(
                    "DELETE FROM paused WHERE connector = ?1 AND account = ?2",
                    params![key.connector, key.account],
                )?;
            }
            Ok(())
        })
        .await
    }

    /// Every paused connection and since when.
    pub async fn paused(&self) -> Result<HashMap<ConnectionKey, UnixMs>, StoreError> {
        self.call(|c| {
            let mut stmt = c.prepare("SELECT connector, account, at FROM paused")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    ConnectionKey::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    r.get::<_, i64>(2)?,
                ))
            })?;
            Ok(rows.collect::<Result<HashMap<_, _>, _>>()?)
        })
        .await
    }

    /// Records the leader's at-risk forecast for `key` (`Some(reason)`), or that it is over.
    pub async fn set_at_risk(
        &self,
        key: &ConnectionKey,
        reason: Option<String>,
        at: UnixMs,
    ) -> Result<(), StoreError> {
        let key = key.clone();
        self.call(move |c| {
            match reason {
                Some(reason) => c.execute(
                    "INSERT INTO at_risk (connector, account, since, reason) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (connector, account) DO UPDATE SET reason = excluded.reason",
                    params![key.connector, key.account, at, reason],
                )?,
                None => c.execute(
                    "DELETE FROM at_risk WHERE connector = ?1 AND account = ?2",
                    params![key.connector, key.account],
                )?,
            };
            Ok(())
        })
        .await
    }

    /// Every connection the leader forecasts at risk, and why.
    pub async fn at_risk(&self) -> Result<HashMap<ConnectionKey, String>, StoreError> {
        self.call(|c| {
            let mut stmt = c.prepare("SELECT connector, account, reason FROM at_risk")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    ConnectionKey::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    r.get::<_, String>(2)?,
                ))
            })?;
            Ok(rows.collect::<Result<HashMap<_, _>, _>>()?)
        })
        .await
    }

    /// The event log by `query`: the newest `limit` rows that match, oldest first.
    pub async fn query_events(&self, query: EventQuery) -> Result<Vec<EventEntry>, StoreError> {
        self.call(move |c| {
            let mut sql = String::from(
                "SELECT id, at, connector, account, kind, actor, outcome, latency_ms, class, detail
                 FROM events WHERE 1 = 1",
            );
            let mut values: Vec<Value> = Vec::new();
            let mut bind = |sql: &mut String, clause: &str, v: Value| {
                values.push(v);
                sql.push_str(&clause.replace('?', &format!("?{}", values.len())));
            };
            if let Some(connector) = &query.connector {
                bind(
                    &mut sql,
                    " AND connector = ?",
                    Value::Text(connector.clone()),
                );
                if let Some(account) = &query.account {
                    bind(&mut sql, " AND account = ?", Value::Text(account.clone()));
                }
            }
            if let Some(since) = query.since {
                bind(&mut sql, " AND at >= ?", Value::Integer(since));
            }
            if let Some(after) = query.after_id {
                bind(&mut sql, " AND id > ?", Value::Integer(after));
            }
            if !query.kinds.is_empty() {
                sql.push_str(" AND kind IN (");
                for (i, kind) in query.kinds.iter().enumerate() {
                    if i > 0 {
                        sql.push(',');
                    }
                    bind(&mut sql, "?", Value::Text(kind.clone()));
                }
                sql.push(')');
            }
            bind(
                &mut sql,
                " ORDER BY id DESC LIMIT ?",
                Value::Integer(query.effective_limit() as i64),
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(values), |r| {
                let connector: Option<String> = r.get(2)?;
                let account: Option<String> = r.get(3)?;
                let actor: String = r.get(5)?;
                Ok(EventEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    key: connector
                        .zip(account)
                        .map(|(c, a)| ConnectionKey::new(c, a)),
                    kind: r.get(4)?,
                    actor: serde_json::from_value(serde_json::Value::String(actor))
                        .unwrap_or(Actor::Cli),
                    outcome: r.get(6)?,
                    latency_ms: r.get::<_, Option<i64>>(7)?.map(|v| v.max(0) as u64),
                    class: r
                        .get::<_, Option<String>>(8)?
                        .as_deref()
                        .and_then(super::log::class_from_str),
                    detail: r.get(9)?,
                })
            })?;
            let mut entries = rows.collect::<Result<Vec<_>, _>>()?;
            entries.reverse();
            Ok(entries)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::events::EventQuery;
    use crate::domain::{Actor, ConnectionKey};
    use crate::store::EventRecord;
    use crate::store::test_store as open;

    #[tokio::test]
    async fn pausing_is_kept_and_idempotent() {
        let (_dir, store) = open();
        let key = ConnectionKey::new("jira", "ops");
        store
            .set_paused(&key, true, 10, Actor::Console)
            .await
            .unwrap();
        store.set_paused(&key, true, 20, Actor::Cli).await.unwrap();
        assert_eq!(store.paused().await.unwrap().get(&key), Some(&10));
        store.set_paused(&key, false, 30, Actor::Cli).await.unwrap();
        assert!(store.paused().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn events_by_query_filter_and_resume() {
        let (_dir, store) = open();
        let a = ConnectionKey::new("a", "default");
        let b = ConnectionKey::new("b", "default");
        for (i, (key, kind)) in [
            (&a, "probe"),
            (&b, "refresh"),
            (&a, "refresh"),
            (&a, "probe"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut e = EventRecord::new(Some(key), kind, Actor::Scheduler, "ok");
            e.at = 100 + i as i64;
            store.append_event(e).await.unwrap();
        }
        let all = store.query_events(EventQuery::default()).await.unwrap();
        assert_eq!(all.len(), 4);
        assert!(all.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
        let mut q = EventQuery::for_key(&a);
        q.kinds = vec!["probe".into()];
        let probes = store.query_events(q.clone()).await.unwrap();
        assert_eq!(probes.iter().map(|e| e.at).collect::<Vec<_>>(), [100, 103]);
        q.after_id = Some(probes[0].id);
        assert_eq!(store.query_events(q).await.unwrap().len(), 1);
        let newest_two = store
            .query_events(EventQuery {
                limit: 2,
                since: Some(101),
                ..EventQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(
            newest_two.iter().map(|e| e.at).collect::<Vec<_>>(),
            [102, 103]
        );
        // A hostile filter value is bound, never spliced into the SQL.
        let none = store
            .query_events(EventQuery {
                connector: Some("a' OR '1'='1".into()),
                ..EventQuery::default()
            })
            .await
            .unwrap();
        assert!(none.is_empty());
    }
}
