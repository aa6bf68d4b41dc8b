//! The crates' module seams, read from their sources:
//! - no import cycle among the top-level modules of the runtime, the collector or the macros
//!   (module A naming `crate::b::…` while b names `crate::a::…`, directly or through others);
//! - the facade's root shows at most 30 items in its documentation (modules and the macros
//!   count), so it reads as modules, not a list, and it shows every item the runtime's root
//!   shows.
//!
//! A module's edges are the `crate::<module>` paths in its files' code (comments and test
//! modules left out: `#[cfg(test)] mod tests` to the end of a file, files of tests only).
//! Reading the text is enough here: every cross-module path in these crates is written
//! `crate::…` (rustfmt keeps `use` paths whole), and `super::` stays inside a module.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The most items the facade's root may document.
const MAX_ROOT_ITEMS: usize = 30;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments and without its trailing test module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A file holding tests only (`foo_tests.rs`, `tests.rs`, anything under a `tests/` folder).
fn is_test_file(rel: &Path) -> bool {
    rel.components().any(|c| c.as_os_str() == "tests")
        || rel
            .file_stem()
            .and_then(|s| s.to_str())
            .is_some_and(|s| s == "tests" || s.ends_with("_tests"))
}

/// The top-level modules of the crate whose sources are in `src`, each with the top-level
/// modules its code names.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        if matches!(module.as_str(), "lib" | "main") || is_test_file(rel) {
            continue;
        }
        let code = code_of(&fs::read_to_string(file).unwrap());
        let edges = graph.entry(module.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let before = code[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // e.g. `telemetry_runtime::crate::` never occurs; `mycrate::` does
            }
            let name: String = code[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != module {
                edges.insert(name);
            }
        }
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for edges in graph.values_mut() {
        edges.retain(|m| modules.contains(m));
    }
    graph
}

/// A cycle of `graph`, as the modules along it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in &graph[node] {
            if let Some(cycle) = visit(next, graph, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

fn assert_acyclic(krate: &str) {
    let graph = module_graph(&workspace().join(krate).join("src"));
    assert!(graph.len() > 5, "{krate}: modules found: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "{krate}: the modules import each other in a cycle: {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn the_runtimes_modules_import_each_other_in_no_cycle() {
    assert_acyclic("telemetry-runtime");
}

#[test]
fn the_collectors_modules_import_each_other_in_no_cycle() {
    assert_acyclic("telemetry-collector");
}

#[test]
fn the_macros_modules_import_each_other_in_no_cycle() {
    let graph = module_graph(&workspace().join("telemetry-macros/src"));
    assert_eq!(find_cycle(&graph), None, "{graph:?}");
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let edge = |a: &str, b: &str| (a.to_owned(), BTreeSet::from([b.to_owned()]));
    let graph = BTreeMap::from([edge("a", "b"), edge("b", "c"), edge("c", "a")]);
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let graph = BTreeMap::from([
        edge("a", "b"),
        edge("b", "c"),
        ("c".into(), BTreeSet::new()),
    ]);
    assert_eq!(find_cycle(&graph), None);
    let code = code_of("use crate::a; // crate::b\n#[cfg(test)]\nmod tests { use crate::c; }");
    assert!(code.contains("crate::a") && !code.contains("crate::b") && !code.contains("crate::c"));
}

/// The names a `lib.rs` documents at its root: `pub mod`s and `pub use`d names, except those
/// under `#[doc(hidden)]` or `#[cfg(doctest)]`; a glob (`pub use other::*`) is returned as
/// `*`.
fn documented_root_items(lib_rs: &str) -> Vec<String> {
    let code = code_of(lib_rs);
    let mut items = Vec::new();
    let mut hidden = false;
    let mut statement = String::new();
    let mut depth = 0usize;
    for line in code.lines() {
        let trimmed = line.trim();
        if depth == 0 && statement.is_empty() {
            if trimmed.starts_with("#[doc(hidden)]") || trimmed.starts_with("#[cfg(doctest)]") {
                hidden = true;
                continue;
            }
            if trimmed.starts_with('#') || trimmed.is_empty() {
                continue;
            }
        }
        if depth > 0 {
            depth += line.matches('{').count();
            depth -= line.matches('}').count().min(depth);
            continue;
        }
        statement.push_str(trimmed);
        statement.push(' ');
        let is_use = statement.starts_with("pub use") || statement.starts_with("use ");
        let ends_item = trimmed.ends_with(';')
            || (!is_use && (trimmed.ends_with('{') || trimmed.ends_with('}')));
        if !ends_item {
            continue;
        }
        let s = std::mem::take(&mut statement);
        if s.trim_end().ends_with('{') {
            depth = s.matches('{').count() - s.matches('}').count();
        }
        let was_hidden = std::mem::take(&mut hidden);
        if was_hidden {
            continue;
        }
        if let Some(rest) = s.strip_prefix("pub mod ") {
            items.push(rest.split([';', ' ', '{']).next().unwrap().to_owned());
        } else if let Some(rest) = s.strip_prefix("pub use ") {
            let rest = rest.trim().trim_end_matches(';');
            let names = match (rest.find('{'), rest.rfind('}')) {
                (Some(a), Some(b)) => rest[a + 1..b].to_owned(),
                _ => rest.rsplit("::").next().unwrap().to_owned(),
            };
            for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let name = name.rsplit(" as ").next().unwrap();
                items.push(name.rsplit("::").next().unwrap().to_owned());
            }
        } else if s.starts_with("pub ") && !s.starts_with("pub(") {
            items.push(s.to_owned());
        }
    }
    items
}

#[test]
fn the_facades_root_documents_at_most_thirty_items() {
    let read = |p: &str| fs::read_to_string(workspace().join(p)).unwrap();
    let root = documented_root_items(&read("src/lib.rs"));
    let runtime = documented_root_items(&read("telemetry-runtime/src/lib.rs"));
    // The facade lists the runtime's root item by item (a glob would show hidden items too).
    for item in &runtime {
        assert!(
            root.contains(item),
            "the facade leaves out the runtime's {item}"
        );
    }
    for expected in ["Client", "config", "testing", "track_command", "track_tool"] {
        assert!(root.iter().any(|i| i == expected), "{expected}: {root:?}");
    }
    assert!(
        root.len() <= MAX_ROOT_ITEMS,
        "the facade's root documents {} items (at most {MAX_ROOT_ITEMS}): {root:?}",
        root.len()
    );
}

#[test]
fn hidden_and_doctest_items_are_not_counted() {
    let items = documented_root_items(
        "mod a;\npub mod b;\npub mod c {\n    pub fn x() {}\n}\n#[doc(hidden)]\npub mod d {\n}\n\
         pub use a::{\n    E, F as G,\n    h,\n};\n#[doc(hidden)]\npub use a::I;\n#[doc(inline)]\n\
         pub use m::J;\n#[cfg(doctest)]\npub struct K;\npub use n::*;\n",
    );
    assert_eq!(items, ["b", "c", "E", "G", "h", "J", "*"]);
}
