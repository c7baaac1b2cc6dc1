use super::*;

fn channels(extra: &str) -> Vec<AlertChannel> {
    let text = format!(
        r#"
[[connectors]]
id = "jira"
kind = "rest"
tags = ["prod"]
[connectors.rest]
base_url = "https://jira.example.com"

[[connectors]]
id = "wiki"
kind = "rest"
[connectors.rest]
base_url = "https://wiki.example.com"

[[alerts]]
name = "hook"
kind = "webhook"
url = "https://hooks.example.com/in"
secret = "s3cret-value"
min_duration = "10s"
{extra}
"#
    );
    crate::config::parse_str(&text, None, &|_| None)
        .expect("config parses")
        .alerts
}

fn obs(connector: &str, health: Health) -> Observation {
    Observation {
        key: ConnectionKey::new(connector, "default"),
        name: connector.into(),
        health,
        detail: None,
        expires_at: None,
        tags: if connector == "jira" {
            vec!["prod".into()]
        } else {
            vec![]
        },
    }
}

const S: i64 = 1000;

fn kinds(step: &Step) -> Vec<(String, NoticeKind, Condition)> {
    step.notices
        .iter()
        .map(|(_, n)| (n.key.connector.clone(), n.kind, n.condition))
        .collect()
}

#[test]
fn fires_only_after_min_duration_so_a_flap_pages_nobody() {
    let ch = channels("");
    let mut t = Tracker::new(vec![]);
    assert!(t.observe(&ch, &[obs("jira", Health::Down)], 0).is_empty());
    assert!(
        t.observe(&ch, &[obs("jira", Health::Down)], 9 * S)
            .is_empty()
    );
    // Up for a moment: the clock starts again.
    assert!(
        t.observe(&ch, &[obs("jira", Health::Up)], 9 * S + 1)
            .is_empty()
    );
    assert!(
        t.observe(&ch, &[obs("jira", Health::Down)], 10 * S)
            .is_empty()
    );
    assert!(
        t.observe(&ch, &[obs("jira", Health::Down)], 19 * S)
            .is_empty()
    );
    let step = t.observe(&ch, &[obs("jira", Health::Down)], 20 * S);
    assert_eq!(
        kinds(&step),
        vec![("jira".into(), NoticeKind::Trigger, Condition::Down)]
    );
    assert_eq!(step.open.len(), 1);
    assert_eq!(step.notices[0].1.since, 10 * S);
    assert_eq!(
        step.notices[0].1.fix.as_deref(),
        Some("switchboard probe jira")
    );
    // Once: the next look queues nothing.
    assert!(
        t.observe(&ch, &[obs("jira", Health::Down)], 21 * S)
            .is_empty()
    );
}

#[test]
fn reminds_while_unresolved_then_resolves_after_min_duration_of_health() {
    let ch = channels("remind_every = \"60s\"");
    let mut t = Tracker::new(vec![]);
    t.observe(&ch, &[obs("jira", Health::NeedsReauth)], 0);
    let fired = t.observe(&ch, &[obs("jira", Health::NeedsReauth)], 10 * S);
    assert_eq!(fired.notices.len(), 1);
    let incident = fired.notices[0].1.incident.clone();
    assert!(
        t.observe(&ch, &[obs("jira", Health::NeedsReauth)], 69 * S)
            .is_empty()
    );
    let r1 = t.observe(&ch, &[obs("jira", Health::NeedsReauth)], 70 * S);
    assert_eq!(kinds(&r1)[0].1, NoticeKind::Remind);
    assert_eq!(r1.notices[0].1.incident, incident);
    assert!(r1.notices[0].1.dedup_key.ends_with("/remind/1"));
    let r2 = t.observe(&ch, &[obs("jira", Health::NeedsReauth)], 130 * S);
    assert!(r2.notices[0].1.dedup_key.ends_with("/remind/2"));
    // Healthy, but not yet for min_duration: still open.
    assert!(
        t.observe(&ch, &[obs("jira", Health::Up)], 131 * S)
            .is_empty()
    );
    let resolved = t.observe(&ch, &[obs("jira", Health::Up)], 141 * S);
    assert_eq!(kinds(&resolved)[0].1, NoticeKind::Resolve);
    assert_eq!(resolved.notices[0].1.incident, incident);
    assert_eq!(resolved.closed.len(), 1);
    assert_eq!(t.open_incidents(), 0);
}

