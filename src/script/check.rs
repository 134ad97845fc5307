//! What `opsh check` (and every run, before anything executes) verifies
//! beyond compiling: each called function exists with that many arguments,
//! each options map literal holds only keys the function declares, and the
//! imported files compile and import no cycle.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rhai::{AST, ASTNode, Expr, FnCallExpr, Position, Stmt};

use crate::script::engine::{Session, import_path};
use crate::script::error::{Diagnostic, Error, Location};
use crate::script::stdlib;

/// Rhai keywords that look like function calls.
const KEYWORD_FUNCTIONS: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "Fn",
    "call",
    "curry",
    "is_def_var",
    "is_def_fn",
    "is_shared",
    "exit",
];

/// How many arguments a name can be called with.
#[derive(Debug, Default, Clone)]
struct Arities {
    /// As `name(a, b)`.
    call: BTreeSet<usize>,
    /// As `x.name(a, b)`, `x` not counted.
    method: BTreeSet<usize>,
}

impl Arities {
    fn merge(&mut self, other: &Self) {
        self.call.extend(&other.call);
        self.method.extend(&other.method);
    }

    fn of(&self, method: bool) -> &BTreeSet<usize> {
        if method { &self.method } else { &self.call }
    }
}

/// Function names (`ns::name` for modules) with their arities.
type Known = BTreeMap<String, Arities>;

/// Where a function takes an options map: (name, argument count in
/// `name(a, b)` style, argument index).
type OptionSlot = (String, usize, usize);

/// What the engine provides, read from the same declarations `opsh doc`
/// prints.
struct Catalog {
    functions: Known,
    /// The keys each options parameter declares; overloads that share a
    /// slot (`run` of a Host and of a Group) contribute all their keys.
    options: BTreeMap<OptionSlot, Vec<String>>,
    modules: BTreeSet<String>,
}

impl Catalog {
    fn of(session: &Session) -> Self {
        let mut catalog = Self {
            functions: Known::new(),
            options: BTreeMap::new(),
            modules: BTreeSet::new(),
        };
        let entries = session.engine.collect_fn_metadata(
            None,
            |info| {
                let meta = info.metadata;
                let name = crate::core::api::qualified_name(&info.namespace, &meta.name);
                let options: Vec<(usize, Vec<String>)> = meta
                    .params_info
                    .iter()
                    .take(meta.num_params)
                    .enumerate()
                    .filter_map(|(index, param)| {
                        crate::core::api::declared_options(param)
                            .map(|keys| (index, keys.into_iter().map(str::to_string).collect()))
                    })
                    .collect();
                Some((
                    info.namespace.to_string(),
                    name,
                    meta.num_params,
                    info.script.is_some(),
                    options,
                ))
            },
            true,
        );
        for (namespace, name, params, is_script, options) in entries {
            if !namespace.is_empty() {
                catalog.modules.insert(namespace);
            }
            for (index, keys) in options {
                let known = catalog
                    .options
                    .entry((name.clone(), params, index))
                    .or_default();
                for key in keys {
                    if !known.contains(&key) {
                        known.push(key);
                    }
                }
            }
            catalog
                .functions
                .entry(name)
                .or_default()
                .merge(&arities(params, is_script));
        }
        catalog
    }
}

/// A script function binds the object of a method call to `this`; a
/// native one takes it as its first parameter.
fn arities(params: usize, is_script: bool) -> Arities {
    let method = if is_script {
        Some(params)
    } else {
        params.checked_sub(1)
    };
    Arities {
        call: BTreeSet::from([params]),
        method: method.into_iter().collect(),
    }
}

/// The functions `ast` defines; an importer sees only the public ones.
fn script_functions(ast: &AST, public_only: bool) -> Known {
    let mut known = Known::new();
    for f in ast
        .iter_functions()
        .filter(|f| !public_only || f.access == rhai::FnAccess::Public)
    {
        known
            .entry(f.name.to_string())
            .or_default()
            .merge(&arities(f.params.len(), true));
    }
    known
}

/// One call in a script, with the keys of each map literal among its
/// arguments.
struct Call {
    namespace: String,
    name: String,
    /// Arguments in the parentheses (a method's object not counted).
    args: usize,
    method: bool,
    pos: Position,
    maps: Vec<(usize, Vec<(String, Position)>)>,
}

