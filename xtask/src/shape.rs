//! `cargo xtask shape`: the library's shape rules, checked from its source.
//!
//! - no import cycle between the library's modules (one module per file; `a` → `b` when `a` names
//!   an item defined in `b`; re-exports are followed to where the item is defined, and `mod`
//!   declarations are not uses; unit tests are left out);
//! - no library file over [`MAX_LINES`] lines.
//!
//! A small resolver over `use` trees and paths (from `crate`, `super`, `self` or a child
//! module) is enough here: the crate has no glob re-exports and no macros that name modules.
//! Names bound by `use` are followed through (`super::X` where the parent imported `X`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Longest library file accepted.
const MAX_LINES: usize = 900;

/// One module (file) of the library.
struct Module {
    /// Source without comments, strings and unit tests.
    code: String,
    /// Names this module binds with `use` (public or not; `use a::b::C as D;` binds `D`):
    /// name → path, followed when another module names them through this one.
    imports: BTreeMap<String, Vec<String>>,
}

/// Checks the library under `root` (a crate's `src`), printing what breaks a rule.
pub fn run(root: &Path) -> Result<()> {
    let mut problems = Vec::new();
    let mut modules = BTreeMap::new();
    for file in rust_files(root)? {
        let text =
            fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        let lines = text.lines().count();
        let shown = file.strip_prefix(root).unwrap_or(&file).display().to_string();
        if lines > MAX_LINES {
            problems.push(format!("{shown}: {lines} lines (at most {MAX_LINES}): split it by job"));
        }
        let Some(path) = module_path(root, &file) else { continue };
        let code = without_tests(&strip_comments_and_strings(&text));
        let imports = imports_of(&code);
        modules.insert(path, Module { code, imports });
    }
    let edges = edges(&modules);
    let folders = folder_edges(&edges);
    let mut groups = cycles(&modules, &edges);
    for group in cycles(&modules, &folders) {
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    for cycle in groups {
        let edges = if edges_within(&edges, &cycle) { &edges } else { &folders };
        let mut why = Vec::new();
        for a in &cycle {
            for b in &cycle {
                if let Some(names) = edges.get(a).and_then(|e| e.get(b)) {
                    let first: Vec<_> = names.iter().take(3).cloned().collect();
                    why.push(format!("  {} uses {} ({})", show(a), show(b), first.join(", ")));
                }
            }
        }
        problems.push(format!(
            "import cycle between {}:\n{}",
            cycle.iter().map(|m| show(m)).collect::<Vec<_>>().join(", "),
            why.join("\n")
        ));
    }
    if problems.is_empty() {
        println!(
            "shape: {} modules, no import cycle, no file over {MAX_LINES} lines",
            modules.len()
        );
        return Ok(());
    }
    for p in &problems {
        eprintln!("shape: {p}");
    }
    bail!("{} shape problem(s) in {}", problems.len(), root.display())
}

fn show(module: &[String]) -> String {
    if module.is_empty() { "crate".into() } else { module.join("::") }
}

fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `src/a/b.rs` and `src/a/b/mod.rs` → `["a", "b"]`; `lib.rs` → `[]`. The binary's `main.rs` and
/// unit-test files (`tests.rs`) are not library modules.
fn module_path(root: &Path, file: &Path) -> Option<Vec<String>> {
    let rel = file.strip_prefix(root).ok()?;
    let mut parts: Vec<String> =
        rel.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned()).collect();
    if parts.iter().any(|p| p == "tests") {
        return None; // unit tests, in `tests.rs` or under `tests/`
    }
    match parts.last().map(String::as_str) {
        Some("main") if parts.len() == 1 => return None,
        Some("lib") if parts.len() == 1 => parts.clear(),
        Some("mod") => {
            parts.pop();
        }
        _ => {}
    }
    Some(parts)
}

