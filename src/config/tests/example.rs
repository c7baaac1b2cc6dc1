//! The documented example at the repository root must stay loadable.

use std::time::Duration;

use super::super::{AuthType, ConnectorKind, McpTransport, ProbeSchedule};
use super::parse_with;

const EXAMPLE: &str = include_str!("../../../config.toml");

const VARS: &[(&str, &str)] = &[
    ("JIRA_CLIENT_ID", "jira-id"),
    ("JIRA_CLIENT_SECRET", "jira-secret"),
    ("SLACK_BOT_TOKEN", "xoxb-1"),
    ("GITHUB_CLIENT_ID", "gh-id"),
    ("GITHUB_CLIENT_SECRET", "gh-secret"),
];

#[test]
fn example_loads_with_its_variables_set() {
    let c = parse_with(EXAMPLE, VARS).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.console.theme, "default");
    let ids: Vec<_> = c.connectors.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["jira", "slack", "everything", "github"]);
    assert!(c.connectors.iter().all(|c| c.missing_env.is_empty()));

    let jira = &c.connectors[0];
    assert_eq!(
        (jira.kind, jira.display_name()),
        (ConnectorKind::Mcp, "Jira")
    );
    assert_eq!(
        jira.transport().map(|t| t.label()),
        Some("mcp/streamable-http")
    );
    assert_eq!(jira.auth.client_id.as_deref(), Some("jira-id"));
    let auth = jira.auth.resolved();
    assert_eq!(
        auth.token_url.as_deref(),
        Some("https://auth.atlassian.com/oauth/token")
    );
    assert_eq!(
        jira.rest.as_ref().map(|r| r.health_path.as_str()),
        Some("/me")
    );

    let slack = &c.connectors[1];
    assert_eq!(slack.transport().map(|t| t.label()), Some("rest"));
    assert_eq!(slack.auth.kind, AuthType::Bearer);
    assert_eq!(
        slack.auth.token.as_ref().map(|t| t.expose()),
        Some("xoxb-1")
    );
    assert_eq!(
        slack.schedule.probe,
        ProbeSchedule::Every(Duration::from_secs(60))
    );

    let everything = &c.connectors[2];
    assert_eq!(everything.transport().map(|t| t.label()), Some("mcp/stdio"));
    assert_eq!(
        everything.mcp.as_ref().map(|m| m.transport),
        Some(McpTransport::Stdio)
    );
    assert_eq!(everything.auth.kind, AuthType::None);
    assert!(matches!(everything.schedule.probe, ProbeSchedule::Cron(_)));

    let github = &c.connectors[3];
    assert_eq!(
        github.rest.as_ref().map(|r| r.expect_status.clone()),
        Some(vec![200])
    );
    assert_eq!(github.schedule.refresh_lead, Duration::from_secs(600));
    assert!(github.auth.resolved().rotates_refresh_tokens);
}

#[test]
fn example_loads_with_its_variables_unset() {
    let c = parse_with(EXAMPLE, &[]).unwrap_or_else(|e| panic!("{e}"));
    let missing: Vec<_> = c
        .connectors
        .iter()
        .map(|c| (c.id.as_str(), c.missing_env.clone()))
        .collect();
    assert_eq!(
        missing,
        [
            (
                "jira",
                vec!["JIRA_CLIENT_ID".to_owned(), "JIRA_CLIENT_SECRET".to_owned()]
            ),
            ("slack", vec!["SLACK_BOT_TOKEN".to_owned()]),
            ("everything", vec![]),
            (
                "github",
                vec![
                    "GITHUB_CLIENT_ID".to_owned(),
                    "GITHUB_CLIENT_SECRET".to_owned()
                ]
            ),
        ]
    );
}

#[test]
fn example_documents_every_key() {
    for key in [
        "theme",
        "id",
        "name",
        "kind",
        "transport",
        "url",
        "command",
        "args",
        "env",
        "base_url",
        "health_path",
        "expect_status",
        "type",
        "provider",
        "issuer",
        "authorize_url",
        "token_url",
        "revoke_url",
        "device_url",
        "client_id",
        "client_secret",
        "scopes",
        "token",
        "redirect_port",
        "extra_params",
        "pkce",
        "rotates_refresh_tokens",
        "probe",
        "refresh_lead",
    ] {
        assert!(
            EXAMPLE.contains(&format!("{key} =")),
            "config.toml does not show `{key}`"
        );
    }
}

/// The commented-out machine connector at the end of the example loads once uncommented, its
/// key read from the variable it names.
#[test]
fn example_machine_connector_loads_uncommented() {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    use base64::Engine as _;

    let at = EXAMPLE
        .find("# [[connectors]]\n# id = \"reports\"")
        .expect("the machine example");
    let block: String = EXAMPLE[at..]
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
        .map(|l| format!("{l}\n"))
        .collect();
    let der = EcdsaKeyPair::generate_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &aws_lc_rs::rand::SystemRandom::new(),
    )
    .expect("a key");
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(der.as_ref())
    );
    let c = parse_with(&block, &[("REPORTS_KEY", &pem)]).unwrap_or_else(|e| panic!("{e}"));
    let auth = &c.connectors[0].auth;
    assert_eq!(auth.kind, AuthType::Mcp);
    assert_eq!(auth.grant, Some(super::super::Grant::ClientCredentials));
    assert!(auth.client_key.is_some(), "the key was read");
}
