//! A mergeable latency sketch (the DDSketch idea: logarithmic buckets), so percentiles survive
//! downsampling. Averaging per-minute p95s gives a number that means nothing; merging the
//! per-minute sketches and asking the merge for its p95 gives the p95 of every sample, within
//! a relative error of `RELATIVE_ERROR`.

use std::collections::BTreeMap;

/// Bucket growth factor. Each bucket spans `(GAMMA^(i-1), GAMMA^i]` milliseconds, and a value
/// is reported as the bucket's midpoint `2 GAMMA^i / (GAMMA + 1)`, which is within
/// `(GAMMA - 1) / (GAMMA + 1)` of every value the bucket holds.
const GAMMA: f64 = 1.02;
/// The stated bound: any quantile is within 1% of the exact sample at that rank.
pub const RELATIVE_ERROR: f64 = (GAMMA - 1.0) / (GAMMA + 1.0);
/// Latencies at or below this (in ms) share the zero bucket: a microsecond is not worth a bucket.
const MIN_MS: f64 = 0.001;
/// A decoded sketch holds at most this many buckets. Latencies from 1 µs to 10 days need ~1,500
/// buckets at this growth; a blob claiming more is not one of ours.
pub const MAX_BUCKETS: usize = 4096;
const ENCODING_VERSION: u8 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sketch {
    zero: u64,
    buckets: BTreeMap<i32, u64>,
    count: u64,
}

impl Sketch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_ms(&mut self, ms: f64) {
        self.add_n(ms, 1);
    }

    fn add_n(&mut self, ms: f64, n: u64) {
        // NaN and negatives are a caller's bug or a clock step; count them as instant rather
        // than lose the sample's success or failure from the count.
        if ms.is_nan() || ms <= MIN_MS {
            self.zero = self.zero.saturating_add(n);
        } else {
            let i = index_of(ms);
            let c = self.buckets.entry(i).or_insert(0);
            *c = c.saturating_add(n);
        }
        self.count = self.count.saturating_add(n);
    }

    pub fn merge(&mut self, other: &Sketch) {
        self.zero = self.zero.saturating_add(other.zero);
        for (&i, &n) in &other.buckets {
            let c = self.buckets.entry(i).or_insert(0);
            *c = c.saturating_add(n);
        }
        self.count = self.count.saturating_add(other.count);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The value at rank `floor(q * (count - 1))` of the sorted samples, within
    /// `RELATIVE_ERROR`. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.5 } else { q.clamp(0.0, 1.0) };
        let rank = (q * (self.count - 1) as f64).floor() as u64;
        if rank < self.zero {
            return Some(0.0);
        }
        let mut seen = self.zero;
        for (&i, &n) in &self.buckets {
            seen = seen.saturating_add(n);
            if seen > rank {
                return Some(value_of(i));
            }
        }
        self.buckets.keys().next_back().map(|&i| value_of(i))
    }

    /// A compact binary form for the store: version, zero count, then (index delta, count)
    /// pairs as LEB128 varints. A 30 s probe's hour is ~120 samples in a dozen buckets: ~40 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.buckets.len() * 3);
        out.push(ENCODING_VERSION);
        put_varint(&mut out, self.zero);
        put_varint(&mut out, self.buckets.len() as u64);
        let mut prev: i64 = 0;
        for (&i, &n) in &self.buckets {
            put_varint(&mut out, zigzag(i as i64 - prev));
            put_varint(&mut out, n);
            prev = i as i64;
        }
        out
    }

    /// Reads what `encode` wrote. Anything else (a truncated blob, another version, absurd
    /// indexes or counts) is an error, never a panic or an unbounded allocation.
    pub fn decode(bytes: &[u8]) -> Result<Sketch, String> {
        let mut r = Reader { bytes, at: 0 };
        let version = r.byte()?;
        if version != ENCODING_VERSION {
            return Err(format!("latency sketch version {version} is not known"));
        }
        let zero = r.varint()?;
        let n = r.varint()?;
        if n > MAX_BUCKETS as u64 {
            return Err(format!(
                "latency sketch claims {n} buckets (at most {MAX_BUCKETS})"
            ));
        }
        let mut s = Sketch {
            zero,
            buckets: BTreeMap::new(),
            count: zero,
        };
        let mut index: i64 = 0;
        for _ in 0..n {
            index = index.saturating_add(unzigzag(r.varint()?));
            let i = i32::try_from(index).map_err(|_| "latency sketch index out of range")?;
            let c = r.varint()?;
            let slot = s.buckets.entry(i).or_insert(0);
            *slot = slot.saturating_add(c);
            s.count = s.count.saturating_add(c);
        }
        if r.at != bytes.len() {
            return Err("latency sketch has trailing bytes".into());
        }
        Ok(s)
    }
}

