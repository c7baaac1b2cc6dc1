//! The fixtures that tests/config_cli.rs feeds to the binary, checked here through `load` so
//! they are known to be right even before the CLI exists.

use std::path::PathBuf;

use super::super::load;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

#[test]
fn valid_fixtures_load() {
    let c = load(&fixture("valid.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.connectors.len(), 3);
    assert_eq!(c.source, Some(fixture("valid.toml")));
    assert!(c.connectors.iter().all(|c| c.missing_env.is_empty()));

    let c = load(&fixture("unset_var.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.connectors[0].missing_env,
        ["SWITCHBOARD_FIXTURE_UNSET_TOKEN"]
    );
    assert!(c.connectors[1].missing_env.is_empty());
}

#[test]
fn invalid_fixtures_fail_where_the_cli_test_expects() {
    for (name, line, column, key, fragment) in [
        (
            "typo_key.toml",
            9,
            1,
            "connectors[0].auth.clinet_id",
            "did you mean `client_id`?",
        ),
        (
            "wrong_type.toml",
            7,
            9,
            "connectors[0].schedule.probe",
            "invalid type: integer `30`",
        ),
        (
            "bad_duration.toml",
            13,
            9,
            "connectors[1].schedule.probe",
            "unknown unit `parsecs`",
        ),
        (
            "bad_cron.toml",
            7,
            9,
            "connectors[0].schedule.probe",
            "has 5 fields",
        ),
        (
            "duplicate_id.toml",
            8,
            6,
            "connectors[1].id",
            "duplicate connector id `jira`",
        ),
        (
            "missing_mcp.toml",
            3,
            8,
            "connectors[0].mcp",
            "needs a [connectors.mcp] table",
        ),
        (
            "unknown_provider.toml",
            8,
            12,
            "connectors[0].auth.provider",
            "did you mean `google`?",
        ),
    ] {
        let path = fixture(name);
        let Err(e) = load(&path) else {
            panic!("{name} loaded");
        };
        let prefix = format!("{}:{line}:{column}: {key}: ", path.display());
        let shown = e.to_string();
        assert!(
            shown.starts_with(&prefix),
            "{name}: expected {prefix:?}, got {shown:?}"
        );
        assert!(shown.contains(fragment), "{name}: {shown}");
        assert!(!shown.contains('\n'), "{name}: {shown}");
    }
    let Err(e) = load(&fixture("syntax_error.toml")) else {
        panic!("syntax_error.toml loaded");
    };
    assert_eq!(e.line, Some(2), "{e}");
}
