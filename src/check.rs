//! What `opsh check` (and every run, before anything executes) verifies
//! beyond compiling: each called function exists with that many arguments,
//! and every imported file compiles.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rhai::{AST, ASTNode, Expr, Stmt};

use crate::engine::{Session, import_path};
use crate::error::{Diagnostic, Error, Location};
use crate::stdlib;

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

/// Function names with the argument counts they accept.
type Known = BTreeMap<String, BTreeSet<usize>>;

/// Every function the engine provides, `ns::name` for modules.
pub fn known_functions(session: &Session) -> Known {
    let mut known = Known::new();
    for (name, arity) in session.engine.collect_fn_metadata(
        None,
        |info| {
            let name = if info.namespace.is_empty() {
                info.metadata.name.to_string()
            } else {
                format!("{}::{}", info.namespace, info.metadata.name)
            };
            Some((name, info.metadata.num_params))
        },
        true,
    ) {
        known.entry(name).or_default().insert(arity);
    }
    known
}

fn script_functions(ast: &AST) -> Known {
    let mut known = Known::new();
    for f in ast.iter_functions() {
        known
            .entry(f.name.to_string())
            .or_default()
            .insert(f.params.len());
    }
    known
}

/// Check `ast` (from `source`) and the files it imports, recursively.
pub fn check(session: &Session, source: &str, ast: &AST) -> Result<(), Error> {
    let known = known_functions(session);
    let mut diagnostics = Vec::new();
    let mut seen = HashSet::new();
    check_ast(session, &known, source, ast, &mut diagnostics, &mut seen);
    if diagnostics.is_empty() {
        Ok(())
    } else {
        Err(Error::Check(diagnostics))
    }
}

fn check_ast(
    session: &Session,
    engine_fns: &Known,
    source: &str,
    ast: &AST,
    out: &mut Vec<Diagnostic>,
    seen: &mut HashSet<String>,
) {
    if !seen.insert(source.to_string()) {
        return;
    }
    let own = script_functions(ast);
    // Import aliases and the functions of the module each one names.
    let mut modules: BTreeMap<String, Known> = BTreeMap::new();
    let mut calls = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::Import(import, pos))) => {
                let (path_expr, alias) = &**import;
                if let Expr::StringConstant(path, _) = path_expr {
                    let functions = load_import(session, engine_fns, source, path, *pos, out, seen);
                    if !alias.name.is_empty() {
                        modules.insert(alias.name.to_string(), functions);
                    }
                }
            }
            Some(ASTNode::Expr(Expr::FnCall(call, pos))) if call.op_token.is_none() => {
                calls.push((
                    call.namespace.to_string(),
                    call.name.to_string(),
                    call.args.len(),
                    *pos,
                    false,
                ));
            }
            Some(ASTNode::Expr(Expr::MethodCall(call, pos))) => {
                calls.push((
                    String::new(),
                    call.name.to_string(),
                    call.args.len() + 1,
                    *pos,
                    true,
                ));
            }
            _ => {}
        }
        true
    });
    for (namespace, name, arity, pos, is_method) in calls {
        if !name.starts_with(|c: char| c.is_alphabetic() || c == '_')
            || KEYWORD_FUNCTIONS.contains(&name.as_str())
        {
            continue;
        }
        let (table, qualified): (Vec<&Known>, String) = if namespace.is_empty() {
            (vec![engine_fns, &own], name.clone())
        } else if namespace == "global" {
            continue;
        } else if let Some(module) = modules.get(&namespace) {
            (vec![module], name.clone())
        } else {
            (vec![engine_fns], format!("{namespace}::{name}"))
        };
        let arities: BTreeSet<usize> = table
            .iter()
            .filter_map(|t| t.get(&qualified))
            .flatten()
            .copied()
            .collect();
        if arities.contains(&arity) {
            continue;
        }
        let shown = if namespace.is_empty() {
            name.clone()
        } else {
            format!("{namespace}::{name}")
        };
        let location = Location::new(source, pos);
        let diag = if arities.is_empty() {
            let candidates = table.iter().flat_map(|t| t.keys());
            let mut diag = Diagnostic::new(format!("unknown function `{shown}`"), location);
            if let Some(best) = closest(&qualified, candidates) {
                diag = diag.with_hint(format!("did you mean `{best}`?"));
            } else if !namespace.is_empty() && !modules.contains_key(&namespace) {
                diag = diag.with_hint(format!(
                    "`{namespace}` is not a module: see `opsh doc` for the modules there are"
                ));
            }
            diag
        } else {
            let (given, counts) = if is_method {
                (
                    arity - 1,
                    arities
                        .iter()
                        .map(|a| a.saturating_sub(1))
                        .collect::<Vec<_>>(),
                )
            } else {
                (arity, arities.iter().copied().collect())
            };
            let counts = counts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" or ");
            Diagnostic::new(
                format!("`{shown}` takes {counts} argument(s), not {given}"),
                location,
            )
            .with_hint(format!("see `opsh doc {shown}`"))
        };
        out.push(diag);
    }
}

fn load_import(
    session: &Session,
    engine_fns: &Known,
    importer: &str,
    path: &str,
    pos: rhai::Position,
    out: &mut Vec<Diagnostic>,
    seen: &mut HashSet<String>,
) -> Known {
    let location = Location::new(importer, pos);
    let ast = match stdlib::find(path) {
        Some(file) => session
            .compile_text(file.source, file.text)
            .map(|ast| (file.source.to_string(), ast)),
        None => match import_path(Some(importer), path) {
            Ok(file) => session
                .compile_file(&file)
                .map(|ast| (file.display().to_string(), ast)),
            Err(message) => {
                out.push(Diagnostic::new(message, location));
                return Known::new();
            }
        },
    };
    match ast {
        Ok((name, ast)) => {
            check_ast(session, engine_fns, &name, &ast, out, seen);
            script_functions(&ast)
        }
        Err(Error::Check(diags)) => {
            out.extend(diags);
            Known::new()
        }
        Err(other) => {
            out.push(Diagnostic::new(
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

/// The most similar known name, if one is close enough to be a typo.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    candidates
        .map(|c| (strsim::normalized_damerau_levenshtein(name, c), c))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
