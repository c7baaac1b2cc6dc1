//! The leader's last whole-fleet window read, kept for every other process (issue 16).
//!
//! Answering every window of a large fleet from the store walks the raw rows of up to two
//! partial hours: at 10,000 connections probed every 30 s that is more than a million rows and
//! a second of the store's time. The leader does that read anyway, on its own cadence, to show
//! the windows; it writes what it read here, one small row per connection, and says until when
//! the figures stand (its next read, plus slack). Followers, consoles and one-shot `status`
//! take these rows while they stand, which costs one row per connection, and compute the
//! windows themselves only when no live leader has published any. The figures carry the
//! read's time (`History::as_of`), so nobody shows them as newer than they are.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError};
use crate::domain::{ConnectionKey, UnixMs};
use crate::health::history::{Figures, History, Kind, Span};
use crate::health::sketch::{Reader, put_varint};

const AS_OF: &str = "windows_as_of";
const UNTIL: &str = "windows_until";
const VERSION: u8 = 1;

/// One connection's windows as a few dozen bytes: version, then for each kind and span the
/// sample count and, when there are samples, the rate's bits and the three percentiles (as
/// LEB128 varints, a percentile plus one so that 0 is "none").
pub(crate) fn encode(h: &History) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.push(VERSION);
    for kind in Kind::ALL {
        let w = h.windows(kind);
        for span in Span::ALL {
            let f = w.get(span);
            put_varint(&mut out, f.samples);
            if f.samples == 0 {
                continue;
            }
            match f.success_rate {
                Some(r) => {
                    out.push(1);
                    out.extend_from_slice(&r.to_le_bytes());
                }
                None => out.push(0),
            }
            for p in [f.p50_ms, f.p95_ms, f.p99_ms] {
                put_varint(&mut out, p.map_or(0, |v| u64::from(v) + 1));
            }
        }
    }
    out
}

/// Reads what `encode` wrote; anything else (another version, a truncated row, a rate out of
/// range) is `None`, and that connection is shown without windows rather than with wrong ones.
pub(crate) fn decode(bytes: &[u8], as_of: UnixMs) -> Option<History> {
    let mut r = Reader { bytes, at: 0 };
    if r.byte().ok()? != VERSION {
        return None;
    }
    let mut h = History {
        as_of,
        ..History::default()
    };
    for kind in Kind::ALL {
        for span in Span::ALL {
            let samples = r.varint().ok()?;
            if samples == 0 {
                continue;
            }
            let success_rate = match r.byte().ok()? {
                0 => None,
                1 => {
                    let mut b = [0u8; 8];
                    for byte in &mut b {
                        *byte = r.byte().ok()?;
                    }
                    let rate = f64::from_le_bytes(b);
                    if !(0.0..=1.0).contains(&rate) {
                        return None;
                    }
                    Some(rate)
                }
                _ => return None,
            };
            let mut p = [None; 3];
            for slot in &mut p {
                // Past u32 is not a latency this version writes: the row is not used.
                *slot = r
                    .varint()
                    .ok()?
                    .checked_sub(1)
                    .map(u32::try_from)
                    .transpose()
                    .ok()?;
            }
            *h.windows_mut(kind).get_mut(span) = Figures {
                samples,
                success_rate,
                p50_ms: p[0],
                p95_ms: p[1],
                p99_ms: p[2],
            };
        }
    }
    (r.at == bytes.len()).then_some(h)
}

fn meta(c: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    c.query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
        r.get::<_, i64>(0)
    })
    .optional()
}

/// Replaces the published windows with `rows` (encoded), read at `as_of`, standing until
/// `until`. One transaction: a reader sees the old set or the new one, never a mix.
fn publish(
    c: &mut Connection,
    rows: &[(ConnectionKey, Vec<u8>)],
    as_of: UnixMs,
    until: UnixMs,
) -> rusqlite::Result<()> {
    let tx = c.transaction()?;
    tx.execute("DELETE FROM windows", [])?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR REPLACE INTO windows (connector, account, body) VALUES (?1, ?2, ?3)",
        )?;
        for (key, body) in rows {
            insert.execute(params![key.connector, key.account, body])?;
        }
    }
    for (name, value) in [(AS_OF, as_of), (UNTIL, until)] {
        tx.execute(
            "INSERT INTO meta (name, value, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            params![name, value, as_of],
        )?;
    }
    tx.commit()
}

