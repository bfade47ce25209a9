//! `cargo xtask cycles`: no module of a workspace crate may be in an import circle.
//!
//! For each crate root of each workspace member (`src/lib.rs`, `src/main.rs`, `src/bin/*.rs`),
//! this walks the module tree (`mod name;` declarations) and reads every `crate::…` and
//! `super::…` path, in `use` lines (grouped ones too: `use crate::{a, b::c}`) and in function
//! bodies alike. A node is a top-level module of the crate: a submodule's edges count for its
//! top-level module, and a parent's `mod child;` is not a dependency. `crate::Name` where
//! `Name` is re-exported by the crate root (`pub use m::Name;`) counts as a use of `m`. Any
//! strongly connected component with more than one module fails the check.
//!
//! Limits (it is text parsing, not rustc): `#[path]` attributes, `include!`, macros that
//! build paths, and glob re-exports at the root (`pub use m::*`) are not followed; an item
//! defined in the crate root itself is not a node; paths in a string literal or a comment are
//! skipped, but a raw string literal (`r"…"`) is read as code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// Check every crate of the workspace; fail listing each import circle.
pub fn run() -> anyhow::Result<()> {
    let root = crate::root();
    let manifest =
        std::fs::read_to_string(root.join("Cargo.toml")).context("reading Cargo.toml")?;
    let mut failures = Vec::new();
    let mut roots = 0;
    for member in workspace_members(&manifest) {
        for crate_root in crate_roots(&root.join(&member).join("src")) {
            roots += 1;
            let graph = Graph::read(&crate_root, &|p| std::fs::read_to_string(p).ok());
            for circle in graph.circles() {
                failures.push(format!(
                    "{}: {}\n{}",
                    crate_root
                        .strip_prefix(&root)
                        .unwrap_or(&crate_root)
                        .display(),
                    circle.join(" <-> "),
                    graph
                        .evidence(&circle)
                        .replace(&format!("{}/", root.display()), "")
                ));
            }
        }
    }
    if roots == 0 {
        bail!(
            "no crate root found under the workspace members of {}",
            root.display()
        );
    }
    if !failures.is_empty() {
        bail!("modules in an import circle:\n{}", failures.join("\n"));
    }
    eprintln!("cycles: no import circle in {roots} crate roots");
    Ok(())
}

/// The `members = [...]` of the workspace manifest.
fn workspace_members(manifest: &str) -> Vec<String> {
    let Some(start) = manifest.find("members") else {
        return Vec::new();
    };
    let rest = &manifest[start..];
    let (Some(open), Some(close)) = (rest.find('['), rest.find(']')) else {
        return Vec::new();
    };
    rest[open + 1..close]
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

fn crate_roots(src: &Path) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = ["lib.rs", "main.rs"]
        .iter()
        .map(|f| src.join(f))
        .filter(|p| p.is_file())
        .collect();
    if let Ok(bins) = std::fs::read_dir(src.join("bin")) {
        let mut bins: Vec<PathBuf> = bins
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .collect();
        bins.sort();
        roots.extend(bins);
    }
    roots
}

/// The module dependency graph of one crate: top-level module -> modules it uses, each edge
/// with one place that makes it (`file:line`).
#[derive(Debug, Default)]
pub struct Graph {
    edges: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

/// A source file reduced to tokens, each with its line.
fn tokens(source: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if chars[i] == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    if chars.get(i) == Some(&'\n') {
                        line += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            // A char literal ('x', '\n', '"', '{'); a lifetime ('a) is left alone.
            '\'' if chars.get(i + 2) == Some(&'\'') && next != Some('\\') => i += 3,
            '\'' if next == Some('\\') => {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            }
            ':' if next == Some(':') => {
                out.push((Token::PathSep, line));
                i += 2;
            }
            c if c.is_alphanumeric() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push((Token::Ident(chars[start..i].iter().collect()), line));
            }
            c if c.is_whitespace() => i += 1,
            c => {
                out.push((Token::Punct(c), line));
                i += 1;
            }
        }
    }
    out
}

