//! Rolling probe windows and the health verdict derived from them. Pure: the engine feeds probe
//! results in and asks for a verdict at render time.

pub mod history;
pub mod machine;
pub mod predict;
pub mod sketch;

use std::collections::VecDeque;

use crate::domain::history::History;
use crate::domain::{Failure, Health, ProbeResult, ProbeVia, UnixMs};
use machine::{Backoff, Breaker, Phase, Thresholds};
use predict::{EndpointStats, RefreshPolicy, Risk};

pub const WINDOW_MS: i64 = 60 * 60 * 1000;
/// This many failures in a row and the connection is down rather than degraded.
pub const DOWN_AFTER: u32 = 3;
/// Below this success rate over the window a connection is degraded even if the last probe passed.
pub const DEGRADED_BELOW: f64 = 0.8;
/// The success rate only degrades a connection once it rests on this many probes.
pub const MIN_SAMPLES_FOR_RATE: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    at: UnixMs,
    ok: bool,
}

/// A connection's recent probes: at most the last hour, and only minutes of it once the
/// store's windows count the rest (`forget_counted`). Also bounded by count, so a
/// misconfigured one-second probe cannot grow it without limit.
#[derive(Debug, Clone, Default)]
pub struct ProbeWindow {
    samples: VecDeque<Sample>,
    consecutive_failures: u32,
    last: Option<ProbeResult>,
    last_failure: Option<Failure>,
}

const MAX_SAMPLES: usize = 4096;
/// See `ProbeWindow::forget_counted`.
pub const COUNTED_MARGIN_MS: i64 = 2 * 60_000;

impl ProbeWindow {
    pub fn push(&mut self, result: ProbeResult) {
        let ok = result.ok();
        self.samples.push_back(Sample { at: result.at, ok });
        if self.samples.len() > MAX_SAMPLES {
            self.samples.pop_front();
        }
        if ok {
            self.consecutive_failures = 0;
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.last_failure = result.failure.clone();
        }
        if result.via == ProbeVia::RestFallback {
            self.last_failure = result.primary_failure.clone().or(self.last_failure.take());
        }
        self.last = Some(result);
    }

    /// Room for `n` more probes at once (a start's replay knows how many it brings).
    pub fn reserve(&mut self, n: usize) {
        self.samples.reserve(n.min(MAX_SAMPLES));
    }

    /// (passed, total) of the probes after `after`.
    pub fn counts_after(&self, after: UnixMs) -> (u32, u32) {
        self.samples
            .iter()
            .filter(|s| s.at > after)
            .fold((0, 0), |(ok, n), s| (ok + s.ok as u32, n + 1))
    }

    /// Drops the probes older than the hour.
    pub fn prune(&mut self, now: UnixMs) {
        self.forget_before(now - WINDOW_MS);
    }

    /// Drops the probes the store's windows, read as of `as_of`, already count, keeping
    /// `COUNTED_MARGIN_MS` before it for windows taken later from an older read (a leader's
    /// publication). Once the store answers for the hour, an hour of samples per connection
    /// is memory held for nothing: at 10,000 connections probed every 30 s, about 20 MB.
    pub fn forget_counted(&mut self, as_of: UnixMs) {
        self.forget_before(as_of.saturating_sub(COUNTED_MARGIN_MS));
    }

    fn forget_before(&mut self, cutoff: UnixMs) {
        while self.samples.front().is_some_and(|s| s.at < cutoff) {
            self.samples.pop_front();
        }
        // A deque keeps its largest size: give back what an hour (or a start's replay) grew.
        let len = self.samples.len();
        if self.samples.capacity() > 4 * len + 16 {
            self.samples.shrink_to(2 * len + 8);
        }
    }

    /// (success rate, sample count) over the last hour as of `now`.
    pub fn success_rate(&self, now: UnixMs) -> (Option<f64>, u32) {
        let recent = self.samples.iter().filter(|s| s.at >= now - WINDOW_MS);
        let (mut n, mut ok) = (0u32, 0u32);
        for s in recent {
            n += 1;
            ok += s.ok as u32;
        }
        ((n > 0).then(|| ok as f64 / n as f64), n)
    }

    pub fn last(&self) -> Option<&ProbeResult> {
        self.last.as_ref()
    }

    pub fn last_failure(&self) -> Option<&Failure> {
        self.last_failure.as_ref()
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }
}

/// The store's windows stop answering for the hour when their read is older than this (the
/// history reader has failed for a while): the window then grows back to the hour on its own.
pub const STORED_FRESH_MS: i64 = 10 * 60_000;

