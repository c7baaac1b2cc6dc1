//! What each kind of channel receives for a `Notice`: the webhook's JSON, Slack's text,
//! PagerDuty's event, an email's subject and body. Nothing here sends anything.

use serde_json::{Value, json};

use crate::domain::UnixMs;
use crate::domain::alert::{Condition, Notice, NoticeKind};
use crate::secret::Secret;

pub fn rfc3339(ms: UnixMs) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

fn span(ms: i64) -> String {
    let secs = u64::try_from(ms.max(0) / 1000).unwrap_or(0);
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}

/// "token expires in 4m 12s" / "token expired 3m ago", when the expiry is known.
pub fn time_left(n: &Notice) -> Option<String> {
    let at = n.expires_at?;
    Some(if at >= n.at {
        format!("token expires in {}", span(at - n.at))
    } else {
        format!("token expired {} ago", span(n.at - at))
    })
}

/// One line a person reads first.
pub fn summary(n: &Notice) -> String {
    let who = if n.name == n.key.connector {
        n.key.to_string()
    } else {
        format!("{} ({})", n.name, n.key)
    };
    let (verb, still) = match n.condition {
        Condition::NeedsReauth => ("needs", "still needs"),
        _ => ("is", "is still"),
    };
    let state = match n.condition {
        Condition::NeedsReauth => "re-auth",
        c => c.label(),
    };
    match n.kind {
        NoticeKind::Resolve => format!(
            "{who} recovered: it was {} for {}",
            n.condition.label(),
            span(n.at - n.since)
        ),
        NoticeKind::Remind => format!("{who} {still} {state} (since {})", rfc3339(n.since)),
        NoticeKind::Trigger => format!("{who} {verb} {state} since {}", rfc3339(n.since)),
        NoticeKind::Test => "switchboard test alert: this channel works".to_owned(),
    }
}

/// The lines under the summary: time left, detail, the fixing command.
fn details(n: &Notice) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(left) = time_left(n) {
        lines.push(left);
    }
    if let Some(d) = &n.detail {
        lines.push(d.clone());
    }
    if let Some(fix) = &n.fix {
        lines.push(format!("fix: {fix}"));
    }
    lines
}

/// The generic webhook's body: the notice's fields plus `summary` and RFC 3339 times.
pub fn webhook(n: &Notice) -> Value {
    json!({
        "version": 1,
        "event": n.kind.as_str(),
        "dedup_key": n.dedup_key,
        "incident": n.incident,
        "connector": n.key.connector,
        "account": n.key.account,
        "name": n.name,
        "condition": n.condition.as_str(),
        "since": rfc3339(n.since),
        "at": rfc3339(n.at),
        "expires_at": n.expires_at.map(rfc3339),
        "time_left": time_left(n),
        "detail": n.detail,
        "fix": n.fix,
        "summary": summary(n),
    })
}

/// A Slack incoming webhook's body: mrkdwn text a person can act on from a phone.
pub fn slack(n: &Notice) -> Value {
    let icon = match n.kind {
        NoticeKind::Resolve => ":large_green_circle:",
        NoticeKind::Test => ":white_check_mark:",
        _ => ":red_circle:",
    };
    let mut text = format!("{icon} *{}*", summary(n));
    for line in details(n) {
        match line.strip_prefix("fix: ") {
            Some(cmd) => text.push_str(&format!("\nFix: `{cmd}`")),
            None => text.push_str(&format!("\n{line}")),
        }
    }
    json!({ "text": text })
}

/// A PagerDuty Events API v2 event: trigger (reminders too: PagerDuty folds them into the
/// incident by `dedup_key`) or resolve.
pub fn pagerduty(n: &Notice, routing_key: &Secret) -> Value {
    let action = match n.kind {
        NoticeKind::Resolve => "resolve",
        _ => "trigger",
    };
    let severity = match (n.kind, n.condition) {
        (NoticeKind::Test, _) => "info",
        (_, Condition::AtRisk) => "warning",
        (_, Condition::Down) => "error",
        (_, Condition::NeedsReauth) => "critical",
    };
    let mut event = json!({
        "routing_key": routing_key.expose(),
        "event_action": action,
        "dedup_key": n.incident,
    });
    if action == "trigger" {
        event["payload"] = json!({
            "summary": summary(n),
            "source": "switchboard",
            "severity": severity,
            "timestamp": rfc3339(n.at),
            "component": n.key.connector,
            "group": n.key.account,
            "class": n.condition.as_str(),
            "custom_details": {
                "time_left": time_left(n),
                "detail": n.detail,
                "fix": n.fix,
                "dedup_key": n.dedup_key,
            },
        });
    }
    event
}

/// An email's subject and plain-text body.
pub fn email(n: &Notice) -> (String, String) {
    let subject = format!("[switchboard] {}", summary(n));
    let mut body = summary(n);
    body.push_str("\n\n");
    for line in details(n) {
        body.push_str(&line);
        body.push('\n');
    }
    body.push_str(&format!(
        "\nincident: {}\nmessage: {}\n",
        n.incident, n.dedup_key
    ));
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ConnectionKey;

    fn notice(kind: NoticeKind) -> Notice {
        Notice {
            kind,
            key: ConnectionKey::new("jira", "ops"),
            name: "Jira".into(),
            condition: Condition::NeedsReauth,
            since: 1_700_000_000_000,
            at: 1_700_000_060_000,
            incident: "switchboard/hook/jira/ops/1700000000000".into(),
            dedup_key: "x/trigger/needs_reauth".into(),
            expires_at: Some(1_700_000_300_000),
            detail: Some("the grant was revoked".into()),
            fix: Some("switchboard auth jira --account ops".into()),
        }
    }

    #[test]
    fn slack_says_what_broke_how_long_is_left_and_what_fixes_it() {
        let text = slack(&notice(NoticeKind::Trigger))["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            text.contains("Jira (jira/ops) needs re-auth since 2023-11-14T22:13:20Z"),
            "{text}"
        );
        assert!(text.contains("token expires in 4m"), "{text}");
        assert!(
            text.contains("Fix: `switchboard auth jira --account ops`"),
            "{text}"
        );
    }

    #[test]
    fn pagerduty_triggers_and_resolves_one_incident_and_resolve_carries_no_payload() {
        let key = Secret::from("R0UTING");
        let t = pagerduty(&notice(NoticeKind::Trigger), &key);
        let r = pagerduty(&notice(NoticeKind::Resolve), &key);
        assert_eq!(t["event_action"], "trigger");
        assert_eq!(r["event_action"], "resolve");
        assert_eq!(t["dedup_key"], r["dedup_key"]);
        assert_eq!(t["payload"]["severity"], "critical");
        assert!(r.get("payload").is_none());
    }
}
