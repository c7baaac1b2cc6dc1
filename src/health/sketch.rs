//! A mergeable latency sketch (the DDSketch idea: logarithmic buckets), so percentiles survive
//! downsampling. Averaging per-minute p95s gives a number that means nothing; merging the
//! per-minute sketches and asking the merge for its p95 gives the p95 of every sample, within
//! a relative error of `RELATIVE_ERROR`.
//!
//! The buckets are one dense array from the lowest bucket used to the highest: a fleet-wide
//! window read merges tens of thousands of sketches, and adding two arrays is far cheaper than
//! walking and inserting into a tree (issue 16).

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
/// The index range a bucket may take: from just above `MIN_MS` to past `u64::MAX` ms, so the
/// dense array never spans more than `MAX_BUCKETS`, whatever a caller or a blob says.
const LOWEST: i32 = -350;
const HIGHEST: i32 = LOWEST + MAX_BUCKETS as i32 - 1;
const ENCODING_VERSION: u8 = 1;

#[derive(Debug, Clone, Default)]
pub struct Sketch {
    zero: u64,
    /// The index of `counts[0]`.
    offset: i32,
    /// Four bytes a bucket: a fleet's window read holds four sketches for every connection at
    /// once, and no bucket of one connection's week comes near `u32::MAX`. A bucket that
    /// would overflow saturates, and `count` counts only what the buckets took.
    counts: Vec<u32>,
    count: u64,
}

/// Buckets added past the need on the side an array grows, so a sketch that widens one bucket
/// at a time is not copied for every bucket (`cover`).
const SLACK: i32 = 8;

/// Adds `n` to a bucket; answers how much it took (less than `n` only at `u32::MAX`).
fn bump(c: &mut u32, n: u64) -> u64 {
    let before = *c;
    *c = u32::try_from(u64::from(before).saturating_add(n)).unwrap_or(u32::MAX);
    u64::from(*c - before)
}

/// Two sketches are equal when they hold the same counts, however wide their arrays grew.
impl PartialEq for Sketch {
    fn eq(&self, other: &Self) -> bool {
        self.zero == other.zero && self.count == other.count && self.buckets().eq(other.buckets())
    }
}

