//! Who holds a lease, and whether that holder can still be alive. A process killed while holding
//! a lease would otherwise block every other process until the lease expires (found by the
//! kill -9 test against oidc-provider: 30 s stalls). The leases themselves live in the store's
//! `leases` table: who refreshes a connection, who runs the scheduler.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::domain::{UnixMs, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// `fence` numbers this tenure: it grows each time the lease passes to a new tenure (another
    /// holder, or the same one after it lapsed or was released), never on a renewal, so a write
    /// can be refused when a newer tenure has written (`Store::save_token_fenced`).
    Acquired {
        fence: i64,
    },
    HeldBy {
        holder: String,
        expires_at: UnixMs,
    },
}

impl Store {
    /// Takes the named lease for `ttl_ms` if it is free, expired, or already ours (a renewal).
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<LeaseOutcome, StoreError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.call(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let now = now_ms();
            let current: Option<(String, i64, i64)> = tx
                .query_row(
                    "SELECT holder, expires_at, fence FROM leases WHERE name = ?1",
                    [&name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let fence = match current {
                Some((h, exp, _)) if h != holder && exp > now => {
                    return Ok(LeaseOutcome::HeldBy {
                        holder: h,
                        expires_at: exp,
                    });
                }
                Some((_, exp, fence)) if exp > now => fence,
                Some((_, _, fence)) => fence.saturating_add(1),
                None => 1,
            };
            tx.execute(
                "INSERT INTO leases (name, holder, expires_at, fence) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET holder = ?2, expires_at = ?3, fence = ?4",
                params![name, holder, now.saturating_add(ttl_ms), fence],
            )?;
            tx.commit()?;
            Ok(LeaseOutcome::Acquired { fence })
        })
        .await
    }

    /// Takes a lease from a holder known to be dead, only if that holder still has it; the new
    /// tenure's fence, or `None` when the lease had moved on.
    pub async fn steal_lease(
        &self,
        name: &str,
        dead_holder: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let (name, dead, holder) = (
            name.to_string(),
            dead_holder.to_string(),
            holder.to_string(),
        );
        self.call(move |c| {
            let fence = c
                .query_row(
                    "UPDATE leases SET holder = ?3, expires_at = ?4, fence = fence + 1
                     WHERE name = ?1 AND holder = ?2 RETURNING fence",
                    params![name, dead, holder, now_ms().saturating_add(ttl_ms)],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(fence)
        })
        .await
    }

    /// Extends a lease this holder still has. False when another holder has it (or nobody).
    pub async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.call(move |c| {
            let n = c.execute(
                "UPDATE leases SET expires_at = ?3 WHERE name = ?1 AND holder = ?2",
                params![name, holder, now_ms().saturating_add(ttl_ms)],
            )?;
            Ok(n == 1)
        })
        .await
    }

    /// `renew_lease` for many leases in one go (a daemon's partitions): the names renewed, the
    /// others having passed to another holder.
    pub async fn renew_leases(
        &self,
        names: &[String],
        holder: &str,
        ttl_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let (names, holder) = (names.to_vec(), holder.to_string());
        self.call(move |c| {
            let tx = c.transaction()?;
            let until = now_ms().saturating_add(ttl_ms);
            let mut renewed = Vec::with_capacity(names.len());
            {
                let mut update = tx.prepare_cached(
                    "UPDATE leases SET expires_at = ?3 WHERE name = ?1 AND holder = ?2",
                )?;
                for name in names {
                    if update.execute(params![name, holder, until])? == 1 {
                        renewed.push(name);
                    }
                }
            }
            tx.commit()?;
            Ok(renewed)
        })
        .await
    }

    /// Whether `holder` has the lease now, unexpired.
    pub async fn lease_held(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.call(move |c| {
            let held = c
                .query_row(
                    "SELECT 1 FROM leases WHERE name = ?1 AND holder = ?2 AND expires_at > ?3",
                    params![name, holder, now_ms()],
                    |_| Ok(()),
                )
                .optional()?;
            Ok(held.is_some())
        })
        .await
    }