/// The last hour's (success rate, samples) from the store's windows, read as of `as_of`, plus
/// the probes the window holds since; `None` when the windows are stale or hold no probe of
/// the hour (the window's own rate stands). Where the store answers, the window forgets what
/// the store counts (`ProbeWindow::forget_counted`).
pub fn stored_hour(
    window: &mut ProbeWindow,
    stored: Option<&History>,
    now: UnixMs,
) -> Option<(Option<f64>, u32)> {
    let h = stored.filter(|h| h.probes.hour.samples > 0 && h.as_of > now - STORED_FRESH_MS)?;
    window.forget_counted(h.as_of);
    let samples = u32::try_from(h.probes.hour.samples).unwrap_or(u32::MAX);
    let passed = h.probes.hour.success_rate.unwrap_or(0.0) * f64::from(samples);
    let (ok, n) = window.counts_after(h.as_of);
    let total = samples.saturating_add(n);
    Some((Some((passed + f64::from(ok)) / f64::from(total)), total))
}

/// A connector's health rules, from `[connectors.health]` and `[connectors.schedule]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthSpec {
    pub thresholds: Thresholds,
    pub max_backoff_ms: i64,
    pub refresh_share: f64,
    pub refresh_attempts: u32,
    pub refresh_idle_ms: Option<i64>,
}

impl Default for HealthSpec {
    fn default() -> Self {
        Self {
            thresholds: Thresholds::default(),
            max_backoff_ms: 10 * 60_000,
            refresh_share: 0.1,
            refresh_attempts: 3,
            refresh_idle_ms: None,
        }
    }
}

impl HealthSpec {
    /// How a down connection's probes back off, for a schedule that probes every `interval_ms`.
    pub fn backoff(&self, interval_ms: i64) -> Backoff {
        let interval_ms = interval_ms.max(1);
        Backoff {
            interval_ms,
            max_ms: self.max_backoff_ms.max(interval_ms),
        }
    }

    pub fn policy(&self, min_lead_ms: i64) -> RefreshPolicy {
        RefreshPolicy {
            min_lead_ms,
            lifetime_share: self.refresh_share,
            min_attempts: self.refresh_attempts,
            refresh_idle_ms: self.refresh_idle_ms,
            ..RefreshPolicy::default()
        }
    }
}

/// What was observed of a connection's token endpoint over the last day.
pub fn endpoint_stats(history: Option<&History>) -> EndpointStats {
    let Some(day) = history.map(|h| h.refreshes.day) else {
        return EndpointStats::default();
    };
    EndpointStats {
        samples: day.samples,
        p95_ms: day.p95_ms.map(u64::from),
        failure_rate: day.success_rate.map(|r| 1.0 - r),
    }
}

/// Everything the verdict depends on besides the window.
#[derive(Debug, Clone, Default)]
pub struct Standing {
    pub missing_env: Vec<String>,
    pub needs_reauth: bool,
    /// The connection needs a token and has none.
    pub unauthorized: bool,
    pub connector: String,
    pub account_flag: String,
    /// Where the probes' hysteresis stands, and the breaker's state.
    pub phase: Phase,
    pub breaker: Breaker,
    /// The token will likely expire before a refresh succeeds.
    pub at_risk: Option<Risk>,
    /// An operator paused the connection (since then).
    pub paused_at: Option<UnixMs>,
    /// The last hour's success rate and sample count: the store's windows plus the probes
    /// since their read (the window keeps only those, see `ProbeWindow::forget_counted`);
    /// `None` while the store has no probes of the hour for it: the window's own.
    pub hour_rate: Option<(Option<f64>, u32)>,
}