fn index_of(ms: f64) -> i32 {
    let i = (ms.ln() / GAMMA.ln()).ceil();
    // f64 → i32 saturates in Rust; latencies past ~10^8 years land in the last bucket.
    i as i32
}

fn value_of(i: i32) -> f64 {
    2.0 * GAMMA.powi(i) / (GAMMA + 1.0)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or("latency sketch is truncated")?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("latency sketch has an overlong number".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact(samples: &[f64], q: f64) -> f64 {
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        s[(q * (s.len() - 1) as f64).floor() as usize]
    }

    fn within(got: f64, want: f64) -> bool {
        if want <= MIN_MS {
            return got == 0.0;
        }
        (got - want).abs() <= want * RELATIVE_ERROR * (1.0 + 1e-9)
    }

    #[test]
    fn empty_has_no_quantile() {
        assert_eq!(Sketch::new().quantile(0.5), None);
    }

    #[test]
    fn quantiles_of_a_known_spread() {
        let mut s = Sketch::new();
        for ms in 1..=1000 {
            s.add_ms(ms as f64);
        }
        for (q, want) in [(0.5, 500.0), (0.95, 950.0), (0.99, 990.0)] {
            let got = s.quantile(q).unwrap();
            assert!(within(got, want), "q{q}: {got} vs {want}");
        }
    }

    #[test]
    fn garbage_blobs_are_errors() {
        for bad in [
            &b""[..],
            &[9u8, 0, 0][..],
            &[1u8, 0, 0xff, 0xff, 0xff, 0xff, 0x7f][..],
            &[1u8, 0, 1, 2][..],
            &[1u8, 0, 0, 7][..],
            &[
                1u8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ][..],
        ] {
            assert!(Sketch::decode(bad).is_err(), "{bad:?} decoded");
        }
    }

    proptest! {
        #[test]
        fn quantiles_stay_within_the_stated_error(
            samples in prop::collection::vec(0.0005f64..600_000.0, 1..400),
            q in 0.0f64..=1.0,
        ) {
            let mut s = Sketch::new();
            for &x in &samples { s.add_ms(x); }
            let got = s.quantile(q).unwrap();
            let want = exact(&samples, q);
            prop_assert!(within(got, want), "q{} got {} want {}", q, got, want);
        }

        /// Downsampling: per-minute sketches merged into an hour answer like one sketch of every
        /// sample, so percentiles survive the rollup exactly as far as the bound allows.
        #[test]
        fn merged_parts_answer_like_the_whole(
            parts in prop::collection::vec(prop::collection::vec(0.01f64..60_000.0, 0..40), 1..30),
            q in 0.0f64..=1.0,
        ) {
            let all: Vec<f64> = parts.iter().flatten().copied().collect();
            prop_assume!(!all.is_empty());
            let mut merged = Sketch::new();
            for p in &parts {
                let mut s = Sketch::new();
                for &x in p { s.add_ms(x); }
                let s = Sketch::decode(&s.encode()).unwrap();
                merged.merge(&s);
            }
            prop_assert_eq!(merged.count(), all.len() as u64);
            let got = merged.quantile(q).unwrap();
            prop_assert!(within(got, exact(&all, q)));
        }

        #[test]
        fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = Sketch::decode(&bytes);
        }

        #[test]
        fn encode_round_trips(samples in prop::collection::vec(0.0f64..1e7, 0..200)) {
            let mut s = Sketch::new();
            for &x in &samples { s.add_ms(x); }
            prop_assert_eq!(Sketch::decode(&s.encode()).unwrap(), s);
        }
    }
}
