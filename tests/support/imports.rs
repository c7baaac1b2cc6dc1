//! Reading a crate's imports from its source text, for the tests that hold the module layering
//! (`architecture`, `module_cycles`, `leaf_modules`): every `.rs` file under a directory, and
//! every top-level module a file names through `crate::`.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

pub fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

pub fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level names a line reaches through `crate::`, including each name of a group
/// (`use crate::{a::X, b};`). A group spanning lines is read from the rest of the text.
pub fn targets(text: &str) -> Vec<(usize, String)> {
    let code: Vec<&str> = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect();
    let joined = code.join("\n");
    let mut found = Vec::new();
    let mut rest = joined.as_str();
    let mut offset = 0;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let line = joined[..offset + at].matches('\n').count() + 1;
        let preceded = joined[..offset + at]
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !preceded {
            if let Some(group) = after.strip_prefix('{') {
                let mut depth = 0usize;
                let mut item_start = true;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        c if c.is_whitespace() => {}
                        _ if item_start && depth == 0 => {
                            item_start = false;
                            let name = ident(&group[i..]);
                            if !name.is_empty() {
                                found.push((line, name.to_string()));
                            }
                        }
                        _ => {}
                    }
                }
            } else {
                let name = ident(after);
                if !name.is_empty() {
                    found.push((line, name.to_string()));
                }
            }
        }
        offset += at + "crate::".len();
        rest = &joined[offset..];
    }
    found
}
