//! What makes two loads of a config the same: its text and the environment variables it
//! names. A one-shot `status` compares its own with a running daemon's before it takes the
//! daemon's word for the fleet (`commands/status/ask.rs`).

use sha2::{Digest, Sha256};

/// Hex SHA-256 over the text and, for every `${NAME}` the text holds (comments included: a
/// superset is only ever a needless mismatch), the name and its value or its absence. `None`
/// when the text could name a variable the scan cannot see (a `\u` escape can spell `$`), so
/// that no two loads are taken for the same on a guess.
pub fn fingerprint(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if text.contains("\\u") || text.contains("\\U") {
        return None;
    }
    let mut hash = Sha256::new();
    hash.update((text.len() as u64).to_le_bytes());
    hash.update(text.as_bytes());
    let mut names: Vec<&str> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        let after = &rest[at + 2..];
        let end = after.find('}').unwrap_or(after.len());
        names.push(&after[..end]);
        rest = &after[end..];
    }
    names.sort_unstable();
    names.dedup();
    for name in names {
        // Lengths first, so that no two different lists hash alike.
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name.as_bytes());
        match env(name) {
            Some(value) => {
                hash.update([1]);
                hash.update((value.len() as u64).to_le_bytes());
                hash.update(value.as_bytes());
            }
            None => hash.update([0]),
        }
    }
    Some(crate::text::hex(&hash.finalize()))
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_same_text_and_variables_match_and_anything_else_does_not() {
        let text = "[[connectors]]\nid = \"a\"\ntoken = \"${TOKEN}\"\n";
        let a = fingerprint(text, &env(&[("TOKEN", "x"), ("HOME", "/a")]));
        // A variable the text does not name changes nothing.
        let b = fingerprint(text, &env(&[("TOKEN", "x"), ("HOME", "/b")]));
        assert!(a.is_some());
        assert_eq!(a, b);
        assert_ne!(a, fingerprint(text, &env(&[("TOKEN", "y")])));
        assert_ne!(a, fingerprint(text, &env(&[])));
        let edited = text.replace("\"a\"", "\"b\"");
        assert_ne!(a, fingerprint(&edited, &env(&[("TOKEN", "x")])));
        assert_eq!(a.as_deref().map(str::len), Some(64));
    }

    #[test]
    fn an_unset_variable_differs_from_an_empty_one() {
        let text = "x = \"${A}\"";
        assert_ne!(
            fingerprint(text, &env(&[("A", "")])),
            fingerprint(text, &env(&[]))
        );
    }

    #[test]
    fn a_text_whose_variables_the_scan_cannot_see_has_none() {
        assert_eq!(fingerprint("x = \"\\u0024{A}\"", &env(&[])), None);
        // An unterminated `${` is the loader's error to report; the scan only must not stop.
        assert!(fingerprint("x = \"${A\"", &env(&[])).is_some());
    }
}
