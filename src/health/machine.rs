//! The probe side of a connection's health: hysteresis between up, degraded and down, and a
//! circuit breaker that backs off probing a down connection. Pure and clock-free: callers pass
//! the time, so paused-time tests and a fake wall clock drive it exactly.

use serde::{Deserialize, Serialize};

use crate::domain::UnixMs;

/// How many probes in a row it takes to change state (per connector; config `[connectors.health]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub down_after: u32,
    pub up_after: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            down_after: 3,
            up_after: 2,
        }
    }
}

/// How far a down connection's probes back off: the probe interval doubled per failed attempt,
/// capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub interval_ms: i64,
    pub max_ms: i64,
}

impl Backoff {
    pub fn for_interval(interval_ms: i64) -> Self {
        let interval_ms = interval_ms.max(1);
        Self {
            interval_ms,
            // A down endpoint is still looked at every 10 minutes, or every interval if longer.
            max_ms: (10 * 60_000i64).max(interval_ms),
        }
    }

    /// The wait after the `opened`-th failed attempt in a row (0-based): 2x, 4x, 8x ... the
    /// interval, capped.
    pub fn wait_ms(&self, opened: u32) -> i64 {
        let factor = 1i64 << opened.saturating_add(1).min(30);
        self.interval_ms.saturating_mul(factor).min(self.max_ms)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    Pending,
    Up,
    /// Failing, but not yet `down_after` times in a row.
    Degraded,
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Breaker {
    /// Probed on schedule.
    #[default]
    Closed,
    /// Not probed until `until`.
    Open { until: UnixMs },
    /// The wait is over: the next probe is a trial. Success closes it once the connection is
    /// up again; failure opens it for longer.
    HalfOpen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: Phase,
    pub to: Phase,
    pub at: UnixMs,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracker {
    phase: Phase,
    failures: u32,
    successes: u32,
    /// Times the breaker opened since it last closed.
    opened: u32,
    breaker: Breaker,
}

impl Tracker {
    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn breaker(&self) -> Breaker {
        self.breaker
    }

    pub fn failures_in_row(&self) -> u32 {
        self.failures
    }

    /// Whether a probe may run at `now`. An open breaker whose wait is over turns half-open and
    /// lets one trial through.
    pub fn may_probe(&mut self, now: UnixMs) -> bool {
        match self.breaker {
            Breaker::Open { until } if now < until => false,
            Breaker::Open { .. } => {
                self.breaker = Breaker::HalfOpen;
                true
            }
            _ => true,
        }
    }

    /// When the next probe runs, given when the schedule would run it.
    pub fn next_probe_at(&self, scheduled: UnixMs) -> UnixMs {
        match self.breaker {
            Breaker::Open { until } => scheduled.max(until),
            _ => scheduled,
        }
    }

    pub fn observe(
        &mut self,
        ok: bool,
        at: UnixMs,
        th: Thresholds,
        backoff: Backoff,
    ) -> Option<Transition> {
        let from = self.phase;
        if ok {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
            self.phase = match self.phase {
                Phase::Down if self.successes < th.up_after => Phase::Down,
                _ => Phase::Up,
            };
            if self.phase == Phase::Up {
                self.breaker = Breaker::Closed;
                self.opened = 0;
            }
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
            if self.failures >= th.down_after || self.phase == Phase::Down {
                self.phase = Phase::Down;
                // Down: stop probing at full rate. A failed half-open trial waits longer.
                self.breaker = Breaker::Open {
                    until: at.saturating_add(backoff.wait_ms(self.opened)),
                };
                self.opened = self.opened.saturating_add(1);
            } else {
                self.phase = Phase::Degraded;
            }
        }
        (from != self.phase).then_some(Transition {
            from,
            to: self.phase,
            at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        down_after: 3,
        up_after: 2,
    };
    const B: Backoff = Backoff {
        interval_ms: 30_000,
        max_ms: 240_000,
    };

    fn run(t: &mut Tracker, outcomes: &str, start: UnixMs) -> Vec<Phase> {
        outcomes
            .chars()
            .enumerate()
            .map(|(i, c)| {
                t.observe(c == '+', start + i as i64 * 30_000, T, B);
                t.phase()
            })
            .collect()
    }

    #[test]
    fn hysteresis_takes_three_to_fall_and_two_to_rise() {
        use Phase::*;
        let mut t = Tracker::default();
        assert_eq!(
            run(&mut t, "+--+---+-++", 0),
            vec![
                Up, Degraded, Degraded, Up, Degraded, Degraded, Down, Down, Down, Down, Up
            ]
        );
    }

    #[test]
    fn breaker_opens_backs_off_half_opens_and_closes() {
        let mut t = Tracker::default();
        run(&mut t, "---", 0);
        // Third failure at 60 s: open for 2 intervals.
        assert_eq!(t.breaker(), Breaker::Open { until: 120_000 });
        assert!(!t.may_probe(119_999));
        assert_eq!(t.next_probe_at(90_000), 120_000);
        assert!(t.may_probe(120_000));
        assert_eq!(t.breaker(), Breaker::HalfOpen);
        // The trial fails: open for 4 intervals, then 8, then the cap.
        t.observe(false, 120_000, T, B);
        assert_eq!(t.breaker(), Breaker::Open { until: 240_000 });
        t.may_probe(240_000);
        t.observe(false, 240_000, T, B);
        assert_eq!(t.breaker(), Breaker::Open { until: 480_000 });
        t.may_probe(480_000);
        t.observe(false, 480_000, T, B);
        assert_eq!(
            t.breaker(),
            Breaker::Open { until: 720_000 },
            "capped at 240 s"
        );
        // A successful trial half-opens toward up; the second success closes it.
        t.may_probe(720_000);
        t.observe(true, 720_000, T, B);
        assert_eq!((t.phase(), t.breaker()), (Phase::Down, Breaker::HalfOpen));
        let up = t.observe(true, 750_000, T, B).unwrap();
        assert_eq!((up.from, up.to), (Phase::Down, Phase::Up));
        assert_eq!(t.breaker(), Breaker::Closed);
        // Closed again, the next outage starts from the shortest wait.
        run(&mut t, "---", 780_000);
        assert_eq!(
            t.breaker(),
            Breaker::Open {
                until: 840_000 + 60_000
            }
        );
    }

    #[test]
    fn transitions_are_reported_once() {
        let mut t = Tracker::default();
        let seen: Vec<_> = "+---+++"
            .chars()
            .enumerate()
            .filter_map(|(i, c)| t.observe(c == '+', i as i64, T, B))
            .map(|tr| tr.to)
            .collect();
        assert_eq!(
            seen,
            vec![Phase::Up, Phase::Degraded, Phase::Down, Phase::Up]
        );
    }

    #[test]
    fn backoff_never_overflows() {
        let b = Backoff::for_interval(i64::MAX / 2);
        assert_eq!(b.wait_ms(u32::MAX), b.max_ms);
        assert_eq!(Backoff::for_interval(0).wait_ms(0), 2);
    }
}