#[test]
fn a_channel_fires_only_on_what_it_names_and_for_the_connectors_or_tags_it_names() {
    let ch = channels("on = [\"needs_reauth\"]\ntags = [\"prod\"]");
    let mut t = Tracker::new(vec![]);
    let fleet = [obs("jira", Health::Down), obs("wiki", Health::NeedsReauth)];
    t.observe(&ch, &fleet, 0);
    // jira is down (not named in `on`); wiki needs re-auth but has no "prod" tag.
    assert!(t.observe(&ch, &fleet, 60 * S).is_empty());
    let fleet = [obs("jira", Health::NeedsReauth)];
    t.observe(&ch, &fleet, 61 * S);
    let step = t.observe(&ch, &fleet, 71 * S);
    assert_eq!(
        kinds(&step),
        vec![("jira".into(), NoticeKind::Trigger, Condition::NeedsReauth)]
    );
    // `recovered` not named: the incident closes without a message.
    t.observe(&ch, &[obs("jira", Health::Up)], 72 * S);
    let step = t.observe(&ch, &[obs("jira", Health::Up)], 82 * S);
    assert!(step.notices.is_empty());
    assert_eq!(step.closed.len(), 1);
}

#[test]
fn a_restarted_leader_carries_open_incidents_on_without_firing_again() {
    let ch = channels("");
    let mut first = Tracker::new(vec![]);
    first.observe(&ch, &[obs("jira", Health::Down)], 0);
    let step = first.observe(&ch, &[obs("jira", Health::Down)], 10 * S);
    // The store keeps `step.open`; a new process starts from it.
    let mut second = Tracker::new(step.open.clone());
    for at in [100 * S, 200 * S, 300 * S] {
        assert!(
            second
                .observe(&ch, &[obs("jira", Health::Down)], at)
                .is_empty()
        );
    }
    assert!(second.is_open(&obs("jira", Health::Down).key));
    assert!(!second.is_open(&obs("zoom", Health::Down).key));
    second.observe(&ch, &[obs("jira", Health::Up)], 301 * S);
    let resolved = second.observe(&ch, &[obs("jira", Health::Up)], 311 * S);
    assert_eq!(resolved.notices[0].1.incident, step.notices[0].1.incident);
    assert!(!second.is_open(&obs("jira", Health::Up).key), "resolved");
}

#[test]
fn pending_paused_and_unauthorized_say_nothing_and_a_worse_state_retriggers_the_same_incident() {
    let ch = channels("");
    let mut t = Tracker::new(vec![]);
    t.observe(&ch, &[obs("jira", Health::Down)], 0);
    let fired = t.observe(&ch, &[obs("jira", Health::Down)], 10 * S);
    for h in [
        Health::Pending,
        Health::Unauthorized,
        Health::NotConfigured,
        Health::Paused,
    ] {
        assert!(t.observe(&ch, &[obs("jira", h)], 100 * S).is_empty());
    }
    t.observe(&ch, &[obs("jira", Health::NeedsReauth)], 101 * S);
    let worse = t.observe(&ch, &[obs("jira", Health::NeedsReauth)], 111 * S);
    assert_eq!(
        kinds(&worse),
        vec![("jira".into(), NoticeKind::Trigger, Condition::NeedsReauth)]
    );
    assert_eq!(worse.notices[0].1.incident, fired.notices[0].1.incident);
    assert_ne!(worse.notices[0].1.dedup_key, fired.notices[0].1.dedup_key);
}
