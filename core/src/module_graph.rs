//! The crate's modules import each other without cycles: each module can be read (and
//! changed) knowing only those below it.
//!
//! The graph is read from the sources: a module (one file) depends on another when its
//! code (comments and its `tests` module aside) names a path into it — `crate::a::b`,
//! `super::x`, or a child module's name. Paths through a `pub use` re-export count as
//! naming the module that defines the item.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

struct Module {
    /// The code, without comments and without its tests.
    code: String,
    children: Vec<String>,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The code of a file: line comments and the trailing test module cut off (a
/// comment marker inside a string literal cuts that line short, which only loses
/// edges of that line).
fn code_of(text: &str) -> String {
    // Test modules come last in a file.
    let inline_test_module = text.match_indices("#[cfg(test)]\nmod ").find(|(i, _)| {
        text[*i..]
            .lines()
            .nth(1)
            .is_some_and(|l| l.trim_end().ends_with('{'))
    });
    let text = inline_test_module.map_or(text, |(i, _)| &text[..i]);
    text.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Child modules declared in `code` with a file of their own (`mod x;`), except
/// test-only ones.
fn children_of(code: &str) -> Vec<String> {
    let lines: Vec<&str> = code.lines().map(str::trim).collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let decl = l
            .strip_prefix("pub mod ")
            .or_else(|| l.strip_prefix("pub(crate) mod "))
            .or_else(|| l.strip_prefix("mod "));
        let Some(name) = decl.and_then(|d| d.strip_suffix(';')) else {
            continue;
        };
        let test_only = lines[..i]
            .iter()
            .rev()
            .take_while(|p| p.starts_with("#["))
            .any(|p| p.contains("cfg(test)"));
        if !test_only {
            out.push(name.trim().to_string());
        }
    }
    out
}

/// Every module of the crate by path (`""` is the crate root), from `lib.rs` down.
fn modules() -> BTreeMap<String, Module> {
    let mut out = BTreeMap::new();
    let mut todo = vec![(String::new(), src().join("lib.rs"))];
    while let Some((path, file)) = todo.pop() {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
        let code = code_of(&text);
        let children = children_of(&code);
        let dir = if path.is_empty() || file.ends_with("mod.rs") {
            file.parent().unwrap().to_path_buf()
        } else {
            file.with_extension("")
        };
        for c in &children {
            let flat = dir.join(format!("{c}.rs"));
            let file = if flat.exists() {
                flat
            } else {
                dir.join(c).join("mod.rs")
            };
            todo.push((join(&path, c), file));
        }
        out.insert(path, Module { code, children });
    }
    out
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}::{child}")
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths named in `code` that start with one of `roots` (`crate`, `super`, a child's
/// name), as segments; `a::{b, c::d}` is two paths.
fn paths(code: &str, roots: &[&str]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':');
        if starts_word && is_ident(chars[i]) {
            let (path, end) = path_at(&chars, i);
            if path.len() > 1 && roots.contains(&path[0].as_str()) {
                expand(&chars, end, path, &mut out);
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// The `a::b::c` at `i`, and where it ends (at a `{` that follows `::`, if any).
fn path_at(chars: &[char], mut i: usize) -> (Vec<String>, usize) {
    let mut segs = Vec::new();
    loop {
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        segs.push(chars[start..i].iter().collect::<String>());
        if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
            i += 2;
            if chars.get(i).is_some_and(|c| is_ident(*c)) {
                continue;
            }
            // `a::{…}` or `a::*`: the path so far, with `::` eaten.
            segs.push(String::new());
        }
        return (segs, i);
    }
}

/// Adds `path`, or each path of the group `{…}` that follows it.
fn expand(chars: &[char], end: usize, mut path: Vec<String>, out: &mut Vec<Vec<String>>) {
    if path.last().is_some_and(String::is_empty) {
        path.pop();
        if chars.get(end) == Some(&'{') {
            let close = chars[end..]
                .iter()
                .position(|c| *c == '}')
                .map_or(chars.len(), |p| end + p);
            let group: String = chars[end + 1..close].iter().collect();
            for item in group.split(',') {
                let item = item.split_whitespace().next().unwrap_or("");
                let mut full = path.clone();
                full.extend(
                    item.split("::")
                        .filter(|s| !s.is_empty() && *s != "self" && *s != "{")
                        .map(|s| s.trim_matches(|c: char| !is_ident(c)).to_string()),
                );
                out.push(full);
            }
            return;
        }
    }
    out.push(path);
}

/// What module `segments` (from the crate root) names: the longest module prefix,
/// followed through a re-export of the next segment.
fn resolve(
    mods: &BTreeMap<String, Module>,
    reexports: &BTreeMap<String, BTreeMap<String, Vec<String>>>,
    segments: &[String],
    depth: usize,
) -> String {
    let mut n = segments.len();
    let module = loop {
        let m = segments[..n].join("::");
        if mods.contains_key(&m) || n == 0 {
            break m;
        }
        n -= 1;
    };
    if depth < 8
        && let Some(next) = segments.get(n)
        && let Some(source) = reexports.get(&module).and_then(|r| r.get(next))
    {
        return resolve(mods, reexports, source, depth + 1);
    }
    module
}

/// The absolute form of a path named in `module`: `crate::` and `super::` resolved, a
/// child's name prefixed.
fn absolute(module: &str, path: &[String]) -> Vec<String> {
    let mut base: Vec<String> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_string).collect()
    };
    let mut rest = path;
    if rest.first().is_some_and(|s| s == "crate") {
        base.clear();
        rest = &rest[1..];
    }
    while rest.first().is_some_and(|s| s == "super") {
        base.pop();
        rest = &rest[1..];
    }
    base.extend(rest.iter().cloned());
    base
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    let named = |m: &str, module: &Module| {
        let mut roots = vec!["crate", "super"];
        roots.extend(module.children.iter().map(String::as_str));
        paths(&module.code, &roots)
            .into_iter()
            .map(|p| absolute(m, &p))
            .collect::<Vec<_>>()
    };
    // `pub use a::b::C;` in module m: m's `C` is `a::b::C`.
    let mut reexports: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (m, module) in &mods {
        for stmt in module.code.split(';') {
            let Some(used) = stmt.find("pub use ").map(|i| &stmt[i + "pub use ".len()..]) else {
                continue;
            };
            let mut roots = vec!["crate", "super"];
            roots.extend(module.children.iter().map(String::as_str));
            for p in paths(used, &roots) {
                if let Some(name) = p.last().filter(|n| !n.is_empty()) {
                    reexports
                        .entry(m.clone())
                        .or_default()
                        .insert(name.clone(), absolute(m, &p));
                }
            }
        }
    }
    let mut edges = BTreeMap::new();
    for (m, module) in &mods {
        let targets: BTreeSet<String> = named(m, module)
            .iter()
            .map(|p| resolve(&mods, &reexports, p, 0))
            .filter(|t| t != m)
            .collect();
        edges.insert(m.clone(), targets);
    }
    edges
}

/// The strongly connected components of more than one module, each in sorted order.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Two modules are in one cycle when each reaches the other.
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for t in edges.get(&m).into_iter().flatten() {
                if seen.insert(t.clone()) {
                    todo.push(t.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        edges.keys().map(|m| (m, reach(m))).collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    for (m, r) in &reached {
        if !r.contains(*m) || out.iter().any(|c| c.contains(m)) {
            continue;
        }
        let comp: Vec<String> = reached
            .iter()
            .filter(|(n, rn)| rn.contains(*m) && r.contains(**n))
            .map(|(n, _)| (*n).clone())
            .collect();
        out.push(comp);
    }
    out
}

#[test]
fn modules_import_each_other_without_cycles() {
    let edges = graph();
    // The reader of the sources must see the crate's real shape, or it proves nothing.
    assert!(edges.len() > 40, "{} modules", edges.len());
    let has = |from: &str, to: &str| edges[from].contains(to);
    assert!(has("tables::records", "tables::rules"));
    assert!(has("tables::reads", "tables::plan"));
    assert!(has("kv", "tables::schema"), "through the tables' re-export");
    assert!(has("tables::hooks", "ids"), "through crate::{{…}}");
    assert!(
        has("tables::hooks", "error"),
        "through the crate's re-export"
    );
    let found = cycles(&edges);
    assert!(
        found.is_empty(),
        "module cycles {found:?} (edges: {edges:#?})"
    );
}

#[test]
fn a_cycle_is_found() {
    let edges = BTreeMap::from([
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
        ("d".to_string(), BTreeSet::from(["a".to_string()])),
    ]);
    assert_eq!(cycles(&edges), vec![vec!["a", "b", "c"]]);
    let code = "use crate::{Code, x::Y};\nuse super::z::W;\nfn f() { kid::g(); a::crate::q(); }";
    assert_eq!(
        paths(code, &["crate", "super", "kid"]),
        vec![
            vec!["crate", "Code"],
            vec!["crate", "x", "Y"],
            vec!["super", "z", "W"],
            vec!["kid", "g"],
        ]
    );
}
