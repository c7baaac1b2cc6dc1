//! `switchboard config check` through the real binary, against the fixtures.
//!
//! Contract: on success, stdout is `ok: PATH: N connectors` plus one
//! `warning: connector ID is not configured: set VAR` line per connector with unset variables,
//! exit 0. On error, stderr is exactly one line, `error: ` followed by the ConfigError display
//! (`PATH:LINE:COL: KEY: MESSAGE`), exit 2 (as every command exits on a bad config, and as
//! `config check --help` says), with no backtrace or debug formatting.

use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/config/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Runs `config check` with backtraces requested, so a leaked panic or anyhow report shows.
fn check(path: &str, setup: impl FnOnce(&mut Command)) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(["config", "check", "--config", path])
        .env("RUST_BACKTRACE", "1")
        .env_remove("SWITCHBOARD_FIXTURE_UNSET_TOKEN");
    setup(&mut cmd);
    match cmd.output() {
        Ok(out) => out,
        Err(e) => panic!("cannot run switchboard: {e}"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_ok(out: &Output, path: &str, connectors: usize) -> Vec<String> {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let mut lines = stdout.lines().map(str::to_owned);
    assert_eq!(
        lines.next().as_deref(),
        Some(format!("ok: {path}: {connectors} connectors").as_str()),
        "stdout: {stdout}"
    );
    lines.collect()
}

/// Asserts a one-line located error: `error: PATH:LINE:COL: KEY: ...` containing `fragments`.
#[track_caller]
fn assert_error(name: &str, line: usize, column: usize, key: &str, fragments: &[&str]) {
    let path = fixture(name);
    let out = check(&path, |_| {});
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{name}: stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "{name}: stdout: {}",
        text(&out.stdout)
    );
    let shown = stderr.trim_end_matches('\n');
    assert!(!shown.contains('\n'), "{name}: not one line: {stderr:?}");
    let prefix = format!("error: {path}:{line}:{column}: {key}: ");
    assert!(
        shown.starts_with(&prefix),
        "{name}: expected {prefix:?}..., got {shown:?}"
    );
    for f in fragments {
        assert!(shown.contains(f), "{name}: lacks {f:?}: {shown}");
    }
    for leak in ["Error:", "backtrace", "panicked", "Error {"] {
        assert!(
            !shown.contains(leak),
            "{name}: debug output leaked: {shown}"
        );
    }
}

#[test]
fn valid_fixture_passes() {
    let path = fixture("valid.toml");
    let warnings = assert_ok(&check(&path, |_| {}), &path, 3);
    assert!(warnings.is_empty(), "unexpected output: {warnings:?}");
}

#[test]
fn unset_variable_is_a_warning_naming_connector_and_variable() {
    let path = fixture("unset_var.toml");
    let warnings = assert_ok(&check(&path, |_| {}), &path, 2);
    // One line: who, what to set, and where the variable is used (file:line:column: key).
    assert_eq!(
        warnings,
        [format!(
            "warning: connector slack is not configured: set SWITCHBOARD_FIXTURE_UNSET_TOKEN \
             ({}:11:9: connectors[0].auth.token: environment variable \
             `SWITCHBOARD_FIXTURE_UNSET_TOKEN` is not set)",
            path
        )]
    );
}

#[test]
fn set_variable_clears_the_warning() {
    let path = fixture("unset_var.toml");
    let out = check(&path, |c| {
        c.env("SWITCHBOARD_FIXTURE_UNSET_TOKEN", "xoxb-test");
    });
    assert!(assert_ok(&out, &path, 2).is_empty());
}

#[test]
fn documented_example_passes() {
    let path = format!("{}/config.toml", env!("CARGO_MANIFEST_DIR"));
    let vars = [
        "JIRA_CLIENT_ID",
        "JIRA_CLIENT_SECRET",
        "SLACK_BOT_TOKEN",
        "GITHUB_CLIENT_ID",
        "GITHUB_CLIENT_SECRET",
    ];
    let out = check(&path, |c| {
        for v in vars {
            c.env(v, "x");
        }
    });
    assert!(assert_ok(&out, &path, 4).is_empty());

    let out = check(&path, |c| {
        for v in vars {
            c.env_remove(v);
        }
    });
    let warnings = assert_ok(&out, &path, 4);
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    for (id, var) in [
        ("jira", "JIRA_CLIENT_ID"),
        ("slack", "SLACK_BOT_TOKEN"),
        ("github", "GITHUB_CLIENT_ID"),
    ] {
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with(&format!("warning: connector {id} "))
                    && w.contains("is not configured: set ")
                    && w.contains(var)),
            "no warning for {id}/{var}: {warnings:?}"
        );
    }
}

#[test]
fn typo_key() {
    assert_error(
        "typo_key.toml",
        9,
        1,
        "connectors[0].auth.clinet_id",
        &["unknown field `clinet_id`", "did you mean `client_id`?"],
    );
}

#[test]
fn wrong_type() {
    assert_error(
        "wrong_type.toml",
        7,
        9,
        "connectors[0].schedule.probe",
        &[
            "invalid type: integer `30`",
            "expected a duration like \"30s\"",
        ],
    );
}

