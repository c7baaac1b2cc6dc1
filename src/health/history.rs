//! Tallies: outcomes and a latency sketch over a stretch of time. The store fills them from raw
//! observations and hourly rollups; `figures` turns them into the plain numbers
//! (`domain::history`) every front-end shows.

use super::sketch::Sketch;
pub use crate::domain::history::{Figures, HOUR_MS, History, Kind, MINUTE_MS, Span, Windows};

/// Outcomes and latencies of one kind over some stretch of time. Tallies merge, so an hour's
/// rollup and the raw rows after it add up to the window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub ok: u64,
    pub failed: u64,
    pub latency: Sketch,
}

impl Tally {
    pub fn record(&mut self, ok: bool, latency_ms: Option<u64>) {
        if ok {
            self.ok = self.ok.saturating_add(1);
        } else {
            self.failed = self.failed.saturating_add(1);
        }
        if let Some(ms) = latency_ms {
            self.latency.add_ms(ms as f64);
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        self.ok = self.ok.saturating_add(other.ok);
        self.failed = self.failed.saturating_add(other.failed);
        self.latency.merge(&other.latency);
    }

    /// Takes out a tally that was merged in before (see `Sketch::subtract`).
    pub fn subtract(&mut self, other: &Tally) {
        self.ok = self.ok.saturating_sub(other.ok);
        self.failed = self.failed.saturating_sub(other.failed);
        self.latency.subtract(&other.latency);
    }

    pub fn samples(&self) -> u64 {
        self.ok.saturating_add(self.failed)
    }

    pub fn figures(&self) -> Figures {
        let n = self.samples();
        // `as` saturates: a sketch never holds more than a request timeout, but no value wraps.
        let pct = |q: f64| self.latency.quantile(q).map(|v| v.round() as u32);
        Figures {
            samples: n,
            success_rate: (n > 0).then(|| self.ok as f64 / n as f64),
            p50_ms: pct(0.50),
            p95_ms: pct(0.95),
            p99_ms: pct(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_samples_is_no_rate_not_zero() {
        let f = Tally::default().figures();
        assert_eq!(f.samples, 0);
        assert_eq!(f.success_rate, None);
        assert_eq!(f.p95_ms, None);
    }

    #[test]
    fn figures_count_failures_and_rank_latencies() {
        let mut t = Tally::default();
        for ms in 1..=100u64 {
            t.record(ms % 10 != 0, Some(ms));
        }
        let f = t.figures();
        assert_eq!(f.samples, 100);
        assert_eq!(f.success_rate, Some(0.9));
        let p95 = f.p95_ms.unwrap() as f64;
        assert!((p95 - 95.0).abs() <= 95.0 * super::super::sketch::RELATIVE_ERROR + 0.5);
    }

    #[test]
    fn spans_and_kinds_have_stable_names() {
        let json = serde_json::to_value(History::default()).unwrap();
        for k in ["probes", "refreshes", "tool_calls"] {
            for s in Span::ALL {
                assert!(json[k][s.label()].is_object(), "{k}.{}", s.label());
            }
        }
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }
}