fn ident(tokens: &[(Token, usize)], i: usize) -> Option<&str> {
    match tokens.get(i) {
        Some((Token::Ident(s), _)) => Some(s),
        _ => None,
    }
}

fn is(tokens: &[(Token, usize)], i: usize, t: &Token) -> bool {
    tokens.get(i).is_some_and(|(x, _)| x == t)
}

/// One file of the module tree: where it is and which module it is.
struct ModuleFile {
    path: PathBuf,
    /// Module path from the crate root (empty for the root).
    module: Vec<String>,
    /// The directory its `mod child;` files live in.
    dir: PathBuf,
}

impl Graph {
    /// Read the module tree from `crate_root` with `read` (a file's text, None if absent).
    pub fn read(crate_root: &Path, read: &dyn Fn(&Path) -> Option<String>) -> Graph {
        let dir = crate_root
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut files = vec![ModuleFile {
            path: crate_root.to_path_buf(),
            module: Vec::new(),
            dir,
        }];
        let mut sources = Vec::new();
        while let Some(file) = files.pop() {
            let Some(source) = read(&file.path) else {
                continue;
            };
            let toks = tokens(&source);
            for i in 0..toks.len() {
                if ident(&toks, i) == Some("mod")
                    && is(&toks, i + 2, &Token::Punct(';'))
                    && !cfg_test_before(&toks, i)
                {
                    let Some(name) = ident(&toks, i + 1) else {
                        continue;
                    };
                    let flat = file.dir.join(format!("{name}.rs"));
                    let (path, dir) = if read(&flat).is_some() {
                        (flat, file.dir.join(name))
                    } else {
                        (file.dir.join(name).join("mod.rs"), file.dir.join(name))
                    };
                    let mut module = file.module.clone();
                    module.push(name.to_owned());
                    files.push(ModuleFile { path, module, dir });
                }
            }
            sources.push((file, toks));
        }
        let top: BTreeSet<String> = sources
            .iter()
            .filter_map(|(f, _)| match f.module.as_slice() {
                [top] => Some(top.clone()),
                _ => None,
            })
            .collect();
        let aliases = sources
            .iter()
            .find(|(f, _)| f.module.is_empty())
            .map(|(_, toks)| root_aliases(toks, &top))
            .unwrap_or_default();
        let mut graph = Graph::default();
        for name in &top {
            graph.edges.entry(name.clone()).or_default();
        }
        for (file, toks) in &sources {
            let Some(from) = file.module.first() else {
                continue; // the crate root is not a node (see the limits above)
            };
            for (to, line) in uses(toks, &file.module) {
                let target = match to.as_slice() {
                    [] => continue,
                    [only] if !top.contains(only) => match aliases.get(only) {
                        Some(m) => m.clone(),
                        None => continue,
                    },
                    [first, ..] => first.clone(),
                };
                if &target != from && top.contains(&target) {
                    graph
                        .edges
                        .entry(from.clone())
                        .or_default()
                        .entry(target)
                        .or_insert_with(|| format!("{}:{line}", file.path.display()));
                }
            }
        }
        graph
    }

    /// Strongly connected components with more than one module, each sorted.
    pub fn circles(&self) -> Vec<Vec<String>> {
        // Tarjan's algorithm; the graphs are small, so recursion depth is no concern.
        struct State<'a> {
            graph: &'a Graph,
            index: BTreeMap<&'a str, usize>,
            low: BTreeMap<&'a str, usize>,
            stack: Vec<&'a str>,
            on_stack: BTreeSet<&'a str>,
            found: Vec<Vec<String>>,
        }
        fn visit<'a>(s: &mut State<'a>, v: &'a str) {
            let n = s.index.len();
            s.index.insert(v, n);
            s.low.insert(v, n);
            s.stack.push(v);
            s.on_stack.insert(v);
            let graph = s.graph;
            for w in graph.edges.get(v).into_iter().flat_map(|e| e.keys()) {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low[v];
                    s.low.insert(v, lv.min(lw));
                } else if s.on_stack.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low[v];
                    s.low.insert(v, lv.min(iw));
                }
            }
            if s.low[v] == s.index[v] {
                let mut component = Vec::new();
                while let Some(w) = s.stack.pop() {
                    s.on_stack.remove(w);
                    component.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    s.found.push(component);
                }
            }
        }
        let mut s = State {
            graph: self,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            found: Vec::new(),
        };
        for v in self.edges.keys() {
            if !s.index.contains_key(v.as_str()) {
                visit(&mut s, v);
            }
        }
        s.found.sort();
        s.found
    }

    /// The edges inside a circle, one line each with where it is made.
    fn evidence(&self, circle: &[String]) -> String {
        let mut lines = Vec::new();
        for from in circle {
            for (to, at) in self.edges.get(from).into_iter().flatten() {
                if circle.contains(to) {
                    lines.push(format!("  {from} -> {to} ({at})"));
                }
            }
        }
        lines.join("\n")
    }
}