/// Blanks comments and the contents of string and char literals, keeping line structure.
fn strip_comments_and_strings(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if b[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if b[i] == b'\n' {
                            out.push(b'\n');
                        }
                        i += 1;
                    }
                }
            }
            b'r' if matches!(b.get(i + 1), Some(b'"' | b'#'))
                && !b[..i].last().is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') =>
            {
                let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    out.push(b[i]);
                    i += 1;
                    continue;
                }
                let close: Vec<u8> =
                    std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
                i += 2 + hashes;
                while i < b.len() && !b[i..].starts_with(&close) {
                    if b[i] == b'\n' {
                        out.push(b'\n');
                    }
                    i += 1;
                }
                i += close.len();
                out.extend_from_slice(b"\"\"");
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    if b.get(i) == Some(&b'\n') {
                        out.push(b'\n');
                    }
                    i += 1;
                }
                i += 1;
                out.extend_from_slice(b"\"\"");
            }
            // A char literal ('x', '\n', '"'); a lifetime ('a) is kept.
            b'\'' if b.get(i + 2) == Some(&b'\'') || b.get(i + 1) == Some(&b'\\') => {
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                out.extend_from_slice(b"' '");
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `code` without its `#[cfg(test)] mod …` items: a `mod tests;` line, or a whole
/// `mod tests { … }` block (braces matched; strings and comments are already blank).
fn without_tests(code: &str) -> String {
    let mut kept = String::with_capacity(code.len());
    let mut lines = code.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && let Some(item) = lines.peek().filter(|l| l.trim_start().starts_with("mod "))
        {
            if !item.contains('{') {
                lines.next(); // `mod tests;`
                continue;
            }
            let mut depth = 0i64;
            for l in lines.by_ref() {
                depth += l.matches('{').count() as i64 - l.matches('}').count() as i64;
                if depth <= 0 && l.contains('}') {
                    break;
                }
            }
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

/// Every `use` declaration of `code`, as (is it `pub`, the tree's text).
fn use_declarations(code: &str) -> Vec<(bool, String)> {
    use_spans(code).into_iter().map(|(is_pub, tree)| (is_pub, compact(&code[tree]))).collect()
}

/// `code` with its `use` declarations blanked (their paths are read by [`use_declarations`]).
fn without_use_declarations(code: &str) -> String {
    let mut out = code.to_owned();
    for (_, tree) in use_spans(code) {
        out.replace_range(tree.clone(), &" ".repeat(tree.len()));
    }
    out
}

/// Where each `use` declaration's tree is in `code` (after `use`, before `;`).
fn use_spans(code: &str) -> Vec<(bool, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let words: Vec<(usize, &str)> = word_positions(code);
    for (k, (at, word)) in words.iter().enumerate() {
        if *word != "use" {
            continue;
        }
        let before = code[..*at].trim_end();
        let is_pub = k > 0 && words[k - 1].1 == "pub" || before.ends_with(')');
        let starts_statement = before.is_empty()
            || before.ends_with([';', '{', '}', ']'])
            || k > 0 && words[k - 1].1 == "pub"
            || before.ends_with(')') && before.contains("pub(");
        if !starts_statement {
            continue;
        }
        let rest = &code[at + 3..];
        if let Some(end) = rest.find(';') {
            out.push((is_pub, at + 3..at + 3 + end));
        }
    }
    out
}

/// `a::{ b,\n  c as d }` → `a::{b,c as d}`: single spaces, none around punctuation.
fn compact(tree: &str) -> String {
    let spaced = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(spaced.len());
    for (i, c) in spaced.char_indices() {
        let near_punct = |j: Option<char>| j.is_some_and(|p| matches!(p, ':' | '{' | '}' | ','));
        if c == ' '
            && (near_punct(spaced[..i].chars().last())
                || near_punct(spaced[i + 1..].chars().next()))
        {
            continue;
        }
        out.push(c);
    }
    out
}

fn word_positions(code: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in code.char_indices() {
        let word = c.is_alphanumeric() || c == '_';
        match (word, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, &code[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// `a::{b, c::{self, D as E}}` → `[a::b], [a::c], [a::c::D]` with the name each binds.
fn expand_use_tree(tree: &str, prefix: &[String], out: &mut Vec<(String, Vec<String>)>) {
    let tree = tree.trim_start_matches("::");
    if let Some(open) = tree.find('{') {
        let mut base = prefix.to_vec();
        base.extend(segments(&tree[..open]));
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        for part in split_top_level(inner) {
            expand_use_tree(part, &base, out);
        }
        return;
    }
    let (path, alias) = match tree.split_once(" as ") {
        Some((p, a)) => (p, Some(a)),
        None => (tree, None),
    };
    let mut full = prefix.to_vec();
    let segs = segments(path);
    if segs == ["self"] {
        let name = alias.map(str::to_owned).or_else(|| full.last().cloned()).unwrap_or_default();
        out.push((name, full));
        return;
    }
    full.extend(segs);
    if let Some(last) = full.last().cloned()
        && last != "*"
    {
        out.push((alias.map_or(last, str::to_owned), full));
    }
}

fn segments(path: &str) -> Vec<String> {
    path.split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn split_top_level(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter().filter(|p| !p.is_empty()).collect()
}

fn imports_of(code: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (_, tree) in use_declarations(code) {
        let mut expanded = Vec::new();
        expand_use_tree(&tree, &[], &mut expanded);
        out.extend(expanded);
    }
    out
}

/// Module `a` → module `b` → the names through which `a` reaches `b`.
type Edges = BTreeMap<Vec<String>, BTreeMap<Vec<String>, BTreeSet<String>>>;

fn edges(modules: &BTreeMap<Vec<String>, Module>) -> Edges {
    let mut edges = Edges::new();
    for (here, module) in modules {
        let mut paths = Vec::new();
        for (is_pub, tree) in use_declarations(&module.code) {
            let mut expanded = Vec::new();
            expand_use_tree(&tree, &[], &mut expanded);
            // A re-export of a child is the parent's surface, not a use by the parent.
            paths.extend(expanded.into_iter().map(|(_, p)| p).filter(|p| {
                !(is_pub && p.first().is_some_and(|s| modules.contains_key(&child(here, s))))
            }));
        }
        let code = without_use_declarations(&module.code);
        paths.extend(inline_paths(&code, |name| modules.contains_key(&child(here, name))));
        for path in paths {
            if let Some(target) = resolve(modules, here, &path, 0)
                && &target != here
            {
                let names = edges.entry(here.clone()).or_default().entry(target).or_default();
                names.insert(path.join("::"));
            }
        }
    }
    edges
}

/// Sibling → sibling: `a::x::y` using `a::z` makes `a::x` use `a::z`, so that folders (a module
/// and everything under it) form no cycle either.
fn folder_edges(edges: &Edges) -> Edges {
    let mut out = Edges::new();
    for (a, targets) in edges {
        for (b, names) in targets {
            let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
            if common < a.len() && common < b.len() {
                let (fa, fb) = (a[..=common].to_vec(), b[..=common].to_vec());
                out.entry(fa)
                    .or_default()
                    .entry(fb)
                    .or_default()
                    .extend(names.iter().map(|n| format!("{} → {n}", show(a))));
            }
        }
    }
    out
}

fn edges_within(edges: &Edges, group: &[Vec<String>]) -> bool {
    group.iter().all(|a| edges.get(a).is_some_and(|e| group.iter().any(|b| e.contains_key(b))))
}

fn child(here: &[String], name: &str) -> Vec<String> {
    let mut c = here.to_vec();
    c.push(name.to_owned());
    c
}

/// Paths written outside `use` declarations that start with `crate`, `super`, `self` or the
/// name of a child module (`http::serve(…)` in `serve/mod.rs`).
fn inline_paths(code: &str, is_child: impl Fn(&str) -> bool) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for (at, word) in word_positions(code) {
        let followed_by_path = bytes.get(at + word.len()..at + word.len() + 2) == Some(b"::");
        if !(matches!(word, "crate" | "super" | "self") || followed_by_path && is_child(word)) {
            continue;
        }
        if at >= 2 && &bytes[at - 2..at] == b"::" {
            continue;
        }
        // `pub(in crate::a::b)` is a visibility, not a use.
        if code[..at].trim_end().ends_with("(in") {
            continue;
        }
        let mut end = at;
        while end < bytes.len()
            && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b'_' | b':'))
        {
            end += 1;
        }
        let segs = segments(&code[at..end]);
        if segs.len() > 1 {
            out.push(segs);
        }
    }
    out
}

/// The module that defines what `path`, written in module `here`, names.
fn resolve(
    modules: &BTreeMap<Vec<String>, Module>,
    here: &[String],
    path: &[String],
    depth: usize,
) -> Option<Vec<String>> {
    if depth > 16 {
        return None;
    }
    let mut at: Vec<String> = here.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            at.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().is_some_and(|s| s == "super") {
                at.pop()?;
                rest = &rest[1..];
            }
        }
        Some(first) if modules.contains_key(&child(here, first)) => {}
        // In the crate root, top-level modules are in scope by name.
        Some(first) if modules.contains_key(&child(&[], first)) && here.is_empty() => {}
        _ => return None, // an external crate, a local binding, or a prelude item
    }
    while let Some(next) = rest.first() {
        let deeper = child(&at, next);
        if modules.contains_key(&deeper) {
            at = deeper;
            rest = &rest[1..];
        } else {
            break;
        }
    }
    if let Some(name) = rest.first()
        && let Some(target) = modules.get(&at).and_then(|m| m.imports.get(name))
    {
        let mut followed = target.clone();
        followed.extend(rest[1..].iter().cloned());
        if let Some(found) = resolve(modules, &at, &followed, depth + 1) {
            return Some(found);
        }
    }
    Some(at)
}

/// Groups of two or more modules that reach each other (Tarjan's strongly connected components).
fn cycles(modules: &BTreeMap<Vec<String>, Module>, edges: &Edges) -> Vec<Vec<Vec<String>>> {
    let names: Vec<&Vec<String>> = modules.keys().collect();
    let index_of: BTreeMap<&Vec<String>, usize> =
        names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let succ: Vec<Vec<usize>> = names
        .iter()
        .map(|n| {
            edges.get(*n).map_or_else(Vec::new, |e| {
                e.keys().filter_map(|t| index_of.get(t).copied()).collect()
            })
        })
        .collect();
    let n = names.len();
    let (mut index, mut low, mut on_stack) = (vec![usize::MAX; n], vec![0; n], vec![false; n]);
    let (mut stack, mut next, mut out) = (Vec::new(), 0, Vec::new());
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // Iterative DFS: (node, next successor to visit).
        let mut work = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut i)) = work.last_mut() {
            if let Some(&w) = succ[v].get(*i) {
                *i += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut group = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    group.push(names[w].clone());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    out.push(group);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_trees_expand_with_aliases_and_self() {
        let mut out = Vec::new();
        expand_use_tree(
            &compact("super::{Segment, link::{\n self, LinkType as L }}"),
            &[],
            &mut out,
        );
        let got: Vec<_> = out.iter().map(|(n, p)| format!("{n}={}", p.join("::"))).collect();
        assert_eq!(got, ["Segment=super::Segment", "link=super::link", "L=super::link::LinkType"]);
    }

    #[test]
    fn strings_and_comments_do_not_count() {
        let code = strip_comments_and_strings(
            "let a = \"crate::x\"; // crate::y\nlet c = '\"'; crate::z::W",
        );
        assert!(!code.contains("crate::x") && !code.contains("crate::y"));
        assert!(code.contains("crate::z::W"));
    }
}