/// The published windows if they still stand at `now`.
fn published(
    c: &Connection,
    now: UnixMs,
) -> rusqlite::Result<Option<HashMap<ConnectionKey, Arc<History>>>> {
    let (Some(as_of), Some(until)) = (meta(c, AS_OF)?, meta(c, UNTIL)?) else {
        return Ok(None);
    };
    // A read from the future is a clock that jumped back: recompute rather than trust it.
    if now > until || as_of > now {
        return Ok(None);
    }
    let mut stmt = c.prepare_cached("SELECT connector, account, body FROM windows")?;
    let mut rows = stmt.query([])?;
    // Each History (700 bytes) is put where the rows will share it at once, and gathered
    // first so the map is built at its size.
    let mut found = Vec::new();
    while let Some(r) = rows.next()? {
        let Some(h) = decode(r.get_ref(2)?.as_blob().unwrap_or(&[]), as_of) else {
            continue;
        };
        found.push((
            ConnectionKey::new(r.get::<_, String>(0)?, r.get::<_, String>(1)?),
            Arc::new(h),
        ));
    }
    Ok(Some(found.into_iter().collect()))
}

impl Store {
    /// The leader's whole-fleet read, for the other processes (see the module's comment).
    pub async fn publish_windows(
        &self,
        rows: Vec<(ConnectionKey, Vec<u8>)>,
        as_of: UnixMs,
        until: UnixMs,
    ) -> Result<(), StoreError> {
        self.call(move |c| Ok(publish(c, &rows, as_of, until)?))
            .await
    }

    /// The leader's last whole-fleet read if it still stands at `now`, else `None` (no leader
    /// has published, or it stopped): the caller reads the windows itself.
    pub async fn published_windows(
        &self,
        now: UnixMs,
    ) -> Result<Option<HashMap<ConnectionKey, Arc<History>>>, StoreError> {
        self.call(move |c| Ok(published(c, now)?)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;

    fn sample() -> History {
        let mut h = History {
            as_of: 5,
            ..History::default()
        };
        h.probes.hour = Figures {
            samples: 120,
            success_rate: Some(0.975),
            p50_ms: Some(0),
            p95_ms: Some(41),
            p99_ms: None,
        };
        h.tool_calls.week = Figures {
            samples: 3,
            success_rate: None,
            p50_ms: Some(86_400_000),
            p95_ms: None,
            p99_ms: Some(7),
        };
        h
    }

    #[test]
    fn a_history_comes_back_as_it_went_in() {
        let h = sample();
        let bytes = encode(&h);
        assert_eq!(decode(&bytes, 5), Some(h));
        // A connection with nothing observed is a dozen zero counts.
        assert_eq!(encode(&History::default()).len(), 13);
    }

    #[test]
    fn a_damaged_row_is_no_history_not_a_wrong_one() {
        let bytes = encode(&sample());
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut], 5), None, "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer, 5), None);
        let mut other_version = bytes.clone();
        other_version[0] = 9;
        assert_eq!(decode(&other_version, 5), None);
        // A rate above 1 (here 2.0) is not a rate.
        let mut h = sample();
        h.probes.hour.success_rate = Some(2.0);
        assert_eq!(decode(&encode(&h), 5), None);
        // Neither is a latency past u32 milliseconds, which no version writes.
        let mut far = vec![VERSION];
        put_varint(&mut far, 1);
        far.push(0);
        for p in [1 << 33, 0, 0] {
            put_varint(&mut far, p);
        }
        far.extend([0; 11]);
        assert_eq!(decode(&far, 5), None);
        // The largest that fits comes back.
        h.probes.hour.success_rate = None;
        h.probes.hour.p99_ms = Some(u32::MAX);
        assert_eq!(decode(&encode(&h), 5), Some(h));
    }

    #[tokio::test]
    async fn published_windows_stand_until_their_time_and_replace_each_other() {
        let (_dir, store) = test_store();
        assert_eq!(store.published_windows(1_000).await.expect("read"), None);
        let (a, b) = (
            ConnectionKey::new("a", "default"),
            ConnectionKey::new("b", "x"),
        );
        let h = sample();
        store
            .publish_windows(
                vec![(a.clone(), encode(&h)), (b.clone(), vec![7, 7])],
                1_000,
                2_000,
            )
            .await
            .expect("publish");
        let got = store
            .published_windows(1_500)
            .await
            .expect("read")
            .expect("standing");
        assert_eq!(got.get(&a).map(|h| h.probes.hour), Some(h.probes.hour));
        assert_eq!(got.get(&a).map(|h| h.as_of), Some(1_000));
        assert!(
            !got.contains_key(&b),
            "a row that does not decode is left out"
        );
        // Past its time, or before it was read (a clock that went back): not used.
        assert_eq!(store.published_windows(2_001).await.expect("read"), None);
        assert_eq!(store.published_windows(999).await.expect("read"), None);
        // The next publication replaces the whole set.
        store
            .publish_windows(vec![(b.clone(), encode(&h))], 3_000, 4_000)
            .await
            .expect("publish");
        let got = store
            .published_windows(3_000)
            .await
            .expect("read")
            .expect("standing");
        assert_eq!(got.keys().collect::<Vec<_>>(), vec![&b]);
    }
}
