//! The feed: what each host observes (probe results, event log lines), published so that every
//! other host's console and `status` show the whole fleet, not only what their own data
//! directory saw. News, not history: rows are kept minutes (`prune_feed`); each data directory
//! keeps its own history.

use super::listen::CHANNEL;
use super::{PgStore, exec, fetch_one, pg};
use crate::store::{FeedItem, StoreError};

/// Serializes publishers, held until commit: ids then commit in the order they were handed
/// out, so a reader that has seen id N has seen every row below it ("fd").
const FEED_LOCK: i64 = 0x6664;

/// Which of the feed's rows a reader wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedKind {
    Probe,
    Event,
}

impl FeedKind {
    fn as_str(self) -> &'static str {
        match self {
            FeedKind::Probe => "probe",
            FeedKind::Event => "event",
        }
    }

    fn of(item: &FeedItem) -> FeedKind {
        match item {
            FeedItem::Probe { .. } => FeedKind::Probe,
            FeedItem::Event { .. } => FeedKind::Event,
        }
    }
}

impl PgStore {
    /// Publishes `items` from data directory `origin` in one transaction and announces each
    /// kind it holds once (`Change::Feed`). Returns the last id written.
    pub async fn publish(&self, origin: &str, items: &[FeedItem]) -> Result<i64, StoreError> {
        let mut kinds = Vec::with_capacity(items.len());
        let mut bodies = Vec::with_capacity(items.len());
        for item in items {
            match serde_json::to_string(item) {
                Ok(body) => {
                    kinds.push(FeedKind::of(item).as_str());
                    bodies.push(body);
                }
                Err(e) => tracing::debug!("an observation that does not encode: {e}"),
            }
        }
        if bodies.is_empty() {
            return Ok(0);
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        exec(&tx, "SELECT pg_advisory_xact_lock($1)", &[&FEED_LOCK]).await?;
        let last: i64 = fetch_one(
            &tx,
            "WITH written AS (
                 INSERT INTO feed (written, origin, kind, body)
                 SELECT switchboard_now_ms(), $1, k, b::jsonb FROM unnest($2::text[], $3::text[]) AS t(k, b)
                 RETURNING id)
             SELECT max(id) FROM written",
            &[&origin, &kinds, &bodies],
        )
        .await?
        .get(0);
        for kind in [FeedKind::Probe, FeedKind::Event] {
            if kinds.contains(&kind.as_str()) {
                exec(
                    &tx,
                    "SELECT pg_notify($1, json_build_object('kind', $2::text, 'connector', '',
                         'account', '', 'generation', $3::bigint, 'origin', $4::text)::text)",
                    &[&CHANNEL, &kind.as_str(), &last, &origin],
                )
                .await?;
            }
        }
        tx.commit().await.map_err(pg)?;
        Ok(last)
    }

    /// Up to `limit` rows of `kind` after id `after`, oldest first: those from data directories
    /// other than `origin`, the last id looked at (the next call's `after`) and how many rows
    /// were looked at (`limit`: there may be more). A row that does not decode (written by a
    /// newer switchboard) is skipped.
    pub async fn feed_after(
        &self,
        after: i64,
        origin: &str,
        kind: FeedKind,
        limit: i64,
    ) -> Result<(Vec<FeedItem>, i64, i64), StoreError> {
        let rows = self
            .query(
                "SELECT id, origin = $2, body::text FROM feed WHERE id > $1 AND kind = $3
                 ORDER BY id LIMIT $4",
                &[&after, &origin, &kind.as_str(), &limit.max(1)],
            )
            .await?;
        let read = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        let mut upto = after;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            upto = upto.max(r.get::<_, i64>(0));
            if r.get::<_, bool>(1) {
                continue;
            }
            match serde_json::from_str(r.get::<_, &str>(2)) {
                Ok(item) => items.push(item),
                Err(e) => tracing::debug!("a feed row that does not decode: {e}"),
            }
        }
        Ok((items, upto, read))
    }

    /// The id before the first row written at or after `since_ms` (database clock): where a
    /// reader starts that wants the last minutes.
    pub async fn feed_start(&self, since_ms: i64) -> Result<i64, StoreError> {
        let row = self
            .query_one(
                "SELECT COALESCE((SELECT min(id) - 1 FROM feed WHERE written >= switchboard_now_ms() - $1),
                                 (SELECT max(id) FROM feed), 0)",
                &[&since_ms],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Forgets rows written more than `keep_ms` ago (database clock).
    pub async fn prune_feed(&self, keep_ms: i64) -> Result<u64, StoreError> {
        self.execute(
            "DELETE FROM feed WHERE written < switchboard_now_ms() - $1",
            &[&keep_ms],
        )
        .await
    }
}
