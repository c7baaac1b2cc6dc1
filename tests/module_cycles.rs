//! No import cycle between the top-level modules of `src/`. A cycle means two modules can only
//! be understood (and changed) together, and it is how layering rots: `engine` imports
//! `scheduler` which imports `engine`. The graph is read from the source text: every
//! `crate::X` path (in `use` lines and inline, `#[cfg(test)]` files included) in `src/M.rs` or
//! `src/M/**` is an edge `M -> X`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

#[path = "support/imports.rs"]
mod imports;

use imports::{rust_files, targets};

/// Where each edge was first seen, so a failure points at a line to change.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

/// The top-level module a file under `src/` belongs to; `None` for the crate root files.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(src, f)).collect();
    let mut graph = Graph::new();
    for file in &files {
        let Some(from) = module_of(src, file) else {
            continue;
        };
        let text = fs::read_to_string(file).unwrap_or_default();
        for (line, to) in targets(&text) {
            if to != from && modules.contains(&to) {
                let shown = file.strip_prefix(src).unwrap_or(file).display().to_string();
                graph
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert(format!("src/{shown}:{line}"));
            }
        }
    }
    graph
}

/// Strongly connected components with more than one module (Tarjan, recursive: the graph has
/// a few dozen nodes).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        w.on_stack.insert(v);
        let graph = w.graph;
        for to in graph.get(v).into_iter().flat_map(|e| e.keys()) {
            let to = to.as_str();
            if !w.index.contains_key(to) {
                visit(w, to);
                let low = w.low[v].min(w.low[to]);
                w.low.insert(v, low);
            } else if w.on_stack.contains(to) {
                let low = w.low[v].min(w.index[to]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = Vec::new();
            while let Some(top) = w.stack.pop() {
                w.on_stack.remove(top);
                component.push(top.to_string());
                if top == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                w.found.push(component);
            }
        }
    }
    let mut w = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !w.index.contains_key(v.as_str()) {
            visit(&mut w, v);
        }
    }
    w.found
}

#[test]
fn top_level_modules_import_each_other_one_way_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    assert!(
        graph.len() > 5,
        "read too few modules from {}: {graph:?}",
        src.display()
    );
    let found = cycles(&graph);
    let mut report = String::new();
    for component in &found {
        report.push_str(&format!("cycle among {}:\n", component.join(", ")));
        for from in component {
            for (to, at) in graph.get(from).into_iter().flatten() {
                if component.contains(to) {
                    report.push_str(&format!("  {from} -> {to}  (first at {at})\n"));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "import cycles between top-level modules:\n{report}"
    );
}

#[test]
fn the_reader_sees_grouped_and_inline_paths_and_skips_comments() {
    let text = "use crate::{auth::Broker, store::{Store, X}};\n\
                let x = crate::mcp::call(); // crate::tui in a comment\n\
                use foo_crate::bar;\n\
                use crate::{\n    domain,\n    net::read_capped,\n};\n";
    let names: Vec<String> = targets(text).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["auth", "store", "mcp", "domain", "net"]);
}

#[test]
fn a_cycle_is_found_and_a_chain_is_not() {
    let edge = |pairs: &[(&str, &str)]| -> Graph {
        let mut g = Graph::new();
        for (a, b) in pairs {
            g.entry(a.to_string())
                .or_default()
                .insert(b.to_string(), String::new());
        }
        g
    };
    assert!(cycles(&edge(&[("a", "b"), ("b", "c")])).is_empty());
    assert_eq!(
        cycles(&edge(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])),
        vec![vec!["a".to_string(), "b".into(), "c".into()]]
    );
}