impl Call {
    fn new(call: &FnCallExpr, pos: Position, method: bool) -> Self {
        let maps = call
            .args
            .iter()
            .enumerate()
            .filter_map(|(index, arg)| match arg {
                Expr::Map(map, _) => Some((
                    index,
                    map.0
                        .iter()
                        .map(|(key, _)| (key.name.to_string(), key.pos))
                        .collect(),
                )),
                _ => None,
            })
            .collect();
        Self {
            namespace: call.namespace.to_string(),
            name: call.name.to_string(),
            args: call.args.len(),
            method,
            pos,
            maps,
        }
    }

    fn shown(&self) -> String {
        if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}::{}", self.namespace, self.name)
        }
    }
}

/// The calls of one file, with the names they resolve against.
struct FileCalls {
    source: String,
    own: Known,
    /// Import aliases and the functions of the module each one names.
    imported: BTreeMap<String, Known>,
    calls: Vec<Call>,
}

struct Walk<'a> {
    session: &'a Session,
    catalog: &'a Catalog,
    out: Vec<Diagnostic>,
    seen: HashSet<String>,
    /// The files being checked, importer before imported: (shown, identity).
    stack: Vec<(String, String)>,
    files: Vec<FileCalls>,
    /// Names that may hold a function in an object map (`#{ get: || .. }`,
    /// `obj.get = ..`, `obj["get"] = ..`): `obj.get()` calls it.
    properties: HashSet<String>,
}

/// Check `ast` (from `source`) and the files it imports, recursively.
pub fn check(session: &Session, source: &str, ast: &AST) -> Result<(), Error> {
    let catalog = Catalog::of(session);
    let mut walk = Walk {
        session,
        catalog: &catalog,
        out: Vec::new(),
        seen: HashSet::new(),
        stack: Vec::new(),
        files: Vec::new(),
        properties: HashSet::new(),
    };
    walk.file(source, identity(source), ast);
    // Calls are resolved once every file is read: a map's functions may be
    // defined in any of them.
    for file in std::mem::take(&mut walk.files) {
        for call in &file.calls {
            walk.call(&file, call);
        }
    }
    if walk.out.is_empty() {
        Ok(())
    } else {
        Err(Error::Check(walk.out))
    }
}

/// What makes two names of a file the same file.
fn identity(shown: &str) -> String {
    std::fs::canonicalize(shown)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| shown.to_string())
}

