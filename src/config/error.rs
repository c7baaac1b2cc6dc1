//! `ConfigError`: one line naming file, line, column, key path and what was expected, because
//! the person reading it may be on call at 3 a.m. over SSH.

use std::fmt;
use std::path::{Path, PathBuf};

use toml::de::DeTable;

use super::locate::{KeyPath, Located, Seg, closest, line_col, path_at, path_before};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Key path such as `connectors[2].schedule.probe`.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    /// `config.toml:12:7: connectors[1].auth.type: unknown variant ...`; parts that are not
    /// known are left out rather than printed as placeholders.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut prefix = Vec::new();
        if let Some(file) = &self.file {
            prefix.push(file.display().to_string());
        }
        if let Some(line) = self.line {
            prefix.push(line.to_string());
            if let Some(column) = self.column {
                prefix.push(column.to_string());
            }
        }
        if !prefix.is_empty() {
            write!(f, "{}: ", prefix.join(":"))?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub(crate) fn io(file: &Path, err: &std::io::Error) -> Self {
        Self {
            file: Some(file.to_owned()),
            line: None,
            column: None,
            key: None,
            message: format!("cannot read config file: {err}"),
        }
    }

    pub(crate) fn from_located(loc: Located, text: &str, file: Option<&Path>) -> Self {
        let (line, column) = match &loc.span {
            Some(span) => {
                let (l, c) = line_col(text, span.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        Self {
            file: file.map(Path::to_owned),
            line,
            column,
            key: (!loc.path.is_empty()).then(|| loc.path.to_string()),
            message: one_line(&loc.message),
        }
    }
}

/// Converts a toml parse or deserialize error, recovering the key path from its span.
/// `root` is the parsed document when there is one; for syntax errors a best-effort recovered
/// parse still usually tells which key was being written.
pub(crate) fn from_toml(err: &toml::de::Error, root: Option<&DeTable<'_>>, text: &str) -> Located {
    let path = match (err.span(), root) {
        (Some(span), Some(root)) => path_at(root, span.start),
        (Some(span), None) => {
            let (recovered, _) = DeTable::parse_recoverable(text);
            let root = recovered.get_ref();
            let exact = path_at(root, span.start);
            match text.get(span.clone()) {
                Some(key) if exact.is_empty() && err.message() == "duplicate key" => {
                    let mut path = path_before(root, span.start);
                    path.0.pop();
                    path.push(Seg::Key(key.trim_matches(['"', '\'']).to_owned()));
                    path
                }
                _ => exact,
            }
        }
        (None, _) => KeyPath::default(),
    };
    Located {
        span: err.span(),
        path,
        message: improve(&one_line(err.message())),
    }
}

/// Collapses a possibly multi-line message into one line.
fn one_line(message: &str) -> String {
    let parts: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    parts.join("; ")
}

/// Adds "did you mean" to serde's unknown key and unknown variant messages; the rest of
/// serde's wording is kept because it already names what was expected.
fn improve(message: &str) -> String {
    for prefix in ["unknown field `", "unknown variant `"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let ticked: Vec<&str> = rest.split('`').collect();
            // ticked[0] is the bad word; odd indices after it are the expected candidates.
            let bad = ticked.first().copied().unwrap_or_default();
            let candidates = ticked.iter().skip(2).step_by(2).copied();
            if let Some(s) = closest(bad, candidates) {
                return format!("{message}; did you mean `{s}`?");
            }
        }
    }
    // serde names Rust types; a TOML user thinks in ranges.
    message.replacen("expected u16", "expected an integer from 0 to 65535", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_line_with_all_parts() {
        let e = ConfigError {
            file: Some("config.toml".into()),
            line: Some(12),
            column: Some(7),
            key: Some("connectors[1].auth.type".into()),
            message: "unknown value `oauth`".into(),
        };
        assert_eq!(
            e.to_string(),
            "config.toml:12:7: connectors[1].auth.type: unknown value `oauth`"
        );
        let bare = ConfigError {
            file: None,
            line: None,
            column: None,
            key: None,
            message: "boom".into(),
        };
        assert_eq!(bare.to_string(), "boom");
    }

    #[test]
    fn improves_serde_messages() {
        assert_eq!(
            improve("unknown field `clinet_id`, expected one of `client_id`, `scopes`"),
            "unknown field `clinet_id`, expected one of `client_id`, `scopes`; did you mean `client_id`?"
        );
        assert_eq!(
            improve("unknown variant `oauth`, expected `oauth2` or `none`"),
            "unknown variant `oauth`, expected `oauth2` or `none`; did you mean `oauth2`?"
        );
        assert_eq!(
            improve("missing field `transport`"),
            "missing field `transport`"
        );
        assert_eq!(one_line("a\n  b\n\nc"), "a; b; c");
    }
}