/// Whether the `mod` at `i` is gated by `#[cfg(test)]` (directly before it, `pub` aside).
fn cfg_test_before(toks: &[(Token, usize)], i: usize) -> bool {
    let mut j = i;
    while j > 0 && ident(toks, j - 1) == Some("pub") {
        j -= 1;
    }
    let attribute = [
        Token::Punct('#'),
        Token::Punct('['),
        Token::Ident("cfg".into()),
        Token::Punct('('),
        Token::Ident("test".into()),
        Token::Punct(')'),
        Token::Punct(']'),
    ];
    j >= attribute.len()
        && attribute
            .iter()
            .enumerate()
            .all(|(k, t)| is(toks, j - attribute.len() + k, t))
}

/// `pub use m::…::Name;` and `pub use m::{A, B};` in the crate root: Name -> m.
fn root_aliases(toks: &[(Token, usize)], top: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut aliases = BTreeMap::new();
    for i in 0..toks.len() {
        if ident(toks, i) != Some("use") {
            continue;
        }
        let mut j = i + 1;
        if ident(toks, j) == Some("crate") && is(toks, j + 1, &Token::PathSep) {
            j += 2;
        }
        let Some(module) = ident(toks, j).filter(|m| top.contains(*m)) else {
            continue;
        };
        // Every identifier up to the `;` that is followed by `,`, `}` or `;` is a name
        // this `use` brings into the root (`as` renames are taken as the new name).
        let mut k = j + 1;
        while k < toks.len() && !is(toks, k, &Token::Punct(';')) {
            if let Some(name) = ident(toks, k)
                && [Token::Punct(','), Token::Punct('}'), Token::Punct(';')]
                    .iter()
                    .any(|t| is(toks, k + 1, t))
            {
                aliases.insert(name.to_owned(), module.to_owned());
            }
            k += 1;
        }
    }
    aliases
}

