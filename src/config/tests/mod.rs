//! Unit tests for the config module, grouped by concern.

mod alerts;
mod errors;
mod example;
mod fixtures;
mod health;
mod interp;
mod keys;
mod presets;
mod props;
mod schedule;

use std::collections::HashMap;
use std::path::Path;

use super::{Config, ConfigError, parse_str};

/// A REST connector with nothing optional: tests append keys or tables to it.
pub(super) const REST: &str = "\
[[connectors]]
id = \"a\"
kind = \"rest\"
[connectors.rest]
base_url = \"https://x.example\"
";

/// Parses with an environment of exactly `vars`.
pub(super) fn parse_with(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    parse_str(text, Some(Path::new("config.toml")), &|k| {
        env.get(k).cloned()
    })
}

pub(super) fn parse(text: &str) -> Config {
    match parse_with(text, &[]) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got: {e}"),
    }
}

/// The error for `text`, checked to be one line naming the file.
pub(super) fn error(text: &str) -> ConfigError {
    match parse_with(text, &[]) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => {
            let shown = e.to_string();
            assert!(!shown.contains('\n'), "not one line: {shown:?}");
            assert!(shown.starts_with("config.toml:"), "no file: {shown}");
            e
        }
    }
}

/// Asserts the location and key of an error, and that its message contains every fragment.
#[track_caller]
pub(super) fn assert_error(
    e: &ConfigError,
    line: usize,
    column: usize,
    key: &str,
    fragments: &[&str],
) {
    assert_eq!(
        (e.line, e.column, e.key.as_deref()),
        (Some(line), Some(column), Some(key)),
        "wrong location for: {e}"
    );
    for f in fragments {
        assert!(e.message.contains(f), "message lacks {f:?}: {e}");
    }
}
