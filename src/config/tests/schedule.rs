//! Durations and probe schedules.

use std::time::Duration;

use super::super::{ProbeSchedule, ScheduleConfig, parse_duration, validate_cron};
use super::{REST, parse};

#[test]
fn durations_in_the_documented_forms() {
    assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
    assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration(" 2h "), Ok(Duration::from_secs(7200)));
}

#[test]
fn duration_errors_say_what_is_expected() {
    for (input, why) in [
        ("30 parsecs", "unknown unit `parsecs`"),
        ("30", "a unit is missing"),
        ("", "it is empty"),
        ("m", "a number is missing"),
        ("5m!", "unexpected character `!`"),
    ] {
        let e = parse_duration(input).unwrap_err();
        assert!(e.contains(why), "{input:?}: {e}");
        assert!(
            e.contains("expected a duration like \"30s\", \"5m\""),
            "{input:?}: {e}"
        );
    }
}

#[test]
fn probe_accepts_durations_and_six_field_cron() {
    assert_eq!(
        ProbeSchedule::parse("45s"),
        Ok(ProbeSchedule::Every(Duration::from_secs(45)))
    );
    for expr in [
        "0 */5 * * * *",
        "*/10 * * * * *",
        "0 0 9 * * Mon-Fri",
        "0 30 2 1 * *",
    ] {
        assert_eq!(
            ProbeSchedule::parse(expr),
            Ok(ProbeSchedule::Cron(expr.into())),
            "{expr}"
        );
        assert_eq!(validate_cron(expr), Ok(()));
    }
}

#[test]
fn probe_rejects_bad_cron_and_zero() {
    let e = ProbeSchedule::parse("*/5 * * * *").unwrap_err();
    assert!(
        e.contains("has 5 fields") && e.contains("\"0 */5 * * * *\""),
        "{e}"
    );
    let e = ProbeSchedule::parse("0 */5 * 32 * *").unwrap_err();
    assert!(
        e.contains("invalid cron expression") && e.contains("6 fields"),
        "{e}"
    );
    let e = ProbeSchedule::parse("0 0 25 * * *").unwrap_err();
    assert!(e.contains("invalid cron expression"), "{e}");
    let e = ProbeSchedule::parse("0s").unwrap_err();
    assert!(e.contains("greater than zero"), "{e}");
}

#[test]
fn labels() {
    assert_eq!(
        ProbeSchedule::Every(Duration::from_secs(90)).label(),
        "every 1m 30s"
    );
    assert_eq!(
        ProbeSchedule::Cron("0 */5 * * * *".into()).label(),
        "cron 0 */5 * * * *"
    );
}

#[test]
fn schedule_defaults_and_overrides() {
    let c = parse(REST);
    assert_eq!(c.connectors[0].schedule, ScheduleConfig::default());
    assert_eq!(
        c.connectors[0].schedule.probe,
        ProbeSchedule::Every(Duration::from_secs(30))
    );
    assert_eq!(
        c.connectors[0].schedule.refresh_lead,
        Duration::from_secs(300)
    );

    let c = parse(&format!(
        "{REST}[connectors.schedule]\nprobe = \"0 0 * * * *\"\nrefresh_lead = \"90s\"\n"
    ));
    let s = &c.connectors[0].schedule;
    assert_eq!(s.probe, ProbeSchedule::Cron("0 0 * * * *".into()));
    assert_eq!(s.refresh_lead, Duration::from_secs(90));
}