#[test]
fn bad_duration() {
    assert_error(
        "bad_duration.toml",
        13,
        9,
        "connectors[1].schedule.probe",
        &[
            "unknown unit `parsecs`",
            "6-field cron expression like \"0 */5 * * * *\"",
        ],
    );
}

#[test]
fn bad_cron() {
    assert_error(
        "bad_cron.toml",
        7,
        9,
        "connectors[0].schedule.probe",
        &["has 5 fields", "seconds first"],
    );
}

#[test]
fn duplicate_id() {
    assert_error(
        "duplicate_id.toml",
        8,
        6,
        "connectors[1].id",
        &["duplicate connector id `jira`", "line 2"],
    );
}

#[test]
fn missing_mcp_table() {
    assert_error(
        "missing_mcp.toml",
        3,
        8,
        "connectors[0].mcp",
        &["needs a [connectors.mcp] table"],
    );
}

#[test]
fn unknown_provider() {
    assert_error(
        "unknown_provider.toml",
        8,
        12,
        "connectors[0].auth.provider",
        &["unknown provider `gogle`", "did you mean `google`?"],
    );
}

#[test]
fn syntax_error() {
    let path = fixture("syntax_error.toml");
    let out = check(&path, |_| {});
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    let shown = stderr.trim_end_matches('\n');
    assert!(!shown.contains('\n'), "not one line: {stderr:?}");
    assert!(shown.starts_with(&format!("error: {path}:2:")), "{shown}");
    assert!(shown.contains("invalid basic string"), "{shown}");
}

#[test]
fn missing_file() {
    let path = fixture("does_not_exist.toml");
    let out = check(&path, |_| {});
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.starts_with(&format!("error: {path}: cannot read config file:")),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end_matches('\n').lines().count(), 1, "{stderr}");
}

#[test]
fn other_commands_refuse_a_bad_config_with_exit_2_and_the_same_line() {
    let path = fixture("typo_key.toml");
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["status", "--config", &path, "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with(&format!("error: {path}:")), "{stderr}");
    // Nothing was created for a config that did not load.
    assert_eq!(std::fs::read_dir(data.path()).unwrap().count(), 0);
}

#[test]
fn an_unknown_protocol_version_is_refused_with_the_known_ones() {
    assert_error(
        "bad_protocol_version.toml",
        9,
        20,
        "connectors[0].mcp.protocol_version",
        &["`2025-13-01` is not an MCP protocol revision", "2025-06-18"],
    );
}

#[test]
fn plain_http_token_url_off_loopback_is_refused() {
    assert_error(
        "http_token_url.toml",
        11,
        13,
        "connectors[0].auth.token_url",
        &[
            "\"http://auth.example.com/oauth/token\" uses plain http",
            "use https",
        ],
    );
}

/// A secret set through `${VAR}` and put in the wrong place: serde's type and variant errors
/// and our URL check all quote the value they choke on; the file's `${VAR}` is shown instead.
#[test]
fn errors_on_interpolated_values_never_show_the_secret() {
    const SECRET: &str = "s3cret-Fixture-8c1d";
    for (name, line, column, key, fragment) in [
        (
            "secret_type_error.toml",
            11,
            10,
            "connectors[0].auth.scopes",
            "invalid type: string \"${SWITCHBOARD_FIXTURE_SECRET}\", expected a sequence",
        ),
        (
            "secret_variant.toml",
            8,
            8,
            "connectors[0].auth.type",
            "unknown variant `${SWITCHBOARD_FIXTURE_SECRET}`",
        ),
        (
            "secret_url.toml",
            10,
            13,
            "connectors[0].auth.token_url",
            "\"${SWITCHBOARD_FIXTURE_SECRET}\" is not an http(s) URL",
        ),
    ] {
        let path = fixture(name);
        let out = check(&path, |c| {
            c.env("SWITCHBOARD_FIXTURE_SECRET", SECRET);
        });
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            !stdout.contains(SECRET) && !stderr.contains(SECRET),
            "{name} printed the secret: {stdout}{stderr}"
        );
        let prefix = format!("error: {path}:{line}:{column}: {key}: ");
        assert!(stderr.starts_with(&prefix), "{name}: {stderr}");
        assert!(
            stderr.contains(fragment),
            "{name}: lacks {fragment:?}: {stderr}"
        );
        assert_eq!(stderr.trim_end().lines().count(), 1, "{name}: {stderr}");
    }
}

/// A secret written into the file itself, of the wrong type: the error names the key and what
/// is wrong, not the value.
#[test]
fn an_error_on_a_literal_secret_never_shows_it() {
    let path = fixture("secret_literal.toml");
    let out = check(&path, |_| {});
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("98765432"), "printed the secret: {stderr}");
    assert!(
        stderr.contains("connectors[0].auth.client_secret: invalid type: integer"),
        "{stderr}"
    );
}

#[test]
fn a_key_bound_twice_is_located_at_the_action() {
    assert_error(
        "key_conflict.toml",
        5,
        9,
        "keys.probe",
        &["'o' is also bound to refresh"],
    );
}

#[test]
fn an_unknown_key_action_is_located_and_lists_the_actions() {
    assert_error(
        "key_unknown.toml",
        2,
        10,
        "keys.refesh",
        &["unknown action \"refesh\"", "refresh"],
    );
}
