//! Mapping between key paths (`connectors[2].schedule.probe`) and byte spans in the document,
//! plus the byte-offset → line:column conversion. toml reports spans but not key paths, and our
//! semantic checks know key paths but not spans; the spanned `DeTable` bridges both ways.

use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    /// `connectors[i]` followed by dotted keys, the shape every connector check needs.
    pub fn connector(i: usize, rest: &str) -> Self {
        let mut segs = vec![Seg::Key("connectors".into()), Seg::Index(i)];
        segs.extend(
            rest.split('.')
                .filter(|k| !k.is_empty())
                .map(|k| Seg::Key(k.into())),
        );
        Self(segs)
    }

    pub fn key(k: &str) -> Self {
        Self(k.split('.').map(|k| Seg::Key(k.into())).collect())
    }

    pub fn push(&mut self, seg: Seg) {
        self.0.push(seg);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                    if bare {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// An error before it is tied to a file: where (span and/or key path) and what.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    pub span: Option<Range<usize>>,
    pub path: KeyPath,
    pub message: String,
}

impl Located {
    /// An error about `path`, shown at the span of `anchor` (or its nearest existing ancestor):
    /// a missing key has no span of its own, so we point at the key that made it required.
    pub fn at(root: &DeTable<'_>, path: KeyPath, anchor: &KeyPath, message: String) -> Self {
        Self {
            span: span_of(root, anchor),
            path,
            message,
        }
    }
}

/// The span of the value at `path`, or of the deepest ancestor that exists.
pub(crate) fn span_of(root: &DeTable<'_>, path: &KeyPath) -> Option<Range<usize>> {
    let mut best = None;
    let mut table = Some(root);
    let mut array: Option<&[toml::Spanned<DeValue<'_>>]> = None;
    for seg in &path.0 {
        let value = match (seg, table, array) {
            (Seg::Key(k), Some(t), _) => t.get(k.as_str()),
            (Seg::Index(i), _, Some(a)) => a.get(*i),
            _ => None,
        };
        let Some(value) = value else { break };
        best = Some(value.span());
        table = None;
        array = None;
        match value.get_ref() {
            DeValue::Table(t) => table = Some(t),
            DeValue::Array(a) => array = Some(a),
            _ => {}
        }
    }
    best
}

/// The innermost key path whose key or value span contains `offset`. Tables opened by a
/// `[header]` only span their header, so every branch is searched, not just containing ones.
pub(crate) fn path_at(root: &DeTable<'_>, offset: usize) -> KeyPath {
    let mut best = KeyPath::default();
    let mut current = KeyPath::default();
    search_table(root, offset, &mut current, &mut best);
    best
}

/// The path of the last key that starts before `offset`: for a duplicate key, which the
/// recovered tree does not contain, this is its earlier sibling.
pub(crate) fn path_before(root: &DeTable<'_>, offset: usize) -> KeyPath {
    fn walk(t: &DeTable<'_>, offset: usize, cur: &mut KeyPath, best: &mut (usize, KeyPath)) {
        for (k, v) in t.iter() {
            cur.push(Seg::Key(k.get_ref().to_string()));
            let start = k.span().start;
            if start < offset && (best.1.is_empty() || start >= best.0) {
                *best = (start, cur.clone());
            }
            match v.get_ref() {
                DeValue::Table(t) => walk(t, offset, cur, best),
                DeValue::Array(a) => {
                    for (i, item) in a.iter().enumerate() {
                        if let DeValue::Table(t) = item.get_ref() {
                            cur.push(Seg::Index(i));
                            walk(t, offset, cur, best);
                            cur.0.pop();
                        }
                    }
                }
                _ => {}
            }
            cur.0.pop();
        }
    }
    let mut best = (0, KeyPath::default());
    walk(root, offset, &mut KeyPath::default(), &mut best);
    best.1
}

fn hit(span: Range<usize>, offset: usize) -> bool {
    span.contains(&offset) || (span.is_empty() && span.start == offset)
}

fn search_table(t: &DeTable<'_>, offset: usize, current: &mut KeyPath, best: &mut KeyPath) {
    for (k, v) in t.iter() {
        current.push(Seg::Key(k.get_ref().to_string()));
        if (hit(k.span(), offset) || hit(v.span(), offset)) && current.0.len() > best.0.len() {
            *best = current.clone();
        }
        search_value(v.get_ref(), offset, current, best);
        current.0.pop();
    }
}

fn search_value(v: &DeValue<'_>, offset: usize, current: &mut KeyPath, best: &mut KeyPath) {
    match v {
        DeValue::Table(t) => search_table(t, offset, current, best),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                current.push(Seg::Index(i));
                if hit(item.span(), offset) && current.0.len() > best.0.len() {
                    *best = current.clone();
                }
                search_value(item.get_ref(), offset, current, best);
                current.0.pop();
            }
        }
        _ => {}
    }
}

/// 1-based line and column (in characters, as editors count) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The closest candidate to a misspelt word, if it is close enough to be a plausible typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: Levenshtein plus adjacent swaps, the commonest typo
/// (`clinet_id`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_chars_from_one() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_col(text, 11), (2, 5));
        assert_eq!(line_col(text, 999), (3, 1));
    }

    #[test]
    fn suggests_transpositions_and_rejects_strangers() {
        let keys = ["client_id", "client_secret", "scopes"];
        assert_eq!(closest("clinet_id", keys), Some("client_id"));
        assert_eq!(closest("scope", keys), Some("scopes"));
        assert_eq!(closest("zzzzzz", keys), None);
    }

    #[test]
    fn key_path_display_quotes_odd_keys() {
        let mut p = KeyPath::connector(2, "mcp.env");
        p.push(Seg::Key("A.B".into()));
        assert_eq!(p.to_string(), "connectors[2].mcp.env.\"A.B\"");
    }
}