/// Every module path a file names through `crate::` or `super::`, resolved from the crate
/// root, with its line. Only the first one or two segments matter, so that is what is kept.
fn uses(toks: &[(Token, usize)], file_module: &[String]) -> Vec<(Vec<String>, usize)> {
    let mut found = Vec::new();
    // Inline modules (`mod tests { … }`) shift what `super` means.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let (tok, line) = &toks[i];
        match tok {
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d > depth) {
                    inline.pop();
                }
            }
            Token::Ident(word)
                if word == "mod"
                    && is(toks, i + 2, &Token::Punct('{'))
                    && cfg_test_before(toks, i) =>
            {
                // Skip the test module to its closing brace.
                let mut level = 0;
                i += 2;
                while i < toks.len() {
                    match toks[i].0 {
                        Token::Punct('{') => level += 1,
                        Token::Punct('}') => {
                            level -= 1;
                            if level == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            Token::Ident(word)
                if word == "mod"
                    && ident(toks, i + 1).is_some()
                    && is(toks, i + 2, &Token::Punct('{')) =>
            {
                depth += 1;
                inline.push((ident(toks, i + 1).unwrap_or_default().to_owned(), depth));
                i += 3;
                continue;
            }
            Token::Ident(word)
                if (word == "crate" || word == "super")
                    && is(toks, i + 1, &Token::PathSep)
                    && !(i > 0 && is(toks, i - 1, &Token::PathSep)) =>
            {
                let mut base: Vec<String> = if word == "crate" {
                    i += 2;
                    Vec::new()
                } else {
                    let mut here: Vec<String> = file_module.to_vec();
                    here.extend(inline.iter().map(|(n, _)| n.clone()));
                    while ident(toks, i) == Some("super") && is(toks, i + 1, &Token::PathSep) {
                        here.pop();
                        i += 2;
                    }
                    here
                };
                if is(toks, i, &Token::Punct('{')) {
                    // A group: the first identifier of each element at this depth.
                    let mut level = 0;
                    let mut at_start = true;
                    let mut j = i;
                    while j < toks.len() {
                        match &toks[j].0 {
                            Token::Punct('{') => {
                                level += 1;
                                if level == 1 {
                                    at_start = true;
                                }
                            }
                            Token::Punct('}') => {
                                level -= 1;
                                if level == 0 {
                                    break;
                                }
                            }
                            Token::Punct(',') if level == 1 => at_start = true,
                            Token::Ident(name) if level == 1 && at_start => {
                                at_start = false;
                                if name != "self" {
                                    let mut path = base.clone();
                                    path.push(name.clone());
                                    found.push((path, toks[j].1));
                                }
                            }
                            _ => {}
                        }
                        j += 1;
                    }
                    // Braces inside the group balance, so depth is unchanged.
                    i = j + 1;
                    continue;
                }
                if let Some(name) = ident(toks, i) {
                    base.push(name.to_owned());
                }
                found.push((base, *line));
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn graph(files: &[(&str, &str)]) -> Graph {
        let files: HashMap<PathBuf, String> = files
            .iter()
            .map(|(p, s)| (PathBuf::from(p), (*s).to_owned()))
            .collect();
        Graph::read(Path::new("src/lib.rs"), &|p| files.get(p).cloned())
    }

    #[test]
    fn a_circle_through_a_grouped_use_a_body_path_and_super_is_found() {
        let g = graph(&[
            (
                "src/lib.rs",
                "pub mod a;\npub mod b;\npub mod c;\npub mod d;\npub use d::Thing;",
            ),
            // a -> b through a path in a function body, in a submodule of a.
            ("src/a/mod.rs", "mod inner;\n"),
            ("src/a/inner.rs", "fn f() { crate::b::g(); }\n"),
            // b -> c through a grouped import.
            (
                "src/b.rs",
                "use crate::{c::X, d};\n// crate::a::nothing (a comment)\n",
            ),
            // c -> a through super:: from an inline module, and c -> d through a root alias.
            (
                "src/c.rs",
                "mod inner { use super::super::a; }\nfn f() -> crate::Thing {}\n",
            ),
            (
                "src/d.rs",
                "const S: &str = \"crate::a::x\"; // a string, not a path\n",
            ),
        ]);
        assert_eq!(g.circles(), vec![vec!["a", "b", "c"]]);
        assert!(
            g.evidence(&["a".into(), "b".into(), "c".into()])
                .contains("src/a/inner.rs:1")
        );
    }

    #[test]
    fn a_tree_without_circle_passes() {
        let g = graph(&[
            ("src/lib.rs", "pub mod a;\npub mod b;\npub use b::Thing;\n"),
            // A parent's `mod child;` and a child's `super::` inside its own top-level module
            // are not edges between top-level modules.
            ("src/a.rs", "mod child;\nuse crate::{b, Thing};\n"),
            ("src/a/child.rs", "use super::x;\nuse crate::a::y;\n"),
            (
                "src/b.rs",
                "mod inner { use super::*; }\n#[cfg(test)]\nmod tests { use crate::a; }\n#[cfg(test)]\nmod more;\n",
            ),
            ("src/b/more.rs", "use crate::a;\n"),
        ]);
        assert_eq!(g.circles(), Vec::<Vec<String>>::new());
        assert!(g.edges["a"].contains_key("b"));
        assert!(g.edges["b"].is_empty());
    }
}
