use proptest::prelude::*;

use super::*;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn healthy() -> EndpointStats {
    EndpointStats {
        samples: 50,
        p95_ms: Some(300),
        failure_rate: Some(0.0),
    }
}

fn flaky() -> EndpointStats {
    EndpointStats {
        samples: 50,
        p95_ms: Some(40_000),
        failure_rate: Some(0.3),
    }
}

#[test]
fn an_hour_token_refreshes_a_tenth_before_expiry() {
    let p = plan(
        &RefreshPolicy::default(),
        &healthy(),
        Some(0),
        Some(HOUR),
        None,
        0.0,
    )
    .unwrap();
    assert_eq!(p.lead_ms, 6 * MIN);
    assert_eq!(p.because, Because::LifetimeShare);
    assert_eq!(p.at, 54 * MIN);
}

#[test]
fn a_flaky_slow_endpoint_is_refreshed_earlier() {
    let policy = RefreshPolicy::default();
    let calm = plan(&policy, &healthy(), Some(0), Some(HOUR), None, 0.0).unwrap();
    let rough = plan(&policy, &flaky(), Some(0), Some(HOUR), None, 0.0).unwrap();
    assert!(rough.at < calm.at, "{rough:?} vs {calm:?}");
    // 0.3 failure rate: 8 attempts (0.3^8 < 1e-4) at 40 s each plus backoff 1+2+4+8+16+32+60 s.
    assert_eq!(
        rough.because,
        Because::Retries {
            attempts: 8,
            p95_ms: 40_000
        }
    );
    assert_eq!(rough.lead_ms, 8 * 40_000 + 123_000);
    assert_eq!(
        rough.explain(HOUR - rough.lead_ms - 4 * MIN - 12_000),
        "in 4m12s: lead 7m23s = 8 attempts at this endpoint's p95 of 40s with backoff"
    );
}

#[test]
fn too_few_samples_are_not_trusted() {
    let mut s = flaky();
    s.samples = 2;
    let p = plan(
        &RefreshPolicy::default(),
        &s,
        Some(0),
        Some(HOUR),
        None,
        0.0,
    )
    .unwrap();
    assert_eq!(p.because, Because::LifetimeShare);
}

#[test]
fn short_tokens_refresh_at_half_life() {
    let p = plan(
        &RefreshPolicy::default(),
        &healthy(),
        Some(0),
        Some(30_000),
        None,
        0.0,
    )
    .unwrap();
    assert_eq!((p.at, p.because), (15_000, Because::HalfLife));
}

#[test]
fn spread_moves_it_earlier_by_at_most_a_fifth_of_the_lead() {
    let policy = RefreshPolicy::default();
    let a = plan(&policy, &healthy(), Some(0), Some(HOUR), None, 0.0).unwrap();
    let b = plan(&policy, &healthy(), Some(0), Some(HOUR), None, 0.99).unwrap();
    assert!(b.at < a.at && a.at - b.at <= a.lead_ms / 5);
    assert!(a.at - b.at > a.lead_ms / 10, "wider than a tenth");
}

#[test]
fn idle_refresh_tokens_are_kept_alive() {
    let policy = RefreshPolicy {
        refresh_idle_ms: Some(24 * HOUR),
        ..RefreshPolicy::default()
    };
    // A token that never expires, refreshed last at 0: refreshed before a day of idleness.
    let p = plan(&policy, &healthy(), None, None, Some(0), 0.0).unwrap();
    assert_eq!(p.because, Because::IdleExpiry);
    assert!(p.at < 24 * HOUR && p.at > 23 * HOUR);
    // A week-long access token whose refresh token idles out after a day.
    let p = plan(
        &policy,
        &healthy(),
        Some(0),
        Some(7 * 24 * HOUR),
        Some(0),
        0.0,
    )
    .unwrap();
    assert_eq!(p.because, Because::IdleExpiry);
    // Nothing expires and nothing idles: nothing to plan.
    assert_eq!(
        plan(
            &RefreshPolicy::default(),
            &healthy(),
            None,
            None,
            Some(0),
            0.0
        ),
        None
    );
}

#[test]
fn at_risk_is_a_forecast_and_clears_on_success() {
    let policy = RefreshPolicy::default();
    let now = 0;
    // Failing, but the next attempt comes well before expiry with room to spare.
    assert_eq!(
        at_risk(now, Some(HOUR), Some(MIN), 1, &policy, &healthy()),
        None
    );
    // The next attempt is after expiry.
    let r = at_risk(now, Some(2 * MIN), Some(3 * MIN), 2, &policy, &healthy()).unwrap();
    assert_eq!(r.time_left_ms, 2 * MIN);
    assert!(r.reason.contains("after the token expires"), "{}", r.reason);
    // A flaky endpoint with 5 minutes left cannot fit the 8 attempts it needs.
    let r = at_risk(now, Some(5 * MIN), Some(10_000), 1, &policy, &flaky()).unwrap();
    assert!(r.reason.contains("8 more attempts"), "{}", r.reason);
    // Recovered: no failures in a row, no risk.
    assert_eq!(
        at_risk(now, Some(5 * MIN), Some(10_000), 0, &policy, &flaky()),
        None
    );
    // Already expired is not a forecast any more.
    assert_eq!(at_risk(now, Some(-1), None, 3, &policy, &flaky()), None);
}

#[test]
fn failures_in_a_row_grow_the_backoff_the_forecast_counts() {
    let policy = RefreshPolicy::default();
    // 20 s left, next attempt in 2 s, a fast endpoint, 3 attempts wanted. After one failure
    // they fit (2 s wait, then 2 s and 4 s of backoff between them); after three in a row the
    // backoff has grown to 8 s and 16 s, and they no longer do (2 + 8 + 16 = 26 s).
    let left = 20_000;
    assert_eq!(
        at_risk(0, Some(left), Some(2_000), 1, &policy, &healthy()),
        None
    );
    let r = at_risk(0, Some(left), Some(2_000), 3, &policy, &healthy()).expect("at risk");
    assert!(
        r.reason
            .starts_with("3 refresh failure(s) in a row; 3 more attempts need 26s"),
        "{}",
        r.reason
    );
}

#[test]
fn human_durations() {
    for (ms, s) in [
        (850, "850ms"),
        (40_000, "40s"),
        (6 * MIN, "6m"),
        (252_000, "4m12s"),
        (2 * HOUR, "2h"),
        (HOUR + 5 * MIN, "1h5m"),
        (-5, "0ms"),
    ] {
        assert_eq!(human(ms), s);
    }
}

proptest! {
    #[test]
    fn plans_are_never_after_expiry(
        issued in proptest::option::of(-1_000_000_000_000i64..1_000_000_000_000),
        expires in -1_000_000_000_000i64..1_000_000_000_000,
        min_lead in -10i64..10_000_000,
        share in -1.0f64..2.0,
        p95 in proptest::option::of(any::<u64>()),
        rate in proptest::option::of(-1.0f64..2.0),
        samples in 0u64..100,
        spread in -1.0f64..2.0,
    ) {
        let policy = RefreshPolicy { min_lead_ms: min_lead, lifetime_share: share, ..RefreshPolicy::default() };
        let stats = EndpointStats { samples, p95_ms: p95, failure_rate: rate };
        let p = plan(&policy, &stats, issued, Some(expires), None, spread).unwrap();
        prop_assert!(p.at <= expires);
        prop_assert!(p.lead_ms >= 0);
    }
}
