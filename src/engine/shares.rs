//! Sharing one fleet between several daemons (issue 14). Connections fall into `PARTITIONS`
//! partitions by a stable hash of their names; each live daemon leases a share of the
//! partitions and schedules the connections in those only.
//!
//! Every daemon announces itself with a lease of its own (`member:<holder>`). From the same list
//! of live members every daemon computes the same share for each member. Each step, a daemon
//! renews what it holds, gives back what is over its share, and takes free partitions up to it.
//! A daemon that joins makes the others' shares smaller: they give partitions back on their
//! next step, and the newcomer takes them on its own. A daemon that dies stops renewing: its
//! partitions lapse with its lease and the others take them. Either way the fleet is shared
//! again within a few steps. Each partition's lease carries a fence (`LeaseOutcome::Acquired`)
//! for the writes made under it.
//!
//! The engine keeps a share with it in `sharing.rs` (daemons on shared grants only).

use std::collections::BTreeMap;

use crate::domain::ConnectionKey;
use crate::store::{Grants, LeaseOutcome, StoreError};

/// Enough for 64 daemons; few enough that a step's renewals stay a few statements.
pub const PARTITIONS: u32 = 64;
const MEMBER: &str = "member:";
const PARTITION: &str = "partition:";

/// The partition of a connection: FNV-1a over its names, the same in every process and
/// version (std's hasher is seeded per process).
pub fn partition_of(key: &ConnectionKey, partitions: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key
        .connector
        .bytes()
        .chain(std::iter::once(0x1f))
        .chain(key.account.bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    u32::try_from(h % u64::from(partitions.max(1))).unwrap_or(0)
}

/// How many daemons share the fleet now (live member leases).
pub async fn live_members(grants: &Grants) -> Result<usize, StoreError> {
    Ok(grants.live_leases(MEMBER).await?.len())
}

/// The share of member number `index` (in name order) among `members`: the partitions split
/// as evenly as they go, the first ones taking one more.
pub fn share(partitions: u32, members: usize, index: usize) -> u32 {
    let n = u32::try_from(members.max(1)).unwrap_or(u32::MAX);
    let i = u32::try_from(index).unwrap_or(u32::MAX);
    partitions / n + u32::from(i < partitions % n)
}

/// What one step changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Step {
    pub gained: Vec<u32>,
    /// Renewals that failed: another daemon took them after this one's lease lapsed.
    pub lost: Vec<u32>,
    /// Given back because they were over this daemon's share.
    pub released: Vec<u32>,
    pub members: usize,
}

pub struct Shares {
    store: Grants,
    me: String,
    partitions: u32,
    ttl_ms: i64,
    /// Held partitions and the fence of each one's tenure.
    held: BTreeMap<u32, i64>,
}

impl Shares {
    /// `ttl_ms`: how long a lease lasts unrenewed; step at least three times in that.
    pub fn new(store: Grants, me: impl Into<String>, partitions: u32, ttl_ms: i64) -> Self {
        Self {
            store,
            me: me.into(),
            partitions: partitions.max(1),
            ttl_ms,
            held: BTreeMap::new(),
        }
    }

    pub fn held(&self) -> impl Iterator<Item = u32> + '_ {
        self.held.keys().copied()
    }

    /// The fence of this daemon's tenure of `partition`, while it holds it.
    pub fn fence_of(&self, partition: u32) -> Option<i64> {
        self.held.get(&partition).copied()
    }

    pub async fn step(&mut self) -> Result<Step, StoreError> {
        let mut step = Step::default();
        let member = format!("{MEMBER}{}", self.me);
        self.store
            .acquire_lease(&member, &self.me, self.ttl_ms)
            .await?;
        let mut members: Vec<String> = self
            .store
            .live_leases(MEMBER)
            .await?
            .into_iter()
            .map(|(_, holder)| holder)
            .collect();
        if !members.contains(&self.me) {
            members.push(self.me.clone());
        }
        members.sort();
        members.dedup();
        step.members = members.len();
        let index = members.iter().position(|m| *m == self.me).unwrap_or(0);
        let target = usize::try_from(share(self.partitions, members.len(), index)).unwrap_or(0);

        // One statement for all of them: a daemon holding hundreds of partitions renews them
        // every step.
        let names: Vec<String> = self.held.keys().map(|&p| name(p)).collect();
        let renewed: std::collections::HashSet<String> = self
            .store
            .renew_leases(&names, &self.me, self.ttl_ms)
            .await?
            .into_iter()
            .collect();
        for p in self.held.keys().copied().collect::<Vec<_>>() {
            if !renewed.contains(&name(p)) {
                self.held.remove(&p);
                step.lost.push(p);
            }
        }
        while self.held.len() > target {
            let Some((&p, _)) = self.held.last_key_value() else {
                break;
            };
            self.store.release_lease(&name(p), &self.me).await?;
            self.held.remove(&p);
            step.released.push(p);
        }
        if self.held.len() < target {
            let taken: std::collections::HashSet<String> = self
                .store
                .live_leases(PARTITION)
                .await?
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            // Each member starts looking at its own place, so members joining together do not
            // all reach for the same partitions.
            let start = partition_of(&ConnectionKey::new(&self.me, ""), self.partitions);
            for i in 0..self.partitions {
                if self.held.len() >= target {
                    break;
                }
                let p = (start + i) % self.partitions;
                if self.held.contains_key(&p) || taken.contains(&name(p)) {
                    continue;
                }
                if let LeaseOutcome::Acquired { fence } = self
                    .store
                    .acquire_lease(&name(p), &self.me, self.ttl_ms)
                    .await?
                {
                    self.held.insert(p, fence);
                    step.gained.push(p);
                }
            }
        }
        Ok(step)
    }

    /// Gives everything back at once (a clean shutdown), so the others need not wait for the
    /// leases to lapse.
    pub async fn leave(&mut self) -> Result<(), StoreError> {
        for p in std::mem::take(&mut self.held).into_keys() {
            self.store.release_lease(&name(p), &self.me).await?;
        }
        self.store
            .release_lease(&format!("{MEMBER}{}", self.me), &self.me)
            .await
    }
}

