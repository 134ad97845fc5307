//! The layering rules of docs/ARCHITECTURE.md, checked against the source
//! itself: which folder may import which, and no import cycle between files
//! or between folders. An import is any `crate::` path in the code (a `use`
//! or a path written inline); `mod` lines, comments and strings are not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The folders that are layers; every other folder is a domain. Each names
/// the folders it may import besides itself.
const LAYERS: &[(&str, &[&str])] = &[
    ("app", &["script", "core"]),
    ("command", &["core"]),
    ("core", &[]),
];

/// What a domain may import besides itself: the folders it sits in (aws/
/// for aws/ec2) and these. The script layer may import anything but app.
const UNDER_EVERY_DOMAIN: &[&str] = &["command", "core"];

/// Whether a file in folder `from` may import one in folder `to` (paths
/// relative to src/, "" for its root).
fn allowed(from: &str, to: &str) -> bool {
    if from.is_empty() || from == to {
        return true;
    }
    let top = |folder: &str| folder.split('/').next().unwrap_or_default().to_string();
    if from == "script" {
        return top(to) != "app";
    }
    if let Some((_, below)) = LAYERS.iter().find(|(layer, _)| *layer == from) {
        return below.contains(&to);
    }
    let ancestor = Path::new(from)
        .ancestors()
        .skip(1)
        .any(|a| a == Path::new(to) && !to.is_empty());
    ancestor || UNDER_EVERY_DOMAIN.contains(&to)
}

/// `text` with comments, string and character literals blanked out.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
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
                    i += 1;
                }
            }
        } else if c == 'r' && matches!(next, Some('"' | '#')) && (i == 0 || !ident(chars[i - 1])) {
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            i += 2 + hashes;
            while i < chars.len() {
                if chars[i] == '"' && chars[i + 1..].iter().take(hashes).all(|&h| h == '#') {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A character literal; a lifetime (`'a`) has no closing quote.
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The `crate::` paths of `code` (see `code_only`), one per name a `use`
/// tree brings in: `crate::a::{b, c::d}` gives `a::b` and `a::c::d`.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let tokens = tokens(code);
    let mut paths = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let is_root = (token == "crate" || token == "$crate")
            && tokens.get(i + 1).map(String::as_str) == Some("::");
        if is_root {
            use_tree(&tokens, i + 2, Vec::new(), &mut paths);
        }
    }
    paths
}

fn tokens(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' || c == '$' {
            let mut word = c.to_string();
            while let Some(&n) = chars.peek().filter(|n| n.is_alphanumeric() || **n == '_') {
                word.push(n);
                chars.next();
            }
            tokens.push(word);
        } else if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            tokens.push("::".into());
        } else if !c.is_whitespace() {
            tokens.push(c.to_string());
        }
    }
    tokens
}

/// Read the use tree starting at `at`, below `prefix`; where it ends.
fn use_tree(
    tokens: &[String],
    mut at: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    loop {
        match tokens.get(at).map(String::as_str) {
            Some("{") => {
                at += 1;
                loop {
                    at = use_tree(tokens, at, prefix.clone(), out);
                    match tokens.get(at).map(String::as_str) {
                        Some(",") => at += 1,
                        Some("}") => return at + 1,
                        _ => return at,
                    }
                    if tokens.get(at).map(String::as_str) == Some("}") {
                        return at + 1;
                    }
                }
            }
            Some(word) if word.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                if word != "self" {
                    prefix.push(word.to_string());
                }
                at += 1;
                if tokens.get(at).map(String::as_str) == Some("::") {
                    at += 1;
                    continue;
                }
                out.push(prefix);
                return at;
            }
            _ => {
                out.push(prefix);
                return at;
            }
        }
    }
}