impl Eq for Sketch {}

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
            let took = bump(self.slot(index_of(ms)), n);
            self.count = self.count.saturating_add(took);
            return;
        }
        self.count = self.count.saturating_add(n);
    }

    /// The counter of bucket `i`, growing the array to reach it (`i` is within the range).
    fn slot(&mut self, i: i32) -> &mut u32 {
        self.cover(i, i);
        &mut self.counts[(i - self.offset) as usize]
    }

    /// Grows the array to span `lo..=hi` as well as what it spans now. The new array is sized
    /// to the need plus `SLACK` on the side that grew, not doubled as `Vec` would: at 10,000
    /// connections the doubling's spare half was the largest single cost of a window read.
    fn cover(&mut self, lo: i32, hi: i32) {
        if self.counts.is_empty() {
            self.offset = lo;
            self.counts = vec![0; (hi - lo) as usize + 1];
            return;
        }
        let top = self.offset + self.counts.len() as i32 - 1;
        if lo >= self.offset && hi <= top {
            return;
        }
        let new_lo = if lo < self.offset {
            (lo - SLACK).max(LOWEST)
        } else {
            self.offset
        };
        let new_top = if hi > top {
            (hi + SLACK).min(HIGHEST)
        } else {
            top
        };
        let mut counts = Vec::with_capacity((new_top - new_lo) as usize + 1);
        counts.resize((self.offset - new_lo) as usize, 0);
        counts.extend_from_slice(&self.counts);
        counts.resize((new_top - new_lo) as usize + 1, 0);
        self.counts = counts;
        self.offset = new_lo;
    }

    /// The non-empty buckets, lowest first, as (index, count).
    fn buckets(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(at, &n)| (self.offset + at as i32, u64::from(n)))
    }

    pub fn merge(&mut self, other: &Sketch) {
        self.zero = self.zero.saturating_add(other.zero);
        self.count = self.count.saturating_add(other.zero);
        if other.counts.is_empty() {
            return;
        }
        let other_top = other.offset + other.counts.len() as i32 - 1;
        self.cover(other.offset, other_top);
        let from = (other.offset - self.offset) as usize;
        let mut took: u64 = 0;
        for (mine, &theirs) in self.counts[from..].iter_mut().zip(&other.counts) {
            took = took.saturating_add(bump(mine, u64::from(theirs)));
        }
        self.count = self.count.saturating_add(took);
    }

    /// Takes out a sketch that was merged in before: a sum of hours less the hour that left the
    /// window. Counts never go below zero, whatever is taken out.
    pub fn subtract(&mut self, other: &Sketch) {
        self.zero = self.zero.saturating_sub(other.zero);
        for (i, n) in other.buckets() {
            let Some(at) = i
                .checked_sub(self.offset)
                .and_then(|d| usize::try_from(d).ok())
            else {
                continue;
            };
            if let Some(c) = self.counts.get_mut(at) {
                *c = c.saturating_sub(u32::try_from(n).unwrap_or(u32::MAX));
            }
        }
        self.count = self
            .counts
            .iter()
            .fold(self.zero, |sum, &n| sum.saturating_add(u64::from(n)));
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
        let mut last = None;
        for (i, n) in self.buckets() {
            seen = seen.saturating_add(n);
            if seen > rank {
                return Some(value_of(i));
            }
            last = Some(i);
        }
        last.map(value_of)
    }

    /// A compact binary form for the store: version, zero count, then (index delta, count)
    /// pairs as LEB128 varints. A 30 s probe's hour is ~120 samples in a dozen buckets: ~40 bytes.
    /// The same bytes as the tree-shaped sketch of issue 11 wrote, so its rows still read.
    pub fn encode(&self) -> Vec<u8> {
        let used = self.buckets().count();
        let mut out = Vec::with_capacity(8 + used * 3);
        out.push(ENCODING_VERSION);
        put_varint(&mut out, self.zero);
        put_varint(&mut out, used as u64);
        let mut prev: i64 = 0;
        for (i, n) in self.buckets() {
            put_varint(&mut out, zigzag(i as i64 - prev));
            put_varint(&mut out, n);
            prev = i as i64;
        }
        out
    }

    /// Reads what `encode` wrote. Anything else (a truncated blob, another version, absurd
    /// indexes or counts) is an error, never a panic or an unbounded allocation.
    pub fn decode(bytes: &[u8]) -> Result<Sketch, String> {
        let mut s = Sketch::new();
        s.merge_encoded(bytes)?;
        Ok(s)
    }

    /// Adds an encoded sketch to this one without building it first: the window read does this
    /// for every stored sketch. On an error nothing is added.
    pub fn merge_encoded(&mut self, bytes: &[u8]) -> Result<(), String> {
        // First pass: check the whole blob and find its range, so a bad one adds nothing and
        // the array grows once.
        let (zero, lo, hi) = scan(bytes, |_, _| {})?;
        if let (Some(lo), Some(hi)) = (lo, hi) {
            self.cover(lo, hi);
        }
        let offset = self.offset;
        let counts = &mut self.counts;
        let mut added: u64 = 0;
        scan(bytes, |i, n| {
            added = added.saturating_add(bump(&mut counts[(i - offset) as usize], n));
        })?;
        self.zero = self.zero.saturating_add(zero);
        self.count = self.count.saturating_add(zero).saturating_add(added);
        Ok(())
    }
}