impl Walk<'_> {
    fn file(&mut self, source: &str, id: String, ast: &AST) {
        if !self.seen.insert(id.clone()) {
            return;
        }
        self.stack.push((source.to_string(), id));
        let mut imports = Vec::new();
        let mut calls = Vec::new();
        let properties = &mut self.properties;
        ast.walk(&mut |path: &[ASTNode]| {
            match path.last() {
                Some(ASTNode::Stmt(Stmt::Import(import, pos))) => {
                    let (path_expr, alias) = &**import;
                    if let Expr::StringConstant(path, _) = path_expr {
                        imports.push((path.to_string(), alias.name.to_string(), *pos));
                    }
                }
                Some(ASTNode::Expr(Expr::FnCall(call, pos))) if call.op_token.is_none() => {
                    calls.push(Call::new(call, *pos, false));
                }
                Some(ASTNode::Expr(Expr::MethodCall(call, pos))) => {
                    calls.push(Call::new(call, *pos, true));
                }
                Some(ASTNode::Expr(Expr::Map(map, _))) => {
                    properties.extend(map.0.iter().map(|(key, _)| key.name.to_string()));
                }
                Some(ASTNode::Expr(Expr::Property(prop, _))) => {
                    properties.insert(prop.2.to_string());
                }
                Some(ASTNode::Expr(Expr::Index(index, ..))) => {
                    if let Expr::StringConstant(key, _) = &index.rhs {
                        properties.insert(key.to_string());
                    }
                }
                _ => {}
            }
            true
        });
        let mut imported = BTreeMap::new();
        for (path, alias, pos) in imports {
            let functions = self.import(source, &path, pos);
            if !alias.is_empty() {
                imported.insert(alias, functions);
            }
        }
        self.files.push(FileCalls {
            source: source.to_string(),
            own: script_functions(ast, false),
            imported,
            calls,
        });
        self.stack.pop();
    }

    /// Check the file `import "path"` names; its functions.
    fn import(&mut self, importer: &str, path: &str, pos: Position) -> Known {
        let location = Location::new(importer, pos);
        let (shown, id, compiled) = match stdlib::find(path) {
            Some(file) => (
                file.source.to_string(),
                format!("stdlib:{}", file.source),
                self.session.compile_text(file.source, file.text),
            ),
            None => match import_path(Some(importer), path) {
                Ok(file) => {
                    let shown = file.display().to_string();
                    let id = identity(&shown);
                    if self.stack.iter().any(|(_, open)| *open == id) {
                        self.cycle(&shown, &id, location);
                        return Known::new();
                    }
                    (shown, id, self.session.compile_file(&file))
                }
                Err(message) => {
                    self.out.push(Diagnostic::new(message, location));
                    return Known::new();
                }
            },
        };
        match compiled {
            Ok(ast) => {
                self.file(&shown, id, &ast);
                script_functions(&ast, true)
            }
            Err(Error::Check(diags)) => {
                self.out.extend(diags);
                Known::new()
            }
            Err(Error::Usage(message)) => {
                self.out.push(Diagnostic::new(
                    format!("import \"{path}\": {message}"),
                    location,
                ));
                Known::new()
            }
            Err(other) => {
                self.out.push(Diagnostic::new(
                    format!(
                        "import \"{path}\": {}",
                        other.render(&Default::default()).trim()
                    ),
                    location,
                ));
                Known::new()
            }
        }
    }

    /// `shown` is being checked already: it imports itself, directly or
    /// through the files in between.
    fn cycle(&mut self, shown: &str, id: &str, location: Option<Location>) {
        let start = self
            .stack
            .iter()
            .position(|(_, open)| open == id)
            .unwrap_or_default();
        let chain: Vec<&str> = self.stack[start..]
            .iter()
            .map(|(name, _)| name.as_str())
            .chain([shown])
            .collect();
        self.out.push(
            Diagnostic::new(format!("import cycle: {}", chain.join(" -> ")), location)
                .with_hint("a module cannot import itself, directly or through another module"),
        );
    }

    fn call(&mut self, file: &FileCalls, call: &Call) {
        let name = &call.name;
        // The compiler already refused a namespace that is no module; one
        // imported from a computed path is not known here.
        let unknown_namespace = !call.namespace.is_empty()
            && !file.imported.contains_key(&call.namespace)
            && !self.catalog.modules.contains(&call.namespace);
        if !name.starts_with(|c: char| c.is_alphabetic() || c == '_')
            || KEYWORD_FUNCTIONS.contains(&name.as_str())
            || unknown_namespace
        {
            return;
        }
        let location = Location::new(&file.source, call.pos);
        let (tables, qualified): (Vec<&Known>, String) = if call.namespace.is_empty() {
            (vec![&self.catalog.functions, &file.own], name.clone())
        } else if let Some(module) = file.imported.get(&call.namespace) {
            (vec![module], name.clone())
        } else {
            (vec![&self.catalog.functions], call.shown())
        };
        let mut found = Arities::default();
        for table in &tables {
            if let Some(arities) = table.get(&qualified) {
                found.merge(arities);
            }
        }
        let fits = found.of(call.method).contains(&call.args)
            || (call.method && self.properties.contains(name));
        if !fits {
            let diag = if found.call.is_empty() && found.method.is_empty() {
                self.unknown(file, call, &tables, &qualified, location)
            } else {
                wrong_count(call, found.of(call.method), location)
            };
            self.out.push(diag);
            return;
        }
        // A script function of the same name takes whatever map it is given.
        let scripted = file
            .own
            .get(&qualified)
            .is_some_and(|own| own.of(call.method).contains(&call.args))
            || file.imported.contains_key(&call.namespace);
        if !scripted {
            self.options(file, call, &qualified);
        }
    }

    fn unknown(
        &self,
        file: &FileCalls,
        call: &Call,
        tables: &[&Known],
        qualified: &str,
        location: Option<Location>,
    ) -> Diagnostic {
        let shown = call.shown();
        let namespace = &call.namespace;
        let names = || tables.iter().flat_map(|t| t.keys());
        if namespace.is_empty() {
            let diag = Diagnostic::new(format!("unknown function `{shown}`"), location);
            return match closest(qualified, names()) {
                Some(best) => diag.with_hint(format!("did you mean `{best}`?")),
                None => diag,
            };
        }
        let is_import = file.imported.contains_key(namespace);
        let diag = Diagnostic::new(
            format!(
                "unknown function `{shown}`: the module `{namespace}` has no function `{}`",
                call.name
            ),
            location,
        );
        if let Some(best) = closest(qualified, names()) {
            let best = if is_import {
                format!("{namespace}::{best}")
            } else {
                best.clone()
            };
            return diag.with_hint(format!("did you mean `{best}`?"));
        }
        let prefix = format!("{namespace}::");
        let members: Vec<String> = names()
            .filter_map(|n| {
                if is_import {
                    Some(format!("{prefix}{n}"))
                } else {
                    n.starts_with(&prefix).then(|| n.clone())
                }
            })
            .collect();
        let nearest = nearest(qualified, &members, 3);
        if nearest.is_empty() {
            return diag.with_hint(format!("the module `{namespace}` has no functions"));
        }
        let more = if is_import {
            String::new()
        } else {
            format!("; `opsh doc {prefix}` lists them all")
        };
        diag.with_hint(format!(
            "its nearest names: {}{more}",
            nearest
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }

    /// Each key of a map literal given for an options parameter must be
    /// one the function declares.
    fn options(&mut self, file: &FileCalls, call: &Call, qualified: &str) {
        let offset = usize::from(call.method);
        for (index, keys) in &call.maps {
            let slot = (qualified.to_string(), call.args + offset, index + offset);
            let Some(allowed) = self.catalog.options.get(&slot) else {
                continue;
            };
            for (key, pos) in keys {
                if allowed.contains(key) {
                    continue;
                }
                let expected: Vec<&str> = allowed.iter().map(String::as_str).collect();
                let mut diag = Diagnostic::new(
                    format!(
                        "{}: unknown option `{key}`; expected one of: {}",
                        call.shown(),
                        expected.join(", ")
                    ),
                    Location::new(&file.source, *pos),
                );
                if let Some(best) = closest(key, allowed.iter()) {
                    diag = diag.with_hint(format!("did you mean `{best}`?"));
                }
                self.out.push(diag);
            }
        }
    }
}

fn wrong_count(call: &Call, counts: &BTreeSet<usize>, location: Option<Location>) -> Diagnostic {
    let shown = call.shown();
    let counts = counts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" or ");
    Diagnostic::new(
        format!("`{shown}` takes {counts} argument(s), not {}", call.args),
        location,
    )
    .with_hint(format!("see `opsh doc {shown}`"))
}

/// The most similar known name, if one is close enough to be a typo.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    candidates
        .map(|c| (strsim::normalized_damerau_levenshtein(name, c), c))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Up to `count` names most similar to `name`, most similar first.
fn nearest<'a>(name: &str, candidates: &'a [String], count: usize) -> Vec<&'a String> {
    let mut scored: Vec<(f64, &String)> = candidates
        .iter()
        .map(|c| (strsim::normalized_damerau_levenshtein(name, c), c))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().take(count).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_count_arguments_as_rhai_calls_them() {
        let native = arities(3, false);
        assert_eq!(native.call, BTreeSet::from([3]));
        assert_eq!(native.method, BTreeSet::from([2]));
        let script = arities(2, true);
        assert_eq!(script.method, BTreeSet::from([2]));
        assert!(arities(0, false).method.is_empty());
    }

    #[test]
    fn nearest_names_come_most_similar_first() {
        let names = ["ssh::group", "ssh::connect", "ssh::other"].map(String::from);
        let found = nearest("ssh::grop", &names, 2);
        assert_eq!(found[0], "ssh::group");
        assert_eq!(found.len(), 2);
    }
}