/// The file a `crate::` path lands in: the deepest module file it names.
fn resolve(src: &Path, path: &[String]) -> Option<PathBuf> {
    let mut dir = src.to_path_buf();
    let mut file = None;
    for segment in path {
        let folder = dir.join(segment);
        if folder.join("mod.rs").is_file() {
            file = Some(folder.join("mod.rs"));
            dir = folder;
        } else if dir.join(format!("{segment}.rs")).is_file() {
            file = Some(dir.join(format!("{segment}.rs")));
            dir = folder;
        } else {
            break;
        }
    }
    file
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Files (relative to src/) and the files each one imports.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn import_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let shown = |p: &Path| p.strip_prefix(src).unwrap_or(p).display().to_string();
    let mut graph = Graph::new();
    for file in files {
        // main.rs is a crate of its own: `opsh::main`.
        if file == src.join("main.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let imports = crate_paths(&code_only(&text))
            .iter()
            .filter_map(|path| resolve(src, path))
            .filter(|target| *target != file && *target != src.join("lib.rs"))
            .map(|target| shown(&target))
            .collect();
        graph.insert(shown(&file), imports);
    }
    graph
}

fn folder(file: &str) -> String {
    Path::new(file)
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// The groups of nodes that reach each other (Tarjan's strongly connected
/// components), those of more than one node: each is an import cycle.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, node: &'a str) {
            let n = self.index.len();
            self.index.insert(node, n);
            self.low.insert(node, n);
            self.stack.push(node);
            for next in self.graph.get(node).into_iter().flatten() {
                let next = next.as_str();
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.stack.contains(&next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut group = Vec::new();
                while let Some(member) = self.stack.pop() {
                    group.push(member.to_string());
                    if member == node {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.found.push(group);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !walk.index.contains_key(node.as_str()) {
            walk.visit(node);
        }
    }
    walk.found
}

/// Every broken rule of the source under `src`, one line each.
fn problems(src: &Path) -> Vec<String> {
    let files = import_graph(src);
    let mut problems = Vec::new();
    let mut folders = Graph::new();
    for (file, imports) in &files {
        for import in imports {
            let (from, to) = (folder(file), folder(import));
            if !allowed(&from, &to) {
                problems.push(format!(
                    "{file} imports {import}: {from}/ may not import {to}/"
                ));
            }
            if from != to {
                folders.entry(from).or_default().insert(to);
            }
        }
    }
    for cycle in cycles(&files) {
        problems.push(format!("files import each other: {}", cycle.join(", ")));
    }
    for cycle in cycles(&folders) {
        problems.push(format!("folders import each other: {}", cycle.join(", ")));
    }
    problems
}

#[test]
fn the_source_keeps_its_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = problems(&src);
    assert!(
        problems.is_empty(),
        "the import rules of docs/ARCHITECTURE.md are broken:\n  {}",
        problems.join("\n  ")
    );
    // The check sees the imports that are there.
    let graph = import_graph(&src);
    assert!(graph["script/engine.rs"].contains("ssh/mod.rs"));
    assert!(graph["ssh/host.rs"].contains("core/context.rs"));
}

#[test]
fn lower_layers_and_sibling_domains_are_not_imported() {
    assert!(allowed("aws/ec2", "aws"));
    assert!(allowed("aws/ec2", "core"));
    assert!(allowed("ssh", "command"));
    assert!(allowed("script", "aws/s3"));
    assert!(allowed("app", "script"));
    assert!(!allowed("aws", "aws/ec2"));
    assert!(!allowed("aws/s3", "aws/ec2"));
    assert!(!allowed("ssh", "aws/ec2"));
    assert!(!allowed("core", "command"));
    assert!(!allowed("core", "ssh"));
    assert!(!allowed("command", "ssh"));
    assert!(!allowed("script", "app"));
    assert!(!allowed("app", "ssh"));
}

#[test]
fn use_trees_name_each_import_and_text_is_not_code() {
    let code = code_only(
        "use crate::core::{context::Context, options::{self, Options}};\n\
         // crate::app::run in a comment\n\
         let s = \"crate::app::doc\"; let c = '\"'; fn f<'a>() {}\n\
         crate::ssh::host::connect(x); $crate::core::stdout::write(t);",
    );
    let paths: Vec<String> = crate_paths(&code).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        paths,
        [
            "core::context::Context",
            "core::options",
            "core::options::Options",
            "ssh::host::connect",
            "core::stdout::write",
        ]
    );
}

#[test]
fn cycles_are_found_directly_and_around_a_circle() {
    let graph: Graph = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["e"]),
        ("e", vec!["d"]),
        ("f", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(cycles(&graph), [vec!["a", "b", "c"], vec!["d", "e"]]);
}

#[test]
fn a_forbidden_import_and_the_circle_it_closes_are_reported() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let files = [
        ("lib.rs", "mod core;\nmod ssh;\n"),
        ("core/mod.rs", "pub mod output;\n"),
        ("core/output.rs", "use crate::ssh::Host;\n"),
        (
            "ssh/mod.rs",
            "use crate::core::output::Record;\npub struct Host;\n",
        ),
    ];
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("a folder");
        std::fs::write(path, text).expect("a file");
    }
    assert_eq!(
        problems(dir.path()),
        [
            "core/output.rs imports ssh/mod.rs: core/ may not import ssh/",
            "files import each other: core/output.rs, ssh/mod.rs",
            "folders import each other: core, ssh",
        ]
    );
}
