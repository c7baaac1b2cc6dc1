//! The engine is the only door: front-ends (`src/commands/`, `src/tui/`) send `Command`s, read
//! `Snapshot`s and subscribe to `Event`s, and never reach past the engine into token flows
//! (`crate::auth`), MCP sessions (`crate::mcp`), the store, probes or the scheduler. This test
//! reads every `crate::...` path the front-ends name (in `use` lines and inline) and fails on
//! one into those modules that is not a pure helper on the allow-list below.

use std::path::Path;

#[path = "support/imports.rs"]
mod imports;

use imports::rust_files;

/// Modules a front-end must not name: each does I/O (network, disk, tokens) behind the engine.
const BEHIND_THE_ENGINE: &[&str] = &["auth", "mcp", "store", "probe", "scheduler", "engine::core"];

/// Pure items a front-end may use from those modules: no I/O, no state, no tokens. Each has
/// its reason. A path is allowed when it starts with an entry.
const ALLOWED: &[(&str, &str)] = &[
    // Empty: pure tool helpers and the data a tool call returns live in `crate::toolkit`, the
    // console's elicitation travels as engine Events, and what front-ends need from these
    // modules (e.g. `Opener`, `Revoked`, `Elicitor`) the engine re-exports as plain data.
    // An entry is `("module::item", "why it is pure")`.
];

const FRONT_ENDS: &[&str] = &["src/commands", "src/tui", "src/metrics", "src/alert"];

/// The code without comments (`//` to the end of a line; doc comments included) and without
/// string literals, so prose that mentions a module is not an import.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_string = false,
                '\n' => out.push('\n'),
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            // A char literal such as '"' must not open a string.
            '\'' => {
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with("\"'") || rest.starts_with("\\\"'") {
                    for _ in 0..rest.find('\'').map_or(0, |i| i + 1) {
                        chars.next();
                    }
                } else {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every path that follows `crate::`, with `{a, b::c}` groups flattened: `crate::mcp::{x, y}`
/// gives `mcp::x` and `mcp::y`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        // `switchboard_crate::` or `foo_crate::` is another name.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let (found, used) = parse_tree(rest);
        paths.extend(found);
        rest = &rest[used..];
    }
    paths
}

/// Parses `a::b::{c, d::e}` at the start of `s`; returns the flattened paths and how much of
/// `s` they took.
fn parse_tree(s: &str) -> (Vec<String>, usize) {
    let mut prefix: Vec<String> = Vec::new();
    let mut i = 0;
    let bytes = s.as_bytes();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'{' {
            i += 1;
            let mut out = Vec::new();
            loop {
                let (inner, used) = parse_tree(&s[i..]);
                i += used;
                for p in inner {
                    out.push(join(&prefix, &p));
                }
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                match bytes.get(i) {
                    Some(b',') => i += 1,
                    Some(b'}') => {
                        i += 1;
                        break;
                    }
                    _ => break,
                }
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if bytes.get(i) == Some(&b'}') {
                    i += 1;
                    break;
                }
            }
            return (out, i);
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if start == i {
            break;
        }
        prefix.push(s[start..i].to_string());
        if s[i..].starts_with("::") {
            i += 2;
        } else {
            break;
        }
    }
    let path = prefix.join("::");
    let paths = if path.is_empty() {
        Vec::new()
    } else {
        vec![path]
    };
    (paths, i)
}

fn join(prefix: &[String], p: &str) -> String {
    let p = p.strip_suffix("::self").unwrap_or(p);
    if p == "self" || p.is_empty() {
        return prefix.join("::");
    }
    if prefix.is_empty() {
        p.to_string()
    } else {
        format!("{}::{p}", prefix.join("::"))
    }
}

fn behind_the_engine(path: &str) -> bool {
    BEHIND_THE_ENGINE
        .iter()
        .any(|m| path == *m || path.starts_with(&format!("{m}::")))
}

fn allowed(path: &str) -> bool {
    ALLOWED
        .iter()
        .any(|(a, _)| path == *a || path.starts_with(&format!("{a}::")))
}

/// Every forbidden path in the front-ends, as `file: crate::path`.
fn violations(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for dir in FRONT_ENDS {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(
        !files.is_empty(),
        "no front-end sources under {}",
        root.display()
    );
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read a source file");
        for path in crate_paths(&code_only(&text)) {
            if behind_the_engine(&path) && !allowed(&path) {
                let shown = file.strip_prefix(root).unwrap_or(&file).display();
                found.push(format!("{shown}: crate::{path}"));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn front_ends_go_through_the_engine() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = violations(root);
    assert!(
        found.is_empty(),
        "front-ends reach past the engine (send a Command, read the Snapshot, or add a pure \
         item to the allow-list with its reason):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn paths_are_read_from_use_trees_and_inline_code() {
    let code = code_only(
        "use crate::auth::flows::Opener;\n\
         use crate::{domain::Actor, mcp::{self, elicit::ConsoleAsks}, toolkit::render};\n\
         // crate::store::Store in a comment is prose\n\
         let s = \"crate::probe in a string\";\n\
         let c = '\"'; let x = crate::store::resolve_data_dir(None);\n",
    );
    let paths = crate_paths(&code);
    assert_eq!(
        paths,
        [
            "auth::flows::Opener",
            "domain::Actor",
            "mcp",
            "mcp::elicit::ConsoleAsks",
            "toolkit::render",
            "store::resolve_data_dir"
        ]
    );
    let forbidden: Vec<_> = paths
        .iter()
        .filter(|p| behind_the_engine(p) && !allowed(p))
        .collect();
    assert_eq!(
        forbidden,
        [
            "auth::flows::Opener",
            "mcp",
            "mcp::elicit::ConsoleAsks",
            "store::resolve_data_dir"
        ]
    );
}
