//! Durations and probe schedules. Deserialized by hand so a bad value fails at its own span with
//! a message that shows a valid example, instead of serde's generic "invalid type".

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Visitor};

const DURATION_EXAMPLES: &str = r#"a duration like "30s", "5m", "1h30m" or "250ms""#;
const SCHEDULE_EXAMPLES: &str =
    r#"a duration like "30s", "5m", "1h" or a 6-field cron expression like "0 */5 * * * *""#;

/// Parses "30s", "5m", "1h30m", "250ms" (humantime syntax). The error says what is expected.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    parse_duration_why(s)
        .map_err(|why| format!("invalid duration \"{s}\" ({why}); expected {DURATION_EXAMPLES}"))
}

/// The bare reason a duration did not parse, for callers that frame their own message.
fn parse_duration_why(s: &str) -> Result<Duration, String> {
    let trimmed = s.trim();
    humantime::parse_duration(trimmed).map_err(|e| {
        use humantime::DurationError as E;
        match e {
            E::Empty => "it is empty".to_owned(),
            E::UnknownUnit { unit, .. } if unit.is_empty() => {
                "a unit is missing: ms, s, m, h or d".to_owned()
            }
            E::UnknownUnit { unit, .. } => format!("unknown unit `{unit}`"),
            E::NumberExpected(_) => "a number is missing".to_owned(),
            E::InvalidCharacter(at) => {
                let c = trimmed.get(at..).and_then(|t| t.chars().next());
                format!("unexpected character `{}`", c.unwrap_or(' '))
            }
            E::NumberOverflow => "the number is too large".to_owned(),
        }
    })
}

/// How often a connector is probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeSchedule {
    Every(Duration),
    /// A 6-field cron expression, seconds first, as tokio-cron-scheduler takes it.
    Cron(String),
}

impl ProbeSchedule {
    pub fn label(&self) -> String {
        match self {
            Self::Every(d) => format!("every {}", humantime::format_duration(*d)),
            Self::Cron(expr) => format!("cron {expr}"),
        }
    }

    /// Parses what a user writes for `probe`: a duration, or a cron expression when the value
    /// has as many fields as cron does (a duration never has five space-separated parts).
    pub fn parse(s: &str) -> Result<Self, String> {
        let fields = s.split_whitespace().count();
        if fields >= 5 || s.trim_start().starts_with('@') {
            return validate_cron(s).map(|()| Self::Cron(s.trim().to_owned()));
        }
        match parse_duration_why(s) {
            Ok(d) if d.is_zero() => Err(format!(
                "probe interval \"{s}\" must be greater than zero; expected {SCHEDULE_EXAMPLES}"
            )),
            Ok(d) => Ok(Self::Every(d)),
            Err(why) => Err(format!(
                "invalid probe schedule \"{s}\" ({why}); expected {SCHEDULE_EXAMPLES}"
            )),
        }
    }
}

impl fmt::Display for ProbeSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// Checks a cron expression with the same parser and options tokio-cron-scheduler uses, so
/// `config check` accepts exactly what the scheduler will run.
pub fn validate_cron(expr: &str) -> Result<(), String> {
    let fields = expr.split_whitespace().count();
    if fields == 5 {
        return Err(format!(
            "cron expression \"{expr}\" has 5 fields; switchboard uses 6 with seconds first, \
             like \"0 {}\"",
            expr.trim()
        ));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .build()
        .parse(expr.trim())
        .map(drop)
        .map_err(|e| {
            let why = e.to_string();
            let why = why.trim_end_matches('.');
            format!(
                "invalid cron expression \"{expr}\" ({why}); expected 6 fields \
                 (sec min hour day month weekday) like \"0 */5 * * * *\""
            )
        })
}

impl<'de> Deserialize<'de> for ProbeSchedule {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ProbeSchedule;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(SCHEDULE_EXAMPLES)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ProbeSchedule, E> {
                ProbeSchedule::parse(s).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// `deserialize_with` for plain duration keys such as `refresh_lead`.
pub fn deserialize_duration<'de, D: de::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(DURATION_EXAMPLES)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
            parse_duration(s).map_err(E::custom)
        }
    }
    d.deserialize_str(V)
}