fn name(p: u32) -> String {
    format!("{PARTITION}{p:05}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;

    #[test]
    fn shares_add_up_and_differ_by_at_most_one() {
        for members in 1..=70 {
            let shares: Vec<u32> = (0..members).map(|i| share(64, members, i)).collect();
            assert_eq!(shares.iter().sum::<u32>(), 64, "{members} members");
            let (lo, hi) = (shares.iter().min(), shares.iter().max());
            assert!(hi.zip(lo).is_some_and(|(h, l)| h - l <= 1));
        }
    }

    #[test]
    fn a_connection_stays_in_its_partition_and_partitions_fill_evenly() {
        let key = ConnectionKey::new("jira", "ops");
        assert_eq!(partition_of(&key, 64), partition_of(&key.clone(), 64));
        // Fixed across processes and versions: a change here moves every connection.
        assert_eq!(partition_of(&key, 64), 42);
        let mut counts = [0u32; 64];
        for i in 0..10_000 {
            counts
                [partition_of(&ConnectionKey::new(format!("c{i:05}"), "default"), 64) as usize] +=
                1;
        }
        let (lo, hi) = (counts.iter().min(), counts.iter().max());
        assert!(
            lo.is_some_and(|&l| l > 100) && hi.is_some_and(|&h| h < 220),
            "{counts:?}"
        );
    }

    /// Every partition held by exactly one of `members`.
    fn assert_split(members: &[&Shares], partitions: u32) {
        let mut seen = std::collections::HashSet::new();
        for m in members {
            for p in m.held() {
                assert!(seen.insert(p), "partition {p} held twice");
            }
        }
        assert_eq!(seen.len(), partitions as usize, "every partition held");
        let sizes: Vec<usize> = members.iter().map(|m| m.held().count()).collect();
        let (lo, hi) = (sizes.iter().min(), sizes.iter().max());
        assert!(hi.zip(lo).is_some_and(|(h, l)| h - l <= 1), "{sizes:?}");
    }

    #[tokio::test]
    async fn daemons_that_join_and_leave_share_the_partitions_evenly() {
        let (_dir, store) = test_store();
        let store = Grants::Local(store);
        let mut a = Shares::new(store.clone(), "a", 16, 60_000);
        let mut b = Shares::new(store.clone(), "b", 16, 60_000);
        let mut c = Shares::new(store.clone(), "c", 16, 60_000);
        a.step().await.unwrap();
        assert_eq!(a.held().count(), 16, "alone, it takes everything");
        // b and c join: a gives back on its next step, they take on theirs.
        for _ in 0..2 {
            for m in [&mut b, &mut c, &mut a] {
                m.step().await.unwrap();
            }
        }
        b.step().await.unwrap();
        c.step().await.unwrap();
        assert_split(&[&a, &b, &c], 16);
        assert_eq!(a.held().count() + b.held().count() + c.held().count(), 16);
        // c leaves cleanly: a and b take its partitions on their next steps.
        c.leave().await.unwrap();
        a.step().await.unwrap();
        b.step().await.unwrap();
        assert_split(&[&a, &b], 16);
        assert_eq!((a.held().count(), b.held().count()), (8, 8));
        // Fences: a tenure taken after another's is numbered higher.
        let p = b.held().next().expect("b holds some");
        assert!(b.fence_of(p).is_some_and(|f| f >= 1));
    }
}
