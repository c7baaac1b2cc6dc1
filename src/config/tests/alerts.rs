//! `[[alerts]]`: located errors, secrets kept out of them, unset variables turning a channel
//! off rather than stopping the program, and the documented example.

use super::{REST, assert_error, error, parse, parse_with};
use crate::config::{AlertKind, AlertOn};

#[test]
fn a_webhook_without_its_secret_is_refused_at_its_kind() {
    let e = error(&format!(
        "{REST}\n[[alerts]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"https://h.example/in\"\n"
    ));
    assert_error(
        &e,
        9,
        8,
        "alerts[0].secret",
        &[
            "a webhook channel needs secret",
            "verify the signature",
            "${SB_WEBHOOK_SECRET}",
        ],
    );
}

#[test]
fn plain_http_off_loopback_is_refused_and_the_url_never_quoted() {
    let text =
        format!("{REST}\n[[alerts]]\nname = \"s\"\nkind = \"slack\"\nurl = \"${{SLACK_URL}}\"\n");
    let url = "http://hooks.example.com/services/T000/B000/XXXXSECRETXXXX";
    let e = parse_with(&text, &[("SLACK_URL", url)]).expect_err("plain http");
    let shown = e.to_string();
    assert!(shown.contains("alerts[0].url"), "{shown}");
    assert!(
        shown.contains("hooks.example.com") && shown.contains("use https"),
        "{shown}"
    );
    assert!(!shown.contains("XXXXSECRETXXXX"), "the URL leaked: {shown}");
    // Loopback is fine (tests, local relays).
    let c = parse_with(&text, &[("SLACK_URL", "http://127.0.0.1:9/hook")]).expect("loopback");
    assert_eq!(c.alerts[0].kind, AlertKind::Slack);
}

#[test]
fn a_secret_of_the_wrong_type_is_not_echoed() {
    let e = error(&format!(
        "{REST}\n[[alerts]]\nname = \"pd\"\nkind = \"pagerduty\"\nrouting_key = 98765432101\n"
    ));
    assert_eq!(e.key.as_deref(), Some("alerts[0].routing_key"));
    assert!(!e.to_string().contains("98765432101"), "{e}");
}

#[test]
fn an_unset_variable_turns_the_channel_off_and_the_rest_loads() {
    let c = parse(&format!(
        "{REST}\n[[alerts]]\nname = \"pd\"\nkind = \"pagerduty\"\nrouting_key = \"${{PD_KEY}}\"\n"
    ));
    assert_eq!(c.alerts[0].missing_env, ["PD_KEY"]);
    assert!(!c.alerts[0].is_configured());
    assert_eq!(c.connectors.len(), 1);
}

#[test]
fn channel_names_are_unique_and_named_connectors_must_exist() {
    let hook = "kind = \"webhook\"\nurl = \"https://h.example/in\"\nsecret = \"k\"\n";
    let e = error(&format!(
        "{REST}\n[[alerts]]\nname = \"x\"\n{hook}\n[[alerts]]\nname = \"x\"\n{hook}"
    ));
    assert_eq!(e.key.as_deref(), Some("alerts[1].name"));
    assert!(e.message.contains("duplicate channel name `x`"), "{e}");
    let e = error(&format!(
        "{REST}\n[[alerts]]\nname = \"x\"\n{hook}connectors = [\"nope\"]\n"
    ));
    assert!(e.message.contains("no connector has id `nope`"), "{e}");
    let e = error(&format!(
        "{REST}\n[[alerts]]\nname = \"x\"\n{hook}on = []\n"
    ));
    assert!(e.message.contains("never fire"), "{e}");
    let e = error(&format!(
        "{REST}\n[[alerts]]\nname = \"m\"\nkind = \"email\"\nsmtp_host = \"localhost\"\nfrom = \"not an address\"\nto = [\"a@b.example\"]\n"
    ));
    assert_eq!(e.key.as_deref(), Some("alerts[0].from"));
}

#[test]
fn the_commented_example_channels_load_when_uncommented() {
    let example = include_str!("../../../config.toml");
    let start = example
        .find("# [[alerts]]")
        .expect("the example documents [[alerts]]");
    let end = example[start..]
        .find("# ----")
        .map_or(example.len(), |e| start + e);
    let alerts: String = example[start..end]
        .lines()
        .filter_map(|l| l.strip_prefix("# ").or(l.strip_prefix("#")))
        .collect::<Vec<_>>()
        .join("\n");
    let text = format!(
        "[[connectors]]\nid = \"jira\"\nkind = \"rest\"\ntags = [\"prod\"]\n[connectors.rest]\nbase_url = \"https://j.example\"\n\n{alerts}\n"
    );
    let c = parse_with(
        &text,
        &[
            ("SWITCHBOARD_WEBHOOK_SECRET", "k"),
            (
                "SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/T/B/X",
            ),
            ("PAGERDUTY_ROUTING_KEY", "r"),
            ("SMTP_PASSWORD", "p"),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<_> = c.alerts.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [
            AlertKind::Webhook,
            AlertKind::Slack,
            AlertKind::Pagerduty,
            AlertKind::Email
        ]
    );
    assert!(c.alerts.iter().all(|a| a.is_configured()));
    assert_eq!(c.alerts[2].on, [AlertOn::Down, AlertOn::NeedsReauth]);
}