    /// Every unexpired lease whose name starts with `prefix`: (name, holder), by name.
    pub async fn live_leases(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        let prefix = prefix.to_string();
        self.call(move |c| {
            let mut stmt = c.prepare(
                "SELECT name, holder FROM leases
                 WHERE substr(name, 1, length(?1)) = ?1 AND expires_at > ?2 ORDER BY name",
            )?;
            let rows = stmt.query_map(params![prefix, now_ms()], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.call(move |c| {
            // The row stays, holder cleared: its fence must keep growing.
            c.execute(
                "UPDATE leases SET holder = '', expires_at = 0 WHERE name = ?1 AND holder = ?2",
                params![name, holder],
            )?;
            Ok(())
        })
        .await
    }
}

/// "pid:random@host#boot.pidns": unique per process start, and enough to tell whether the
/// holder lives. The pid alone is not: a process in another PID namespace (a container sharing
/// the data directory and the hostname) has a pid that means nothing here, so a holder is only
/// judged by its pid when it ran under this boot and in this PID namespace.
pub fn holder_id() -> String {
    format!(
        "{}:{:08x}@{}#{}",
        std::process::id(),
        rand::random::<u32>(),
        hostname(),
        namespace()
    )
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// This boot and this PID namespace, or "" where either cannot be read (then no holder is ever
/// judged dead by pid, and leases simply expire).
fn namespace() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|b| b.trim().to_string())
        .unwrap_or_default();
    let pidns = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let digits: String = pidns.chars().filter(char::is_ascii_digit).collect();
    if boot.is_empty() || digits.is_empty() {
        return String::new();
    }
    format!("{boot}.{digits}")
}

/// True only when the holder is provably gone: it ran on this host, under this boot, in this PID
/// namespace, and its process no longer exists. Anything we cannot check (another host or
/// namespace, an older holder format without one, another OS) counts as alive, and the lease
/// simply expires.
pub fn holder_is_dead(holder: &str) -> bool {
    let Some((pid_part, place)) = holder.split_once('@') else {
        return false;
    };
    let Some((host, ns)) = place.split_once('#') else {
        return false;
    };
    let here = namespace();
    if host != hostname() || here.is_empty() || ns != here {
        return false;
    }
    let Some(pid) = pid_part
        .split(':')
        .next()
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return false;
    };
    if pid == std::process::id() {
        return false;
    }
    cfg!(target_os = "linux") && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_holder_is_alive_and_a_finished_one_is_dead() {
        assert!(!holder_is_dead(&holder_id()), "this process is alive");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let dead = format!("{pid}:00000000@{}#{}", hostname(), namespace());
        assert!(holder_is_dead(&dead));
        // The same pid and host seen from another PID namespace (a container with the same
        // hostname), or in the older format that did not say: its pid means nothing here.
        assert!(!holder_is_dead(&format!(
            "{pid}:00000000@{}#{}.4026531999",
            hostname(),
            namespace().split('.').next().unwrap_or("")
        )));
        assert!(
            !holder_is_dead(&format!("{pid}:00000000@{}", hostname())),
            "a holder that does not name its PID namespace cannot be judged by its pid"
        );
        assert!(
            !holder_is_dead(&format!("{pid}:00000000@some-other-host")),
            "cannot check other hosts"
        );
        assert!(!holder_is_dead("garbage"));
    }

    use crate::store::test_store as open;

    #[tokio::test]
    async fn leases_exclude_others_until_expiry_or_release_and_each_tenure_is_numbered_higher() {
        let (_dir, store) = open();
        let acquire = |holder: &'static str, ttl: i64| {
            let store = store.clone();
            async move { store.acquire_lease("refresh:x", holder, ttl).await.unwrap() }
        };
        assert_eq!(
            acquire("a", 60_000).await,
            LeaseOutcome::Acquired { fence: 1 }
        );
        assert!(matches!(
            acquire("b", 60_000).await,
            LeaseOutcome::HeldBy { .. }
        ));
        // A renewal by the holder is the same tenure.
        assert_eq!(
            acquire("a", 60_000).await,
            LeaseOutcome::Acquired { fence: 1 }
        );
        store.release_lease("refresh:x", "a").await.unwrap();
        assert_eq!(acquire("b", -1).await, LeaseOutcome::Acquired { fence: 2 });
        // b's lease is already expired (ttl -1): a may take it, as a new tenure.
        assert_eq!(
            acquire("a", 1000).await,
            LeaseOutcome::Acquired { fence: 3 }
        );
        // Released and taken again by the same holder: still a new tenure.
        store.release_lease("refresh:x", "a").await.unwrap();
        assert_eq!(
            acquire("a", 1000).await,
            LeaseOutcome::Acquired { fence: 4 }
        );
        // Taken from a dead holder: a new tenure; from one that no longer holds it: nothing.
        assert_eq!(
            store
                .steal_lease("refresh:x", "a", "c", 1000)
                .await
                .unwrap(),
            Some(5)
        );
        assert_eq!(
            store
                .steal_lease("refresh:x", "a", "d", 1000)
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn only_the_holder_renews_and_an_expired_lease_is_not_held() {
        let (_dir, store) = open();
        store.acquire_lease("refresh:y", "a", 60_000).await.unwrap();
        assert!(store.lease_held("refresh:y", "a").await.unwrap());
        assert!(!store.lease_held("refresh:y", "b").await.unwrap());
        assert!(!store.renew_lease("refresh:y", "b", 60_000).await.unwrap());
        assert!(store.renew_lease("refresh:y", "a", -1).await.unwrap());
        assert!(
            !store.lease_held("refresh:y", "a").await.unwrap(),
            "expired, so not held, even though nobody took it"
        );
        assert!(store.renew_lease("refresh:y", "a", 60_000).await.unwrap());
        assert!(store.lease_held("refresh:y", "a").await.unwrap());
        // Taken over after expiry: the old holder can no longer renew it.
        store.renew_lease("refresh:y", "a", -1).await.unwrap();
        store.acquire_lease("refresh:y", "b", 60_000).await.unwrap();
        assert!(!store.renew_lease("refresh:y", "a", 60_000).await.unwrap());
    }
}
