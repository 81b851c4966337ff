//! The crate's module structure, read from its sources: no import cycles
//! between top-level modules, the renderer (and the route-file syntax it
//! shares with the route services) free of anything that spawns processes
//! or touches files, and atomic file writing a leaf.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Source text that marks a module as doing I/O.
const IMPURE: &[&str] = &[
    "std::fs",
    "std::process",
    "Command::new",
    "libc::",
    "vmw_backdoor",
    "ip::run",
    "ip::list",
];

/// Top-level module → (crate modules it refers to, whether it does I/O).
fn modules() -> BTreeMap<String, (BTreeSet<String>, bool)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out: BTreeMap<String, (BTreeSet<String>, bool)> = BTreeMap::new();
    let mut todo = vec![src.clone()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let rel = path.strip_prefix(&src).unwrap();
            if path.is_dir() {
                if rel != Path::new("bin") {
                    todo.push(path);
                }
                continue;
            }
            let file = rel.file_name().unwrap().to_str().unwrap();
            if rel == Path::new("lib.rs") || file == "tests.rs" {
                continue;
            }
            let first = rel.components().next().unwrap().as_os_str();
            let module = Path::new(first).file_stem().unwrap().to_str().unwrap();
            let code = code(&std::fs::read_to_string(&path).unwrap());
            let entry = out.entry(module.to_string()).or_default();
            entry
                .0
                .extend(references(&code).into_iter().filter(|m| m != module));
            entry.1 |= IMPURE.iter().any(|m| code.contains(m));
        }
    }
    out
}

/// The non-test code of a file, without comment lines.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules named after `crate::`, including `use crate::{a, b::c}`.
fn references(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for part in code.split("crate::").skip(1) {
        if let Some(group) = part.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.insert(ident(&item));
        } else {
            out.insert(ident(part));
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

fn reachable(graph: &BTreeMap<String, (BTreeSet<String>, bool)>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(m) = todo.pop() {
        for next in &graph[&m].0 {
            if seen.insert(next.clone()) {
                todo.push(next.clone());
            }
        }
    }
    seen
}

#[test]
fn the_parser_sees_grouped_and_nested_imports() {
    assert_eq!(
        references("use crate::{self, atomic, render::{File, Input}};\nlet x = crate::ip::list();"),
        ["atomic", "ip", "render"].map(String::from).into()
    );
}

#[test]
fn top_level_modules_have_no_import_cycles() {
    let graph = modules();
    for m in graph.keys() {
        for dep in &graph[m].0 {
            assert!(
                graph.contains_key(dep),
                "{m} refers to crate::{dep}, which is no module"
            );
        }
        assert!(
            !reachable(&graph, m).contains(m),
            "{m} imports itself through {:?}",
            graph[m].0
        );
    }
}

#[test]
fn the_renderer_spawns_nothing_and_touches_no_file() {
    let graph = modules();
    for pure in ["render", "routefile"] {
        let impure: Vec<String> = std::iter::once(pure.to_string())
            .chain(reachable(&graph, pure))
            .filter(|m| graph[m].1)
            .collect();
        assert!(impure.is_empty(), "{pure} reaches I/O through {impure:?}");
    }
    assert!(graph["atomic"].0.is_empty(), "atomic writing is a leaf");
    assert!(graph["routes"].1, "the check sees I/O where it is");
}
