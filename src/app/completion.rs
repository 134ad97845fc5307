//! Tab completion for the REPL: functions (global and `module::`), methods
//! and fields after a dot on a variable of a known type, variables in
//! scope, and `:commands`.

use std::any::TypeId;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use rustyline::Helper;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;

use crate::script::engine::Session;

pub const META_COMMANDS: &[&str] = &[":help", ":doc", ":load", ":vars", ":clear", ":quit"];

/// Variables in the REPL's scope with the type of their value, refreshed
/// after every statement.
pub type ScopeView = Arc<Mutex<Vec<(String, TypeId)>>>;

pub struct ReplHelper {
    functions: BTreeSet<String>,
    /// Method and field names by the type of the value they apply to.
    members: BTreeMap<TypeId, BTreeSet<String>>,
    scope: ScopeView,
    /// Functions the session defined, added as they appear.
    script_functions: Arc<Mutex<BTreeSet<String>>>,
}

impl ReplHelper {
    pub fn new(
        session: &Session,
        scope: ScopeView,
        script_functions: Arc<Mutex<BTreeSet<String>>>,
    ) -> Self {
        let entries = session.engine.collect_fn_metadata(
            None,
            |info| {
                let meta = info.metadata;
                let name = crate::core::api::qualified_name(&info.namespace, &meta.name);
                Some((name, meta.param_types.first().copied()))
            },
            true,
        );
        let mut functions = BTreeSet::new();
        let mut members: BTreeMap<TypeId, BTreeSet<String>> = BTreeMap::new();
        for (name, first_param) in entries {
            if let Some(field) = name.strip_prefix("get$") {
                if let Some(ty) = first_param {
                    members.entry(ty).or_default().insert(field.to_string());
                }
                continue;
            }
            if !name.starts_with(|c: char| c.is_alphabetic() || c == '_') || name.contains('$') {
                continue;
            }
            if let Some(ty) = first_param.filter(|_| !name.contains("::")) {
                members.entry(ty).or_default().insert(format!("{name}("));
            }
            functions.insert(name);
        }
        Self {
            functions,
            members,
            scope,
            script_functions,
        }
    }

    fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        if before.trim_start().starts_with(':') && !before.contains(' ') {
            let start = before.len() - before.trim_start().len();
            let word = before.trim_start();
            return (
                start,
                META_COMMANDS
                    .iter()
                    .filter(|c| c.starts_with(word))
                    .map(|c| c.to_string())
                    .collect(),
            );
        }
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map_or(0, |i| i + 1);
        let word = &before[start..];
        if start > 0 && before[..start].ends_with('.') {
            let receiver_end = start - 1;
            let receiver_start = before[..receiver_end]
                .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map_or(0, |i| i + 1);
            let receiver = &before[receiver_start..receiver_end];
            let scope = self.scope.lock().unwrap_or_else(|p| p.into_inner());
            let members = scope
                .iter()
                .find(|(name, _)| name == receiver)
                .and_then(|(_, ty)| self.members.get(ty));
            let found = members
                .map(|m| m.iter().filter(|n| n.starts_with(word)).cloned().collect())
                .unwrap_or_default();
            return (start, found);
        }
        let mut found: BTreeSet<String> = self
            .functions
            .iter()
            .filter(|f| f.starts_with(word))
            .map(|f| format!("{f}("))
            .collect();
        let scripted = self
            .script_functions
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        found.extend(
            scripted
                .iter()
                .filter(|f| f.starts_with(word))
                .map(|f| format!("{f}(")),
        );
        let scope = self.scope.lock().unwrap_or_else(|p| p.into_inner());
        found.extend(
            scope
                .iter()
                .map(|(n, _)| n.clone())
                .filter(|n| n.starts_with(word)),
        );
        (start, found.into_iter().collect())
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, names) = self.candidates(line, pos);
        Ok((
            start,
            names
                .into_iter()
                .map(|n| Pair {
                    display: n.clone(),
                    replacement: n,
                })
                .collect(),
        ))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}
impl Highlighter for ReplHelper {}
impl Validator for ReplHelper {}
impl Helper for ReplHelper {}
