//! Keeps what came from the environment out of config errors. `${VAR}` is how secrets reach
//! the config (client secrets, bearer tokens, URLs with keys in them), and serde's messages
//! echo the value they choke on (`invalid type: string "…", expected a sequence`), as do
//! some of our own checks. Every error message passes through [`Redact::scrub`], which puts
//! the file's own text (`${VAR}`) back where an interpolated value would show.

use std::cmp::Reverse;

use super::interp::FromEnv;

/// Shorter values are replaced only where a message quotes them: a bare `0` or `mcp` also
/// occurs in ordinary wording ("from 0 to 65535"), and no secret is that short.
const MIN_BARE: usize = 4;

#[derive(Debug, Default)]
pub(crate) struct Redact {
    /// (what a message may contain, what to show instead), longest first so a value inside a
    /// longer one cannot leave a piece behind.
    pairs: Vec<(String, String)>,
}

impl Redact {
    pub fn new(from_env: &[FromEnv]) -> Redact {
        let mut pairs = Vec::new();
        for item in from_env {
            let (value, raw) = (&item.expanded, &item.raw);
            // serde quotes strings with Rust's `{:?}`; our checks and toml use the plain forms.
            pairs.push((format!("{value:?}"), format!("{raw:?}")));
            for q in ['"', '`', '\''] {
                pairs.push((format!("{q}{value}{q}"), format!("{q}{raw}{q}")));
            }
            if value.chars().count() >= MIN_BARE {
                pairs.push((value.clone(), raw.clone()));
            }
            for (name, value) in &item.values {
                if value.chars().count() < MIN_BARE {
                    continue;
                }
                let reference = format!("${{{name}}}");
                let debug = format!("{value:?}");
                let escaped = &debug[1..debug.len() - 1];
                if escaped != value {
                    pairs.push((escaped.to_owned(), reference.clone()));
                }
                // Messages are folded to one line before we see them ("a\nb" becomes "a; b"),
                // so each line of a multi-line value is a needle of its own.
                for piece in value.lines().map(str::trim) {
                    if piece.chars().count() >= MIN_BARE && piece != value {
                        pairs.push((piece.to_owned(), reference.clone()));
                    }
                }
                pairs.push((value.clone(), reference));
            }
        }
        pairs.retain(|(needle, _)| !needle.is_empty());
        pairs.sort_by_key(|(needle, _)| Reverse(needle.len()));
        Redact { pairs }
    }

    /// `message` with every interpolated value replaced by the text that named it. A
    /// did-you-mean suggestion for such a value goes too: "close to `oauth2`" is a hint about
    /// a value that was not to be shown.
    pub fn scrub(&self, message: &str) -> String {
        let mut out = message.to_owned();
        let mut hit = false;
        for (needle, shown) in &self.pairs {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), shown);
                hit = true;
            }
        }
        if hit && let Some(at) = out.find("; did you mean `") {
            let rest = &out[at..];
            let end = rest.find("`?").map_or(rest.len(), |i| i + 2);
            out.replace_range(at..at + end, "");
        }
        out
    }
}

/// Whether a config key path ends in a key that holds a secret.
pub(crate) fn names_a_secret(path: &str) -> bool {
    let last = path.rsplit(['.', '[']).next().unwrap_or(path);
    // An alert channel's URL may be a Slack webhook URL, which is its own credential.
    (path.starts_with("alerts[") && last == "url")
        || matches!(
            last,
            "client_secret" | "token" | "password" | "secret" | "private_key" | "routing_key"
        )
}

/// `message` with every quoted piece (`` `…` ``, `"…"`) replaced by `…`: serde quotes the value
/// it choked on.
pub(crate) fn hide_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(['`', '"']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        let after = &rest[start + 1..];
        match after.find(quote) {
            Some(end) => {
                out.push_str(&rest[..start]);
                out.push(quote);
                out.push('…');
                out.push(quote);
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(raw: &str, name: &str, value: &str) -> FromEnv {
        FromEnv {
            raw: raw.into(),
            expanded: raw.replace(&format!("${{{name}}}"), value),
            values: vec![(name.into(), value.into())],
        }
    }

    #[test]
    fn puts_the_reference_back_in_every_quoting() {
        let r = Redact::new(&[from("${S}", "S", "hun\"ter2")]);
        assert_eq!(
            r.scrub(r#"invalid type: string "hun\"ter2", expected a sequence"#),
            r#"invalid type: string "${S}", expected a sequence"#
        );
        assert_eq!(
            r.scrub("unknown variant `hun\"ter2`, expected `a`; did you mean `a`?"),
            "unknown variant `${S}`, expected `a`"
        );
        let part = Redact::new(&[from("Bearer ${T}", "T", "abcdefgh")]);
        assert_eq!(part.scrub("saw abcdefgh here"), "saw ${T} here");
        assert_eq!(
            part.scrub("\"Bearer abcdefgh\" is bad"),
            "\"Bearer ${T}\" is bad"
        );
    }

    #[test]
    fn short_values_only_where_quoted() {
        let r = Redact::new(&[from("${P}", "P", "0")]);
        assert_eq!(
            r.scrub("invalid type: string \"0\", expected an integer from 0 to 65535"),
            "invalid type: string \"${P}\", expected an integer from 0 to 65535"
        );
    }

    #[test]
    fn literal_secrets_are_hidden_in_errors_about_their_keys() {
        assert!(names_a_secret("connectors[0].auth.client_secret"));
        assert!(names_a_secret("connectors[2].auth.token"));
        assert!(!names_a_secret("connectors[0].auth.client_id"));
        assert_eq!(
            hide_quoted("invalid type: integer `98765432`, expected a string"),
            "invalid type: integer `…`, expected a string"
        );
        assert_eq!(
            hide_quoted(r#"invalid value "hunter2" and "x""#),
            r#"invalid value "…" and "…""#
        );
        assert_eq!(hide_quoted("no quotes"), "no quotes");
        assert_eq!(hide_quoted("unbalanced `quote"), "unbalanced `quote");
    }
}