/// Walks an encoded sketch, calling `f(index, count)` for each bucket (indexes clamped into
/// the range); answers its zero count and lowest and highest index.
fn scan(
    bytes: &[u8],
    mut f: impl FnMut(i32, u64),
) -> Result<(u64, Option<i32>, Option<i32>), String> {
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
    let (mut lo, mut hi) = (None::<i32>, None::<i32>);
    let mut index: i64 = 0;
    for _ in 0..n {
        index = index.saturating_add(unzigzag(r.varint()?));
        let i = i32::try_from(index).map_err(|_| "latency sketch index out of range")?;
        let i = i.clamp(LOWEST, HIGHEST);
        let c = r.varint()?;
        lo = Some(lo.map_or(i, |l| l.min(i)));
        hi = Some(hi.map_or(i, |h| h.max(i)));
        f(i, c);
    }
    if r.at != bytes.len() {
        return Err("latency sketch has trailing bytes".into());
    }
    Ok((zero, lo, hi))
}

fn index_of(ms: f64) -> i32 {
    let i = (ms.ln() / GAMMA.ln()).ceil();
    // f64 → i32 saturates in Rust; the clamp keeps absurd latencies in the last bucket.
    (i as i32).clamp(LOWEST, HIGHEST)
}

fn value_of(i: i32) -> f64 {
    2.0 * GAMMA.powi(i) / (GAMMA + 1.0)
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
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

pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) at: usize,
}

