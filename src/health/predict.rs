//! When to refresh a token, and whether it is at risk of dying first. The refresh instant is
//! derived per connection from the configured least lead, a share of the token's lifetime, and
//! what was observed of its token endpoint: a slow or flaky endpoint is refreshed earlier, so
//! there is room to retry before the token expires.

use serde::{Deserialize, Serialize};

use crate::domain::UnixMs;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefreshPolicy {
    /// The configured least lead (`refresh_lead`).
    pub min_lead_ms: i64,
    /// Refresh at least this share of the lifetime before expiry.
    pub lifetime_share: f64,
    /// At least this many attempts fit between the refresh and expiry.
    pub min_attempts: u32,
    /// At most this many are planned for, however flaky the endpoint.
    pub max_attempts: u32,
    /// Retry backoff: doubling from `backoff_base_ms`, capped at `backoff_cap_ms`.
    pub backoff_base_ms: i64,
    pub backoff_cap_ms: i64,
    /// Assumed time of one token request before any was observed.
    pub assumed_latency_ms: i64,
    /// Refresh tokens that die when unused this long (PROVIDERS.md) are refreshed before then.
    pub refresh_idle_ms: Option<i64>,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            min_lead_ms: 5 * 60_000,
            lifetime_share: 0.1,
            min_attempts: 3,
            max_attempts: 8,
            backoff_base_ms: 1_000,
            backoff_cap_ms: 60_000,
            assumed_latency_ms: 2_000,
            refresh_idle_ms: None,
        }
    }
}

/// What switchboard has seen of a token endpoint lately.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EndpointStats {
    pub samples: u64,
    pub p95_ms: Option<u64>,
    pub failure_rate: Option<f64>,
}