pub fn verdict(standing: &Standing, window: &ProbeWindow, now: UnixMs) -> (Health, Option<String>) {
    if !standing.missing_env.is_empty() {
        return (
            Health::NotConfigured,
            Some(format!(
                "not configured: set {}",
                standing.missing_env.join(", ")
            )),
        );
    }
    if standing.paused_at.is_some() {
        return (
            Health::Paused,
            Some(format!(
                "paused: nothing is probed or refreshed; run `switchboard resume {}{}`",
                standing.connector, standing.account_flag
            )),
        );
    }
    if standing.needs_reauth {
        return (
            Health::NeedsReauth,
            Some(format!(
                "run `switchboard auth {}{}`",
                standing.connector, standing.account_flag
            )),
        );
    }
    if standing.unauthorized {
        return (
            Health::Unauthorized,
            Some(format!(
                "run `switchboard auth {}{}`",
                standing.connector, standing.account_flag
            )),
        );
    }
    if let Some(risk) = &standing.at_risk {
        return (
            Health::AtRisk,
            Some(format!(
                "token expires in {}: {}",
                predict::human(risk.time_left_ms),
                risk.reason
            )),
        );
    }
    let Some(last) = window.last() else {
        return (Health::Pending, None);
    };
    let next_probe = match standing.breaker {
        Breaker::Open { until } if until > now => {
            Some(format!("next probe in {}", predict::human(until - now)))
        }
        _ => None,
    };
    match standing.phase {
        Phase::Down if last.ok() => {
            return (
                Health::Down,
                Some("recovering: waiting for another good probe".into()),
            );
        }
        Phase::Down => return (Health::Down, next_probe),
        Phase::Degraded => return (Health::Degraded, None),
        _ => {}
    }
    if last.via == ProbeVia::RestFallback && last.ok() {
        return (Health::Degraded, Some("MCP down, REST fallback up".into()));
    }
    if !last.ok() {
        return (Health::Degraded, None);
    }
    // A rate from a handful of probes is noise: one 503 out of four is not a degraded service.
    match standing
        .hour_rate
        .unwrap_or_else(|| window.success_rate(now))
    {
        (Some(rate), n) if n >= MIN_SAMPLES_FOR_RATE && rate < DEGRADED_BELOW => (
            Health::Degraded,
            Some(format!(
                "{:.0}% of probes passed in the last hour",
                rate * 100.0
            )),
        ),
        _ => (Health::Up, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ErrorClass;

    fn probe(at: UnixMs, ok: bool) -> ProbeResult {
        ProbeResult {
            at,
            via: ProbeVia::Rest,
            latency_ms: 10,
            failure: (!ok).then(|| Failure::new(ErrorClass::Server, "HTTP 503")),
            primary_failure: None,
        }
    }

    #[test]
    fn rate_counts_only_the_last_hour() {
        let mut w = ProbeWindow::default();
        w.push(probe(0, false));
        for i in 1..=4 {
            w.push(probe(WINDOW_MS / 2 + i, true));
        }
        assert_eq!(w.success_rate(WINDOW_MS / 2 + 10), (Some(0.8), 5));
        assert_eq!(w.success_rate(WINDOW_MS + 10), (Some(1.0), 4));
        w.prune(WINDOW_MS + 10);
        assert_eq!(w.samples.len(), 4);
    }

    #[test]
    fn failures_degrade_then_go_down_then_recover_with_hysteresis() {
        let mut s = Standing::default();
        let mut w = ProbeWindow::default();
        let mut t = machine::Tracker::default();
        let spec = HealthSpec::default();
        let mut feed = |s: &mut Standing, w: &mut ProbeWindow, at: i64, ok: bool| {
            t.observe(ok, at, spec.thresholds, spec.backoff(30_000));
            s.phase = t.phase();
            s.breaker = t.breaker();
            w.push(probe(at, ok));
        };
        assert_eq!(verdict(&s, &w, 0).0, Health::Pending);
        feed(&mut s, &mut w, 1, true);
        assert_eq!(verdict(&s, &w, 1).0, Health::Up);
        feed(&mut s, &mut w, 2, false);
        assert_eq!(verdict(&s, &w, 2).0, Health::Degraded);
        feed(&mut s, &mut w, 3, false);
        feed(&mut s, &mut w, 4, false);
        assert_eq!(
            verdict(&s, &w, 4),
            (Health::Down, Some("next probe in 1m".into())),
            "the breaker opened for two intervals"
        );
        assert_eq!(w.last_failure().map(|f| f.class), Some(ErrorClass::Server));
        // One good probe is not enough to come back: up_after is 2.
        feed(&mut s, &mut w, 60_004, true);
        assert_eq!(verdict(&s, &w, 60_004).0, Health::Down);
        feed(&mut s, &mut w, 90_004, true);
        assert_eq!(verdict(&s, &w, 90_004).0, Health::Up);
    }

    #[test]
    fn at_risk_wins_over_probes_but_not_over_humans() {
        let mut w = ProbeWindow::default();
        w.push(probe(1, true));
        let mut s = Standing {
            at_risk: Some(Risk {
                time_left_ms: 90_000,
                reason: "the next refresh attempt is after expiry".into(),
            }),
            ..Standing::default()
        };
        let (h, detail) = verdict(&s, &w, 1);
        assert_eq!(h, Health::AtRisk);
        assert_eq!(
            detail.as_deref(),
            Some("token expires in 1m30s: the next refresh attempt is after expiry")
        );
        s.needs_reauth = true;
        assert_eq!(verdict(&s, &w, 1).0, Health::NeedsReauth);
    }

    #[test]
    fn the_stores_hour_decides_when_it_has_one() {
        let mut w = ProbeWindow::default();
        for at in 0..10 {
            w.push(probe(at, true));
        }
        // The replayed minutes were fine; the hour the store holds was not.
        let s = Standing {
            hour_rate: Some((Some(0.5), 120)),
            ..Standing::default()
        };
        assert_eq!(verdict(&s, &w, 10).0, Health::Degraded);
        assert_eq!(verdict(&Standing::default(), &w, 10).0, Health::Up);
    }

    fn stored(as_of: UnixMs, samples: u64, rate: f64) -> History {
        let mut h = History {
            as_of,
            ..History::default()
        };
        h.probes.hour.samples = samples;
        h.probes.hour.success_rate = Some(rate);
        h
    }

    #[test]
    fn where_the_store_answers_for_the_hour_the_window_keeps_only_minutes() {
        const MIN: i64 = 60_000;
        let now = 2 * WINDOW_MS;
        let mut w = ProbeWindow::default();
        // An hour of probes every 30 s, all failing but the last ten minutes'.
        for i in 0..120 {
            let at = now - WINDOW_MS + i * 30_000;
            w.push(probe(at, at >= now - 10 * MIN));
        }
        let grown = w.samples.capacity();
        // The store read them all a minute ago: 120 samples, five in six failed.
        let h = stored(now - MIN, 120, 20.0 / 120.0);
        let (rate, n) = stored_hour(&mut w, Some(&h), now).expect("the store answers");
        // Plus the probe since its read, passed.
        assert_eq!(n, 121);
        assert!(
            (rate.unwrap_or_default() - 21.0 / 121.0).abs() < 1e-9,
            "{rate:?}"
        );
        // Kept: the read's margin and what came after it; the hour's room is given back.
        assert_eq!(w.samples.len(), 6, "{:?}", w.samples);
        assert!(
            w.samples
                .iter()
                .all(|s| s.at >= h.as_of - COUNTED_MARGIN_MS)
        );
        assert!(w.samples.capacity() < grown / 4, "{}", w.samples.capacity());
        // The last probe and the run of failures are the window's, not the store's.
        assert_eq!(w.last().map(|p| p.at), Some(now - 30_000));
        assert_eq!(w.consecutive_failures(), 0);
    }

    #[test]
    fn a_stale_or_empty_store_leaves_the_hour_to_the_window() {
        let now = 2 * WINDOW_MS;
        let mut w = ProbeWindow::default();
        for i in 0..120 {
            w.push(probe(now - WINDOW_MS + i * 30_000, true));
        }
        let stale = stored(now - STORED_FRESH_MS - 1, 120, 0.5);
        assert_eq!(stored_hour(&mut w, Some(&stale), now), None);
        let empty = History {
            as_of: now,
            ..History::default()
        };
        assert_eq!(stored_hour(&mut w, Some(&empty), now), None);
        assert_eq!(stored_hour(&mut w, None, now), None);
        assert_eq!(w.success_rate(now), (Some(1.0), 120), "nothing forgotten");
    }

    #[test]
    fn human_states_win_over_probes() {
        let mut w = ProbeWindow::default();
        w.push(probe(1, true));
        let s = Standing {
            needs_reauth: true,
            connector: "jira".into(),
            ..Standing::default()
        };
        let (h, detail) = verdict(&s, &w, 1);
        assert_eq!(h, Health::NeedsReauth);
        assert_eq!(detail.as_deref(), Some("run `switchboard auth jira`"));
        let s = Standing {
            missing_env: vec!["JIRA_CLIENT_ID".into()],
            needs_reauth: true,
            ..Standing::default()
        };
        assert_eq!(
            verdict(&s, &w, 1),
            (
                Health::NotConfigured,
                Some("not configured: set JIRA_CLIENT_ID".into())
            )
        );
    }

    #[test]
    fn a_pause_wins_over_everything_but_missing_config() {
        let mut w = ProbeWindow::default();
        w.push(probe(1, false));
        let mut s = Standing {
            needs_reauth: true,
            paused_at: Some(1),
            hour_rate: None,
            connector: "jira".into(),
            account_flag: " --account ops".into(),
            ..Standing::default()
        };
        assert_eq!(
            verdict(&s, &w, 1),
            (
                Health::Paused,
                Some(
                    "paused: nothing is probed or refreshed; run `switchboard resume jira --account ops`"
                        .into()
                )
            )
        );
        s.missing_env = vec!["JIRA_CLIENT_ID".into()];
        assert_eq!(verdict(&s, &w, 1).0, Health::NotConfigured);
    }

    #[test]
    fn fallback_success_is_degraded_with_a_reason() {
        let mut w = ProbeWindow::default();
        let mut p = probe(1, true);
        p.via = ProbeVia::RestFallback;
        p.primary_failure = Some(Failure::new(ErrorClass::Connection, "refused"));
        w.push(p);
        assert_eq!(
            verdict(&Standing::default(), &w, 1),
            (Health::Degraded, Some("MCP down, REST fallback up".into()))
        );
        assert_eq!(
            w.last_failure().map(|f| f.class),
            Some(ErrorClass::Connection)
        );
    }
}