impl Reader<'_> {
    pub(crate) fn byte(&mut self) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or("latency sketch is truncated")?;
        self.at += 1;
        Ok(b)
    }

    pub(crate) fn varint(&mut self) -> Result<u64, String> {
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

    /// The tree-shaped sketch of issue 11, kept as the model the flat one must agree with:
    /// the same bytes, the same quantiles, before and after merging.
    mod tree {
        use std::collections::BTreeMap;

        #[derive(Default)]
        pub struct Tree {
            pub zero: u64,
            pub buckets: BTreeMap<i32, u64>,
            pub count: u64,
        }

        impl Tree {
            pub fn add_ms(&mut self, ms: f64) {
                if ms.is_nan() || ms <= super::MIN_MS {
                    self.zero += 1;
                } else {
                    *self.buckets.entry(super::index_of(ms)).or_insert(0) += 1;
                }
                self.count += 1;
            }

            pub fn merge(&mut self, other: &Tree) {
                self.zero += other.zero;
                for (&i, &n) in &other.buckets {
                    *self.buckets.entry(i).or_insert(0) += n;
                }
                self.count += other.count;
            }

            pub fn quantile(&self, q: f64) -> Option<f64> {
                if self.count == 0 {
                    return None;
                }
                let rank = (q.clamp(0.0, 1.0) * (self.count - 1) as f64).floor() as u64;
                if rank < self.zero {
                    return Some(0.0);
                }
                let mut seen = self.zero;
                for (&i, &n) in &self.buckets {
                    seen += n;
                    if seen > rank {
                        return Some(super::value_of(i));
                    }
                }
                self.buckets.keys().next_back().map(|&i| super::value_of(i))
            }

            pub fn encode(&self) -> Vec<u8> {
                let mut out = vec![super::ENCODING_VERSION];
                super::put_varint(&mut out, self.zero);
                super::put_varint(&mut out, self.buckets.len() as u64);
                let mut prev: i64 = 0;
                for (&i, &n) in &self.buckets {
                    super::put_varint(&mut out, super::zigzag(i as i64 - prev));
                    super::put_varint(&mut out, n);
                    prev = i as i64;
                }
                out
            }
        }
    }

    #[test]
    fn a_bad_blob_merges_nothing() {
        let mut s = Sketch::new();
        s.add_ms(12.0);
        let before = s.clone();
        let mut truncated = before.encode();
        truncated.pop();
        assert!(s.merge_encoded(&truncated).is_err());
        assert_eq!(s, before);
    }

    #[test]
    fn absurd_latencies_stay_in_range() {
        let mut s = Sketch::new();
        s.add_ms(f64::INFINITY);
        s.add_ms(1e300);
        s.add_ms(0.5);
        assert!(s.counts.len() <= MAX_BUCKETS);
        assert_eq!(Sketch::decode(&s.encode()).unwrap(), s);
        // A blob with indexes far apart (not one `encode` writes) still decodes into a bounded array.
        let mut far = vec![ENCODING_VERSION, 0, 2];
        put_varint(&mut far, zigzag(-1_000_000));
        put_varint(&mut far, 1);
        put_varint(&mut far, zigzag(2_000_000));
        put_varint(&mut far, 1);
        let d = Sketch::decode(&far).unwrap();
        assert_eq!(d.count(), 2);
        assert!(d.counts.len() <= MAX_BUCKETS);
    }

    #[test]
    fn a_full_bucket_saturates_and_the_count_says_what_it_holds() {
        // A blob may hold any count; a bucket holds at most u32::MAX.
        let mut big = vec![ENCODING_VERSION, 0, 1];
        put_varint(&mut big, zigzag(index_of(100.0) as i64));
        put_varint(&mut big, u64::from(u32::MAX) - 1);
        let mut s = Sketch::decode(&big).unwrap();
        assert_eq!(s.count(), u64::from(u32::MAX) - 1);
        let other = Sketch::decode(&big).unwrap();
        s.merge(&other);
        s.merge_encoded(&big).unwrap();
        s.add_ms(100.0);
        s.add_ms(0.0);
        let held: u64 = s.buckets().map(|(_, n)| n).sum();
        assert_eq!(held, u64::from(u32::MAX));
        assert_eq!(s.count(), held + 1);
        assert!(within(s.quantile(0.5).unwrap(), 100.0));
        assert_eq!(Sketch::decode(&s.encode()).unwrap(), s);
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

        /// The flat sketch writes the tree's bytes (so rows written before issue 16 read the
        /// same), and merged parts answer every quantile exactly as the merged trees do.
        #[test]
        fn flat_agrees_with_the_tree(
            parts in prop::collection::vec(
                prop::collection::vec(prop_oneof![0.0f64..0.002, 0.01f64..600_000.0], 0..60),
                1..20,
            ),
            qs in prop::collection::vec(0.0f64..=1.0, 1..8),
        ) {
            let mut flat = Sketch::new();
            let mut tree = tree::Tree::default();
            for p in &parts {
                let mut f = Sketch::new();
                let mut t = tree::Tree::default();
                for &x in p {
                    f.add_ms(x);
                    t.add_ms(x);
                }
                let bytes = f.encode();
                prop_assert_eq!(&bytes, &t.encode());
                prop_assert_eq!(&Sketch::decode(&bytes).unwrap(), &f);
                flat.merge_encoded(&bytes).unwrap();
                tree.merge(&t);
            }
            prop_assert_eq!(flat.count(), tree.count);
            prop_assert_eq!(flat.encode(), tree.encode());
            for q in qs.into_iter().chain([0.0, 0.5, 0.95, 0.99, 1.0]) {
                prop_assert_eq!(flat.quantile(q), tree.quantile(q));
            }
        }

        /// Merging decoded sketches and merging their bytes give the same sketch.
        #[test]
        fn merge_and_merge_encoded_agree(
            parts in prop::collection::vec(prop::collection::vec(0.0f64..1e6, 0..40), 0..12),
        ) {
            let (mut a, mut b) = (Sketch::new(), Sketch::new());
            for p in &parts {
                let mut s = Sketch::new();
                for &x in p { s.add_ms(x); }
                a.merge(&s);
                b.merge_encoded(&s.encode()).unwrap();
            }
            prop_assert_eq!(a, b);
        }

        /// A sum less one of its parts is the sum of the other parts.
        #[test]
        fn subtract_undoes_merge(
            a in prop::collection::vec(0.0f64..1e6, 0..60),
            b in prop::collection::vec(0.0f64..1e6, 0..60),
        ) {
            let (mut sa, mut sb) = (Sketch::new(), Sketch::new());
            for &x in &a { sa.add_ms(x); }
            for &x in &b { sb.add_ms(x); }
            let mut sum = sa.clone();
            sum.merge(&sb);
            sum.subtract(&sb);
            prop_assert_eq!(sum, sa);
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