/// Fewer samples than this and the endpoint's own failure rate is not trusted.
const MIN_SAMPLES: u64 = 5;
/// Plan enough attempts that all of them failing is this unlikely.
const GIVE_UP_ODDS: f64 = 1e-4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum Because {
    /// The configured least lead.
    MinLead,
    /// A share of the token's lifetime.
    LifetimeShare,
    /// Room for `attempts` attempts at the endpoint's p95 plus backoff.
    Retries { attempts: u32, p95_ms: u64 },
    /// The token is too short for the lead: refreshed at half its life.
    HalfLife,
    /// The refresh token would die of idleness first.
    IdleExpiry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshPlan {
    pub at: UnixMs,
    pub lead_ms: i64,
    pub because: Because,
}

impl RefreshPlan {
    /// "in 4m12s: lead 6m = 3 attempts at this endpoint's p95 of 40s".
    pub fn explain(&self, now: UnixMs) -> String {
        let when = if self.at <= now {
            "due now".to_string()
        } else {
            format!("in {}", human(self.at - now))
        };
        format!("{when}: {}", self.reason())
    }

    /// Why the refresh is planned when it is, without the when: "lead 6m = a share of the
    /// token's lifetime". It does not change as time passes.
    pub fn reason(&self) -> String {
        let lead = human(self.lead_ms);
        match self.because {
            Because::MinLead => format!("lead {lead} (configured refresh_lead)"),
            Because::LifetimeShare => format!("lead {lead} = a share of the token's lifetime"),
            Because::Retries { attempts, p95_ms } => format!(
                "lead {lead} = {attempts} attempts at this endpoint's p95 of {} with backoff",
                human(p95_ms as i64)
            ),
            Because::HalfLife => "half the token's lifetime (shorter than the lead)".to_string(),
            Because::IdleExpiry => "before the refresh token expires unused".to_string(),
        }
    }
}

/// `5m12s`, `40s`, `2h`, `850ms`.
pub fn human(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let s = ms / 1_000;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

fn backoff(policy: &RefreshPolicy, attempt: u32) -> i64 {
    let factor = 1i64 << attempt.min(30);
    policy
        .backoff_base_ms
        .max(0)
        .saturating_mul(factor)
        .min(policy.backoff_cap_ms.max(0))
}

/// How many attempts to leave room for: enough that all failing is unlikely at the observed
/// failure rate, within the policy's bounds.
pub fn attempts_needed(policy: &RefreshPolicy, stats: &EndpointStats) -> u32 {
    let lo = policy.min_attempts.max(1);
    let hi = policy.max_attempts.max(lo);
    let Some(f) = stats.failure_rate.filter(|_| stats.samples >= MIN_SAMPLES) else {
        return lo;
    };
    if f.is_nan() || f <= 0.0 {
        return lo;
    }
    if f >= 1.0 {
        return hi;
    }
    let n = (GIVE_UP_ODDS.ln() / f.ln()).ceil();
    (n as u32).clamp(lo, hi)
}

/// The time `attempts` tries take in the worst expected case: each at the p95, with backoff
/// between them.
pub fn retry_budget_ms(policy: &RefreshPolicy, stats: &EndpointStats, attempts: u32) -> i64 {
    retry_budget_after(policy, stats, attempts, 0)
}

/// `retry_budget_ms` for tries that follow `failures` failed ones: the backoff between them
/// has grown already (the broker doubles it per failure in a row).
pub fn retry_budget_after(
    policy: &RefreshPolicy,
    stats: &EndpointStats,
    attempts: u32,
    failures: u32,
) -> i64 {
    let p95 = stats
        .p95_ms
        .filter(|_| stats.samples >= MIN_SAMPLES)
        .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
        .unwrap_or(policy.assumed_latency_ms)
        .max(0);
    (0..attempts).fold(0i64, |acc, i| {
        let gap = if i + 1 < attempts {
            backoff(policy, failures.saturating_add(i))
        } else {
            0
        };
        acc.saturating_add(p95).saturating_add(gap)
    })
}

/// When to refresh a token that expires at `expires_at`. `spread` in `[0, 1)` moves the instant
/// up to a fifth of the lead earlier, so connections behind one provider do not refresh in one
/// burst (derive it from a stable hash of the connection). A fifth: a fleet of 10,000 whose
/// 5-minute tokens were issued within ten seconds refreshes over 40 s, no second above 2.5 %
/// of the fleet, for at most a fifth of a lead's worth more token requests.
pub fn plan(
    policy: &RefreshPolicy,
    stats: &EndpointStats,
    issued_at: Option<UnixMs>,
    expires_at: Option<UnixMs>,
    last_refresh_at: Option<UnixMs>,
    spread: f64,
) -> Option<RefreshPlan> {
    let idle = policy
        .refresh_idle_ms
        .zip(last_refresh_at)
        .map(|(idle, last)| {
            // Leave the same room to retry as for expiry.
            let room = retry_budget_ms(policy, stats, policy.min_attempts.max(1));
            last.saturating_add(idle.saturating_sub(room).max(idle / 2))
        });
    let Some(expires_at) = expires_at else {
        return idle.map(|at| RefreshPlan {
            at,
            lead_ms: 0,
            because: Because::IdleExpiry,
        });
    };
    let lifetime = issued_at.map(|i| expires_at.saturating_sub(i).max(0));
    let attempts = attempts_needed(policy, stats);
    let budget = retry_budget_ms(policy, stats, attempts);
    let share = lifetime
        .map(|l| (l as f64 * policy.lifetime_share.clamp(0.0, 1.0)) as i64)
        .unwrap_or(0);
    let mut lead = policy.min_lead_ms.max(0);
    let mut because = Because::MinLead;
    if share > lead {
        (lead, because) = (share, Because::LifetimeShare);
    }
    if budget > lead {
        let p95_ms = stats
            .p95_ms
            .filter(|_| stats.samples >= MIN_SAMPLES)
            .unwrap_or(policy.assumed_latency_ms.max(0) as u64);
        (lead, because) = (budget, Because::Retries { attempts, p95_ms });
    }
    if let Some(l) = lifetime
        && lead > l / 2
    {
        (lead, because) = (l / 2, Because::HalfLife);
    }
    let jitter = (lead as f64 * spread.clamp(0.0, 0.999) / 5.0) as i64;
    let mut out = RefreshPlan {
        at: expires_at.saturating_sub(lead).saturating_sub(jitter),
        lead_ms: lead,
        because,
    };
    if let Some(at) = idle
        && at < out.at
    {
        out = RefreshPlan {
            at,
            lead_ms: expires_at.saturating_sub(at),
            because: Because::IdleExpiry,
        };
    }
    Some(out)
}

/// A forecast: the token will likely expire before a refresh succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Risk {
    pub time_left_ms: i64,
    pub reason: String,
}

/// Whether a connection is at risk at `now`. `next_attempt_at` is when the next refresh try
/// runs (after backoff); `failures_in_row` counts refresh failures since the last success.
pub fn at_risk(
    now: UnixMs,
    expires_at: Option<UnixMs>,
    next_attempt_at: Option<UnixMs>,
    failures_in_row: u32,
    policy: &RefreshPolicy,
    stats: &EndpointStats,
) -> Option<Risk> {
    let expires_at = expires_at?;
    let left = expires_at.saturating_sub(now);
    if failures_in_row == 0 || left <= 0 {
        return None;
    }
    let p95 = retry_budget_ms(policy, stats, 1);
    if let Some(next) = next_attempt_at
        && next.saturating_add(p95) >= expires_at
    {
        return Some(Risk {
            time_left_ms: left,
            reason: format!(
                "the next refresh attempt is in {}, after the token expires in {}",
                human(next.saturating_sub(now)),
                human(left)
            ),
        });
    }
    // Room for fewer tries than the endpoint's failure rate calls for, counting from the next
    // attempt with the backoff the failures so far have grown.
    let wanted = attempts_needed(policy, stats);
    let wait = next_attempt_at.map_or(0, |next| next.saturating_sub(now).max(0));
    let budget = wait.saturating_add(retry_budget_after(policy, stats, wanted, failures_in_row));
    (budget > left).then(|| Risk {
        time_left_ms: left,
        reason: format!(
            // The time left is not repeated here: the detail leads with it, kept current.
            "{failures_in_row} refresh failure(s) in a row; {wanted} more attempts need {} with backoff",
            human(budget)
        ),
    })
}

#[cfg(test)]
#[path = "predict_tests.rs"]
mod tests;
