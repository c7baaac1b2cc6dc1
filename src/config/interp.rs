//! `${VAR}` interpolation, done on the spanned document before deserialization so every value
//! keeps its original span for error reporting and no typed field can be forgotten.

use toml::de::{DeTable, DeValue};

use super::locate::{KeyPath, Located, Seg};

pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A connector's unset variables, in document order, and where the first one is used.
pub(crate) type ConnectorMissing = (Vec<String>, Option<Located>);

/// A string value that took text from the environment, kept so that no error message shows
/// what came in (`redact`): such values are usually secrets.
#[derive(Debug, Clone)]
pub(crate) struct FromEnv {
    /// The value as the file writes it, e.g. `Bearer ${TOKEN}`.
    pub raw: String,
    /// The value after interpolation.
    pub expanded: String,
    /// Each variable used and the text it supplied.
    pub values: Vec<(String, String)>,
}

/// Interpolates `[console]` (unset variables are errors: there is no fleet to keep running)
/// and every connector (unset variables are collected, one list per connector, so that one
/// missing secret disables one connector rather than the whole console).
pub(crate) fn interpolate(
    root: &mut DeTable<'_>,
    env: Env<'_>,
    from_env: &mut Vec<FromEnv>,
) -> Result<Vec<ConnectorMissing>, Located> {
    let mut w = Walk { env, from_env };
    if let Some(console) = root.get_mut("console") {
        let mut missing = Vec::new();
        let mut path = KeyPath::key("console");
        let mut first_missing = None;
        w.walk(console, &mut path, &mut missing, &mut first_missing)?;
        if let (Some(var), Some((span, path))) = (missing.first(), first_missing) {
            return Err(Located {
                span: Some(span),
                path,
                message: format!("environment variable `{var}` is not set"),
            });
        }
    }
    let mut per_connector = Vec::new();
    if let Some(connectors) = root.get_mut("connectors")
        && let DeValue::Array(items) = connectors.get_mut()
    {
        for (i, item) in items.iter_mut().enumerate() {
            let mut missing = Vec::new();
            let mut path = KeyPath::connector(i, "");
            let mut first = None;
            w.walk(item, &mut path, &mut missing, &mut first)?;
            // Where the first unset variable is used, so a warning can point at it.
            let at = first.map(|(span, path)| Located {
                span: Some(span),
                path,
                message: String::new(),
            });
            per_connector.push((missing, at));
        }
    }
    Ok(per_connector)
}

/// Interpolates every `[[alerts]]` channel. An unset variable turns its channel off (listed per
/// channel, in document order) rather than stopping the console or the daemon over a pager key.
pub(crate) fn interpolate_alerts(
    root: &mut DeTable<'_>,
    env: Env<'_>,
    from_env: &mut Vec<FromEnv>,
) -> Result<Vec<Vec<String>>, Located> {
    let mut w = Walk { env, from_env };
    let mut per_channel = Vec::new();
    if let Some(alerts) = root.get_mut("alerts")
        && let DeValue::Array(items) = alerts.get_mut()
    {
        for (i, item) in items.iter_mut().enumerate() {
            let mut missing = Vec::new();
            let mut path = KeyPath(vec![Seg::Key("alerts".into()), Seg::Index(i)]);
            w.walk(item, &mut path, &mut missing, &mut None)?;
            per_channel.push(missing);
        }
    }
    Ok(per_channel)
}

type FirstMissing = Option<(std::ops::Range<usize>, KeyPath)>;

struct Walk<'e, 'f> {
    env: Env<'e>,
    from_env: &'f mut Vec<FromEnv>,
}

impl Walk<'_, '_> {
    fn walk(
        &mut self,
        value: &mut toml::Spanned<DeValue<'_>>,
        path: &mut KeyPath,
        missing: &mut Vec<String>,
        first_missing: &mut FirstMissing,
    ) -> Result<(), Located> {
        let span = value.span();
        match value.get_mut() {
            DeValue::String(s) => {
                let before = missing.len();
                let mut used = Vec::new();
                let expanded =
                    expand_into(s, self.env, missing, &mut used).map_err(|message| Located {
                        span: Some(span.clone()),
                        path: path.clone(),
                        message,
                    })?;
                if missing.len() > before && first_missing.is_none() {
                    *first_missing = Some((span, path.clone()));
                }
                if let Some(expanded) = expanded {
                    if !used.is_empty() {
                        self.from_env.push(FromEnv {
                            raw: s.to_string(),
                            expanded: expanded.clone(),
                            values: used,
                        });
                    }
                    *s = expanded.into();
                }
            }
            DeValue::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    path.push(Seg::Index(i));
                    self.walk(item, path, missing, first_missing)?;
                    path.0.pop();
                }
            }
            DeValue::Table(table) => {
                // The map is sorted by key; walk in document order so `missing_env` reads the
                // way the file does.
                let mut entries: Vec<_> = table.iter_mut().collect();
                entries.sort_by_key(|(k, _)| k.span().start);
                for (k, v) in entries {
                    path.push(Seg::Key(k.get_ref().to_string()));
                    self.walk(v, path, missing, first_missing)?;
                    path.0.pop();
                }
            }
            DeValue::Integer(_)
            | DeValue::Float(_)
            | DeValue::Boolean(_)
            | DeValue::Datetime(_) => {}
        }
        Ok(())
    }
}

/// Expands one string. `Ok(None)` means unchanged (the common case, no allocation). Unset
/// variables are appended to `missing` (once each) and left as `${NAME}` in the output.
#[cfg(test)]
pub(crate) fn expand(
    s: &str,
    env: Env<'_>,
    missing: &mut Vec<String>,
) -> Result<Option<String>, String> {
    expand_into(s, env, missing, &mut Vec::new())
}

/// [`expand`], also appending each variable that was set, with its value, to `used`.
fn expand_into(
    s: &str,
    env: Env<'_>,
    missing: &mut Vec<String>,
    used: &mut Vec<(String, String)>,
) -> Result<Option<String>, String> {
    if !s.contains('$') {
        return Ok(None);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                return Err(format!(
                    "unterminated `${{` in \"{s}\": write ${{NAME}}, or $${{ for a literal `${{`"
                ));
            };
            let name = &after[..end];
            check_name(name, s)?;
            match env(name) {
                Some(value) => {
                    out.push_str(&value);
                    used.push((name.to_owned(), value));
                }
                None => {
                    if !missing.iter().any(|m| m == name) {
                        missing.push(name.to_owned());
                    }
                    out.push_str(&tail[..end + 3]);
                }
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(Some(out))
}

fn check_name(name: &str, s: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!(
            "empty variable name `${{}}` in \"{s}\": write ${{NAME}}"
        ));
    }
    let valid = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return Err(format!(
            "invalid variable name `{name}` in \"{s}\": use letters, digits and '_', not starting with a digit"
        ));
    }
    Ok(())
}
