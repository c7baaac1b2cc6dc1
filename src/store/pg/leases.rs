//! Leases on PostgreSQL: as SQLite's (`store::lease`), on the database's clock.

use super::PgStore;
use crate::store::{LeaseOutcome, StoreError};

impl PgStore {
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<LeaseOutcome, StoreError> {
        // One statement: take it when free, lapsed or ours; a new tenure unless it is a renewal.
        let taken = self
            .query_opt(
                "INSERT INTO leases AS l (name, holder, expires_at, fence)
                 VALUES ($1, $2, switchboard_now_ms() + $3, 1)
                 ON CONFLICT (name) DO UPDATE SET
                   holder = EXCLUDED.holder,
                   expires_at = EXCLUDED.expires_at,
                   fence = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > switchboard_now_ms()
                                THEN l.fence ELSE l.fence + 1 END
                 WHERE l.holder = EXCLUDED.holder OR l.expires_at <= switchboard_now_ms()
                 RETURNING fence",
                &[&name, &holder, &ttl_ms],
            )
            .await?;
        if let Some(row) = taken {
            return Ok(LeaseOutcome::Acquired { fence: row.get(0) });
        }
        let row = self
            .query_opt(
                "SELECT holder, expires_at FROM leases WHERE name = $1",
                &[&name],
            )
            .await?;
        Ok(match row {
            Some(r) => LeaseOutcome::HeldBy {
                holder: r.get(0),
                expires_at: r.get(1),
            },
            // Released between the two statements: nobody holds it; the caller tries again.
            None => LeaseOutcome::HeldBy {
                holder: String::new(),
                expires_at: 0,
            },
        })
    }

    pub async fn steal_lease(
        &self,
        name: &str,
        dead_holder: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let row = self.query_opt("UPDATE leases SET holder = $3, expires_at = switchboard_now_ms() + $4, fence = fence + 1
                 WHERE name = $1 AND holder = $2 RETURNING fence",
                &[&name, &dead_holder, &holder, &ttl_ms],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    pub async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .execute(
                "UPDATE leases SET expires_at = switchboard_now_ms() + $3
                 WHERE name = $1 AND holder = $2",
                &[&name, &holder, &ttl_ms],
            )
            .await?;
        Ok(n == 1)
    }

    /// As `Store::renew_leases`: one statement however many.
    pub async fn renew_leases(
        &self,
        names: &[String],
        holder: &str,
        ttl_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows = self
            .query(
                "UPDATE leases SET expires_at = switchboard_now_ms() + $3
                 WHERE name = ANY($1) AND holder = $2 RETURNING name",
                &[&names, &holder, &ttl_ms],
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    pub async fn lease_held(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        let row = self
            .query_opt(
                "SELECT 1 FROM leases
                 WHERE name = $1 AND holder = $2 AND expires_at > switchboard_now_ms()",
                &[&name, &holder],
            )
            .await?;
        Ok(row.is_some())
    }

    /// As `Store::live_leases`.
    pub async fn live_leases(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self
            .query(
                "SELECT name, holder FROM leases
                 WHERE left(name, length($1)) = $1 AND expires_at > switchboard_now_ms()
                 ORDER BY name",
                &[&prefix],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        // The row stays, holder cleared: its fence must keep growing.
        self.execute(
            "UPDATE leases SET holder = '', expires_at = 0 WHERE name = $1 AND holder = $2",
            &[&name, &holder],
        )
        .await?;
        Ok(())
    }
}
