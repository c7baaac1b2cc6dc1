//! How long a server asks to be left alone (`Retry-After`), and the cap on what is believed:
//! every number a server sends is clamped before it meets a clock.

use crate::domain::UnixMs;

/// The longest wait a server's `Retry-After` (or any "come back later") is honoured for. A
/// larger number is a bug or an attack; believing it would park a connection for years, and
/// `u64::MAX` seconds overflows every clock it meets.
pub const MAX_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// `Retry-After` seconds as the milliseconds a [`Failure`] carries, capped at
/// [`MAX_RETRY_AFTER`]: the raw product overflows for any value past ~1.8e16.
pub fn retry_after_ms_capped(secs: u64) -> u64 {
    secs.min(MAX_RETRY_AFTER.as_secs()).saturating_mul(1000)
}

/// [`MAX_RETRY_AFTER`] in milliseconds. A server asking for more (a year, 2^64 s) gets asked
/// again after this; the backoff and the minimum interval between attempts still apply.
pub const MAX_RETRY_AFTER_MS: u64 = MAX_RETRY_AFTER.as_secs() * 1000;

/// RFC 9110 §10.2.3 `Retry-After`: delay-seconds, or an HTTP-date (a date in the past means
/// "now"), clamped to `MAX_RETRY_AFTER_MS`. `None` when the value is neither.
pub fn retry_after_ms(value: &str, now: UnixMs) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs.saturating_mul(1000).min(MAX_RETRY_AFTER_MS));
    }
    // IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") is RFC 2822 with the zone spelled GMT.
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.timestamp_millis().saturating_sub(now).max(0);
    Some(u64::try_from(wait).unwrap_or(0).min(MAX_RETRY_AFTER_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = 784_111_777_000; // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(retry_after_ms("120", now), Some(120_000));
        assert_eq!(retry_after_ms(" 0 ", now), Some(0));
        assert_eq!(
            retry_after_ms("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(30_000)
        );
        assert_eq!(
            retry_after_ms("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(0)
        );
        assert_eq!(retry_after_ms("soon", now), None);
        assert_eq!(retry_after_ms("-5", now), None);
        assert_eq!(
            retry_after_ms("18446744073709551615", now),
            Some(MAX_RETRY_AFTER_MS)
        );
        assert_eq!(
            retry_after_ms("Fri, 31 Dec 9999 23:59:59 GMT", now),
            Some(MAX_RETRY_AFTER_MS)
        );
    }
}
