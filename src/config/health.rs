//! Health and retention settings: per connector, how many probes in a row change its state and
//! how far a down connection's probes back off; for the store, how long observations are kept.
//! Ranges are checked while deserializing, so a value that makes no sense fails at its own span.

use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::duration::parse_duration;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Failed probes in a row before a connection is down (before that it is degraded).
    #[serde(default = "three", deserialize_with = "at_least_one")]
    pub down_after: u32,
    /// Successful probes in a row before a down connection is up again.
    #[serde(default = "two", deserialize_with = "at_least_one")]
    pub up_after: u32,
    /// The longest wait between probes of a down connection (the breaker doubles the probe
    /// interval per failed attempt up to this).
    #[serde(default = "ten_minutes", deserialize_with = "positive_duration")]
    pub max_backoff: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            down_after: three(),
            up_after: two(),
            max_backoff: ten_minutes(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Raw probe results are kept this long, then only their hourly rollups.
    #[serde(default = "two_days", deserialize_with = "raw_retention")]
    pub raw_retention: Duration,
    /// Hourly rollups (success counts and latency sketches) are kept this long.
    #[serde(default = "five_weeks", deserialize_with = "rollup_retention")]
    pub rollup_retention: Duration,
    /// A PostgreSQL database (`postgres://USER:PASSWORD@HOST:PORT/DATABASE`) holding the
    /// tokens, refresh leases and work partitions that daemons on several hosts share
    /// (`SWITCHBOARD_DATABASE_URL` overrides it). Write the password as `${VAR}`: the URL is a
    /// secret, never printed.
    #[serde(default)]
    pub url: Option<crate::secret::Secret>,
    /// How long a connection's refresh lease lasts unless renewed (it is renewed every third
    /// of this while a token request is in flight). A process stopped longer than this (paused,
    /// cut off from the database) loses the lease to another; a shorter one hands a killed
    /// process's refresh to another process sooner. Every process sharing grants should use
    /// the same value.
    #[serde(default = "default_refresh_lease", deserialize_with = "refresh_lease")]
    pub refresh_lease: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            raw_retention: two_days(),
            rollup_retention: five_weeks(),
            url: None,
            refresh_lease: default_refresh_lease(),
        }
    }
}

fn three() -> u32 {
    3
}

fn two() -> u32 {
    2
}

fn ten_minutes() -> Duration {
    Duration::from_secs(600)
}

fn default_refresh_lease() -> Duration {
    crate::auth::LEASE_TTL
}

fn two_days() -> Duration {
    Duration::from_secs(48 * 3600)
}

fn five_weeks() -> Duration {
    Duration::from_secs(35 * 24 * 3600)
}

fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = i64::deserialize(d)?;
    if !(1..=1000).contains(&v) {
        return Err(de::Error::custom(format!(
            "{v} makes no sense here: use a count from 1 to 1000 (1 changes state on one probe)"
        )));
    }
    Ok(v as u32)
}

fn duration_at_least<'de, D: Deserializer<'de>>(
    d: D,
    least: Duration,
    why: &str,
) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    let v = parse_duration(&s).map_err(de::Error::custom)?;
    if v < least {
        return Err(de::Error::custom(format!(
            "\"{s}\" is too short: at least {} ({why})",
            humantime::format_duration(least)
        )));
    }
    Ok(v)
}

fn positive_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    duration_at_least(
        d,
        Duration::from_secs(1),
        "a wait of zero would probe in a busy loop",
    )
}

fn raw_retention<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    duration_at_least(
        d,
        Duration::from_secs(3600),
        "the 5-minute and 1-hour windows read raw rows",
    )
}

fn rollup_retention<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    duration_at_least(
        d,
        Duration::from_secs(8 * 24 * 3600),
        "the 7-day window reads rollups",
    )
}

/// The shortest and longest `[store] refresh_lease`.
const REFRESH_LEASE_RANGE: (Duration, Duration) =
    (Duration::from_secs(3), Duration::from_secs(600));

fn refresh_lease<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    let v = parse_duration(&s).map_err(de::Error::custom)?;
    let (least, most) = REFRESH_LEASE_RANGE;
    let range = format!(
        "use {} to {}",
        humantime::format_duration(least),
        humantime::format_duration(most)
    );
    if v < least {
        return Err(de::Error::custom(format!(
            "\"{s}\" is too short: {range} (a lease is renewed every third of it, so a busy \
             database would let it lapse mid-request)"
        )));
    }
    if v > most {
        return Err(de::Error::custom(format!(
            "\"{s}\" is too long: {range} (a process that dies mid-refresh keeps its \
             connection from refreshing this long)"
        )));
    }
    Ok(v)
}

pub(super) fn default_refresh_share() -> f64 {
    0.1
}

pub(super) fn default_refresh_attempts() -> u32 {
    3
}

/// `refresh_share`: the share of a token's lifetime left when it is refreshed, at the least.
pub(super) fn refresh_share<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !(0.0..=0.5).contains(&v) {
        return Err(de::Error::custom(format!(
            "{v} makes no sense here: use a share from 0.0 to 0.5 of the token's lifetime \
             (0.1 refreshes an hour-long token 6 minutes early)"
        )));
    }
    Ok(v)
}

/// `refresh_attempts`: how many token requests must fit between the refresh and expiry.
pub(super) fn refresh_attempts<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = i64::deserialize(d)?;
    if !(1..=10).contains(&v) {
        return Err(de::Error::custom(format!(
            "{v} makes no sense here: use 1 to 10 attempts"
        )));
    }
    Ok(v as u32)
}

/// `refresh_idle`: the provider drops a refresh token unused this long.
pub(super) fn refresh_idle<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration_at_least(
        d,
        Duration::from_secs(60),
        "shorter than a minute is not an idle expiry",
    )
    .map(Some)
}
