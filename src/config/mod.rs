//! Configuration: schema, located errors, ${VAR} interpolation, presets.
//!
//! Loading is a pipeline over one spanned document: parse to a `DeTable` (every key and value
//! keeps its byte span), interpolate `${VAR}` in place, deserialize the typed `Config` from
//! that same tree, then run the semantic checks. Because the tree is kept, every error —
//! syntax, serde or semantic — is reported as one line with file, line, column and key path.

mod alerts;
mod duration;
mod error;
mod fingerprint;
mod health;
mod interp;
mod keys;
mod locate;
mod presets;
mod redact;
mod schema;
mod validate;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::de::DeTable;

pub use alerts::{AlertChannel, AlertKind, AlertOn, PAGERDUTY_URL, SmtpTls};
pub use duration::{ProbeSchedule, parse_duration, validate_cron};
pub use error::ConfigError;
pub use fingerprint::fingerprint;
pub use health::{HealthConfig, StoreConfig};
pub use presets::{Preset, ResolvedAuth, preset, preset_names};
pub use schema::{
    AuthConfig, AuthType, Config, ConnectorConfig, ConnectorKind, ConsoleConfig, Grant, KeyAlg,
    KeyList, McpConfig, McpTransport, MetricsConfig, RestConfig, ScheduleConfig, TokenAuthMethod,
};

/// Reads, parses, interpolates (from the process environment) and validates a config file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, &e))?;
    parse_str(&text, Some(path), &|name| std::env::var(name).ok())
}

/// [`load`], with the [`fingerprint`] of the very text it parsed (a daemon's, for `status` to
/// compare with: read twice, the file could change in between).
pub fn load_fingerprinted(path: &Path) -> Result<(Config, Option<String>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, &e))?;
    let env = |name: &str| std::env::var(name).ok();
    let config = parse_str(&text, Some(path), &env)?;
    Ok((config, fingerprint(&text, &env)))
}

/// Like [`load`] but from text, with the environment supplied by the caller so tests never
/// touch the process environment.
pub fn parse_str(
    text: &str,
    source: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let mut root = DeTable::parse(text)
        .map_err(|e| ConfigError::from_located(error::from_toml(&e, None, text), text, source))?;
    let mut from_env = Vec::new();
    // Without a `$` anywhere there is nothing to interpolate (a generated fleet file, say):
    // the walk builds a key path for every value, a tenth of a 10,000-connector parse.
    let (missing, alerts_missing) = if text.contains('$') {
        (
            interp::interpolate(root.get_mut(), env, &mut from_env)
                .map_err(|loc| ConfigError::from_located(loc, text, source))?,
            interp::interpolate_alerts(root.get_mut(), env, &mut from_env)
                .map_err(|loc| ConfigError::from_located(loc, text, source))?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    // From here on a message may quote a value that came from the environment.
    let redact = redact::Redact::new(&from_env);
    let located = |loc| {
        let mut e = ConfigError::from_located(loc, text, source);
        e.message = redact.scrub(&e.message);
        // A secret written into the file itself (not through `${VAR}`) is still a secret: an
        // error about it says what is wrong, never what the value is.
        if e.key.as_deref().is_some_and(redact::names_a_secret) {
            e.message = redact::hide_quoted(&e.message);
        }
        e
    };

    // The deserializer consumes its tree; the checks after it parse the text again only to
    // locate an error they found (a copy of the tree was a tenth of a 10,000-connector load).
    let tree = Doc::new(text);
    let mut config = Config::deserialize(toml::de::Deserializer::from(root))
        .map_err(|e| located(error::from_toml(&e, Some(tree.get()), text)))?;

    for (connector, (missing, at)) in config.connectors.iter_mut().zip(missing) {
        connector.missing_env_at = at.map(|loc| {
            let mut e = ConfigError::from_located(loc, text, source);
            e.message = format!(
                "environment variable `{}` is not set",
                missing.first().map(String::as_str).unwrap_or_default()
            );
            e.to_string()
        });
        connector.missing_env = missing;
    }
    for (channel, missing) in config.alerts.iter_mut().zip(alerts_missing) {
        channel.missing_env = missing;
    }
    validate::validate(&config, &tree, text).map_err(located)?;
    alerts::validate(&config, &tree).map_err(located)?;
    keys::load(&mut config, &tree, source).map_err(located)?;
    config.source = source.map(Path::to_owned);
    Ok(config)
}

/// The parsed document, for locating errors: parsed on first use. Spans are the same before
/// and after `${VAR}` interpolation, which is all locating reads.
pub(crate) struct Doc<'t> {
    text: &'t str,
    tree: std::cell::OnceCell<DeTable<'t>>,
}

impl<'t> Doc<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            text,
            tree: std::cell::OnceCell::new(),
        }
    }

    pub(crate) fn get(&self) -> &DeTable<'t> {
        // The text parsed once already; an empty tree only loses an error's line number.
        self.tree.get_or_init(|| {
            DeTable::parse(self.text)
                .map(|t| t.into_inner())
                .unwrap_or_default()
        })
    }
}

/// An error about `key` (dotted: "console.theme") of the file at `path`, located like the
/// loader's own. For checks that need more than the file, such as a theme on disk, which only
/// `config check` makes: a daemon must not refuse to start over the console's colours.
pub fn error_at(path: &Path, key: &str, message: String) -> ConfigError {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let at = locate::KeyPath::key(key);
    match DeTable::parse(&text) {
        Ok(root) => {
            let loc = locate::Located::at(root.get_ref(), at.clone(), &at, message);
            ConfigError::from_located(loc, &text, Some(path))
        }
        Err(_) => ConfigError {
            file: Some(path.to_owned()),
            line: None,
            column: None,
            key: Some(key.to_owned()),
            message,
        },
    }
}

/// `<platform config dir>/switchboard/config.toml` (e.g. `~/.config/switchboard/config.toml`
/// on Linux), or `./config.toml` when no home directory can be determined.
pub fn default_config_path() -> PathBuf {
    directories::ProjectDirs::from("", "", "switchboard")
        .map(|d| d.config_dir().join("config.toml"))
        .unwrap_or_else(|| PathBuf::from("config.toml"))
}
