//! When each token is refreshed: the predictive plan, spread per connection.

use crate::domain::{ConnectionKey, TokenMeta, UnixMs};
use crate::health::predict::{self, EndpointStats, RefreshPlan, RefreshPolicy};

/// When to refresh a token: the predictive plan (`health::predict`): the configured least lead,
/// a share of the lifetime, or room for enough attempts at this endpoint's observed p95 and
/// failure rate, whichever is longest, never more than half the token's life; minus a stable
/// spread of up to a fifth of the lead so a fleet issued together does not refresh together.
pub fn refresh_due(
    meta: &TokenMeta,
    policy: &RefreshPolicy,
    stats: &EndpointStats,
    last_refresh_at: Option<UnixMs>,
    key: &ConnectionKey,
    generation: i64,
) -> Option<RefreshPlan> {
    let spread = (stable_hash(key, generation) % 1000) as f64 / 1000.0;
    predict::plan(
        policy,
        stats,
        meta.issued_at,
        meta.expires_at,
        last_refresh_at,
        spread,
    )
}

pub(super) fn stable_hash(key: &ConnectionKey, generation: i64) -> u64 {
    // FNV-1a: stable across runs and processes, unlike std's RandomState.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key
        .connector
        .bytes()
        .chain([0])
        .chain(key.account.bytes())
        .chain(generation.to_le_bytes())
    {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(issued: UnixMs, expires: UnixMs) -> TokenMeta {
        TokenMeta {
            issued_at: Some(issued),
            expires_at: Some(expires),
            has_refresh_token: true,
            scopes: vec![],
        }
    }

    fn due(m: &TokenMeta, stats: &EndpointStats, key: &ConnectionKey, generation: i64) -> UnixMs {
        let policy = RefreshPolicy {
            min_lead_ms: 300_000,
            ..RefreshPolicy::default()
        };
        refresh_due(m, &policy, stats, None, key, generation)
            .map(|p| p.at)
            .unwrap_or(-1)
    }

    #[test]
    fn refreshes_a_share_of_the_lifetime_before_expiry_with_bounded_spread() {
        let key = ConnectionKey::new("jira", "default");
        let m = meta(0, 3_600_000);
        let calm = EndpointStats::default();
        // An hour's token: 10% of its life (6 m) beats the 5 m least lead; spread ≤ 72 s.
        let at = due(&m, &calm, &key, 1);
        assert!(
            (3_600_000 - 432_000..=3_600_000 - 360_000).contains(&at),
            "{at}"
        );
        assert_eq!(at, due(&m, &calm, &key, 1), "stable for one token");
    }

    #[test]
    fn a_flaky_token_endpoint_moves_the_refresh_earlier() {
        let key = ConnectionKey::new("jira", "default");
        let m = meta(0, 3_600_000);
        let calm = due(&m, &EndpointStats::default(), &key, 1);
        let flaky = EndpointStats {
            samples: 40,
            p95_ms: Some(40_000),
            failure_rate: Some(0.3),
        };
        assert!(due(&m, &flaky, &key, 1) < calm - 60_000);
    }

    #[test]
    fn a_lead_longer_than_the_token_is_capped_at_half_its_life() {
        let key = ConnectionKey::new("lab", "default");
        let at = due(&meta(0, 60_000), &EndpointStats::default(), &key, 3);
        assert!((24_000..=30_000).contains(&at), "{at}");
    }

    #[test]
    fn no_expiry_means_no_deadline() {
        let key = ConnectionKey::new("notion", "default");
        let m = TokenMeta {
            expires_at: None,
            ..TokenMeta::default()
        };
        assert_eq!(due(&m, &EndpointStats::default(), &key, 1), -1);
    }
}
