//! `classify` and `toolkit` sit under everything that uses them: `probe`, `mcp`, `auth` and
//! `net` all classify failures through `classify`, and the console, the CLI and the engine all
//! use `toolkit`'s pure helpers. Each may import only the plain modules listed here; one
//! import of `auth`, `mcp`, `store` or the like would make every user depend on it (and would
//! bring back the cycles the split removed: `mcp -> probe -> mcp`, `auth -> net -> auth`).

use std::collections::BTreeSet;
use std::path::Path;

#[path = "support/imports.rs"]
mod imports;

use imports::{rust_files, targets};

/// Each leaf module and the top-level modules it may name.
const LEAVES: &[(&str, &[&str])] = &[("classify", &["domain"]), ("toolkit", &["domain", "text"])];

/// The top-level modules named through `crate::` in `code`: `crate::x::...`, and each first
/// name of a group (`crate::{x::A, y}`), comments left out.
fn named(code: &str) -> BTreeSet<String> {
    targets(code).into_iter().map(|(_, name)| name).collect()
}

#[test]
fn the_parser_sees_paths_groups_and_skips_comments() {
    let code = "use crate::domain::Failure;\nuse crate::{text::printable,\n  store::Store};\n// crate::auth in a comment\nlet x = crate::net::MAX;\nlet y = foo_crate::mcp::X;";
    let want: BTreeSet<String> = ["domain", "net", "store", "text"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(named(code), want);
}

#[test]
fn leaf_modules_import_only_plain_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for (leaf, allowed) in LEAVES {
        let mut files = Vec::new();
        let dir = src.join(leaf);
        rust_files(&dir, &mut files);
        let single = src.join(format!("{leaf}.rs"));
        if single.is_file() {
            files.push(single);
        }
        assert!(!files.is_empty(), "src/{leaf} is missing: update LEAVES");
        for file in files {
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
            for name in named(&text) {
                if name != *leaf && !allowed.contains(&name.as_str()) {
                    let rel = file.strip_prefix(&src).unwrap_or(&file);
                    wrong.push(format!("src/{} imports crate::{name}", rel.display()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "leaf modules import what they must not (see LEAVES for what each may):\n{}",
        wrong.join("\n")
    );
}
